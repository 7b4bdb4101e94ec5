"""Derived facts of a lab: names, URLs, timings, backends and paths every other module agrees on.

A `Plan` is computed from a valid `Topology` (pure). Templates, provisioning and verification read
the plan rather than recomputing things like etcd's `initial-cluster` or the LB's backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from halab.config import layout, versions
from halab.config.topology import Topology, nth_ip

# How fast a lab's hosts run: "kvm" and "tcg" are VMs with and without hardware virtualisation,
# "native" is system containers on the host's own kernel (the container provider).
Accel = Literal["kvm", "tcg", "native"]
ProviderName = Literal["vm", "container"]

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
APISERVER_PORT = 6443

# etcd's own defaults suit KVM. Under TCG emulation a VM can stall for hundreds of milliseconds,
# so idle clusters flap with 100/1000 ms; 5x slower timings keep one leader.
# Containers run at native speed, so they get the KVM timings (docs/containers.md measures it).
ETCD_TIMINGS: dict[Accel, tuple[int, int]] = {"kvm": (100, 1000), "tcg": (500, 5000),
                                              "native": (100, 1000)}
# Leader election of kube-controller-manager and kube-scheduler: lease duration, renew deadline,
# retry period (s). Kubernetes' defaults suit KVM. Under TCG on a small host a lease renewal
# through the LB can take over 10 s, and the holders lost their leases every few minutes; the
# longer timings keep one holder, at the price of a slower takeover when a master dies.
LEASE_TIMINGS: dict[Accel, tuple[int, int, int]] = {"kvm": (15, 10, 2), "tcg": (60, 40, 8),
                                                     "native": (15, 10, 2)}


@dataclass(frozen=True)
class HostPlan:
    name: str
    role: str
    ip: str
    zone: str | None
    memory: int
    cpus: int
    domain: str  # the machine's name on this host (libvirt domain or container): machine_name()


@dataclass(frozen=True)
class EtcdPlan:
    tls: bool
    scheme: str
    heartbeat_ms: int
    election_timeout_ms: int
    token: str
    members: tuple[HostPlan, ...]
    initial_cluster: str
    member_client_urls: tuple[str, ...]
    client_url: str  # what clients outside the masters use: the LB, or the only master
    # Members added to a running cluster (`halab add-master`, `replace`): they start with
    # initial-cluster-state "existing"; the members that bootstrapped it say "new".
    joining: tuple[str, ...] = ()


@dataclass(frozen=True)
class KubePlan:
    version: str
    service_cidr: str
    first_service_ip: str
    dns_service_ip: str
    pod_cidr: str
    flannel_backend: str
    flannel_prefix: str
    cluster_domain: str
    api_url: str  # through the LB (or the only master)
    # What the minions' kubelet and kube-proxy use: api_url, or with lb.mode per-node their own
    # proxy on loopback; and what the masters' controller-manager, scheduler and admin kubectl
    # use: api_url, or with per-node their own apiserver (they die with it anyway).
    node_api_url: str
    master_api_url: str
    # Node components authenticate with bearer tokens (--token-auth-file) instead of client
    # certificates: with per-node Pound, which terminates TLS, certificates cannot pass.
    node_tokens: bool
    # kube-apiserver's --etcd-servers: its own master's member over loopback ("local"), or
    # every member ("all"); see Kubernetes.etcd_servers.
    etcd_servers: tuple[str, ...]
    etcd_servers_mode: str
    apiserver_sans_ip: tuple[str, ...]
    apiserver_sans_dns: tuple[str, ...]
    # Leader election (LEASE_TIMINGS), rendered into both components' configs and used by the
    # failover scenario to judge the new lease holder.
    lease_duration_s: int = 15
    renew_deadline_s: int = 10
    retry_period_s: int = 2


@dataclass(frozen=True)
class ClusterPlan:
    """The lab's hosts run on an Incus cluster (Topology.incus): the remote that reaches it, and
    each zone's member."""

    remote: str
    zones: tuple[tuple[str, str], ...] = ()
    interface: str | None = None


@dataclass(frozen=True)
class Plan:
    lab: str
    description: str
    box: str
    accel: Accel
    subnet: str
    netmask: str
    management_subnet: str
    domain_prefix: str
    network_name: str
    management_network_name: str
    hosts: tuple[HostPlan, ...]
    lb_kind: str
    etcd: EtcdPlan
    kube: KubePlan | None
    # The address the LB hosts share with keepalived (None: one LB, clients use its own IP).
    vip: str | None = None
    # What runs the hosts: VMs (Vagrant + libvirt) or system containers (Incus).
    provider: ProviderName = "vm"
    # "central" or "per-node" (Topology.lb.mode): with per-node every minion runs lb_kind on
    # loopback in front of the apiservers.
    lb_mode: str = "central"
    # A lab brought up before names were joined with "--" keeps its old names (State.naming).
    legacy_names: bool = False
    # Where the containers run: None for this machine's own incusd, else an Incus cluster.
    cluster: ClusterPlan | None = None

    @property
    def node_proxies(self) -> tuple[HostPlan, ...]:
        """The hosts that run an API proxy of their own (lb.mode per-node): the minions."""
        return self.minions if self.lb_mode == "per-node" and self.kube else ()

    @property
    def containers(self) -> bool:
        return self.provider == "container"

    @property
    def nic(self) -> str:
        """The hosts' NIC on the lab network: a VM's second NIC (eth0 is Vagrant's management
        network), or a container's only NIC, which halab's Incus profile names host0."""
        return layout.CONTAINER_NIC if self.containers else layout.PRIVATE_NIC

    def role(self, role: str) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.role == role)

    @property
    def masters(self) -> tuple[HostPlan, ...]:
        return self.role("master")

    @property
    def minions(self) -> tuple[HostPlan, ...]:
        return self.role("minion")

    @property
    def lbs(self) -> tuple[HostPlan, ...]:
        return self.role("lb")

    @property
    def lb(self) -> HostPlan | None:
        """The first LB host (with a VIP pair, the one keepalived prefers)."""
        lbs = self.lbs
        return lbs[0] if lbs else None

    @property
    def prefixlen(self) -> int:
        return IPv4Network(self.subnet).prefixlen

    def host(self, name: str) -> HostPlan | None:
        return next((h for h in self.hosts if h.name == name), None)

    @property
    def box_name(self) -> str:
        return f"halab/{self.box}"


def _front(topo: Topology) -> str:
    """The address clients use: the LBs' VIP, the load balancer, else the single master."""
    if topo.lb.vip is not None:
        return str(topo.lb.vip)
    lbs = topo.by_role("lb")
    return str(lbs[0].ip) if lbs else str(topo.by_role("master")[0].ip)


def lb_addresses(topo: Topology) -> list[str]:
    """Every address a client may reach the LBs on (their IPs and the VIP): certificate SANs."""
    return [str(h.ip) for h in topo.by_role("lb")] + ([str(topo.lb.vip)] if topo.lb.vip else [])


# Joins the lab's name and a host's in machine names. Neither name may hold it (topology.py), and
# neither ends nor starts with "-", so the first "--" of a name is this one: one reading only.
NAME_SEP = "--"


def machine_prefix(lab: str, legacy: bool = False) -> str:
    """What every machine name of the lab starts with. `legacy`: the old "halab-<lab>-", under
    which lab aa's host bb-m1 and lab aa-bb's host m1 were both halab-aa-bb-m1."""
    return f"halab-{lab}{'-' if legacy else NAME_SEP}"


def machine_name(lab: str, host: str, legacy: bool = False) -> str:
    """The container's or VM's name on this host: halab-<lab>--<host>, at most 63 characters
    (6 + 24 + 2 + 31), the longest Incus instance name (a host name)."""
    return machine_prefix(lab, legacy) + host


def build(topo: Topology, accel: Accel = "tcg", joining: tuple[str, ...] = (),
          provider: ProviderName = "vm", legacy_names: bool = False,
          remote: str | None = None) -> Plan:
    """The lab's plan; `remote` (default: the topology's `incus.remote`) puts its hosts on an
    Incus cluster."""
    prefix = machine_prefix(topo.name, legacy_names)
    hosts = tuple(
        HostPlan(
            name=h.name, role=h.role, ip=str(h.ip), zone=h.zone,
            memory=h.memory or topo.defaults.memory, cpus=h.cpus or topo.defaults.cpus,
            domain=f"{prefix}{h.name}",
        )
        for h in topo.hosts
    )
    masters = tuple(h for h in hosts if h.role == "master")
    front = _front(topo)

    scheme = "https" if topo.etcd.tls else "http"
    heartbeat, election = ETCD_TIMINGS[accel]
    if topo.etcd.heartbeat_ms is not None and topo.etcd.election_timeout_ms is not None:
        heartbeat, election = topo.etcd.heartbeat_ms, topo.etcd.election_timeout_ms
    etcd = EtcdPlan(
        tls=topo.etcd.tls, scheme=scheme, heartbeat_ms=heartbeat, election_timeout_ms=election,
        token=f"halab-{topo.name}",
        members=masters,
        initial_cluster=",".join(f"{m.name}={scheme}://{m.ip}:{ETCD_PEER_PORT}" for m in masters),
        member_client_urls=tuple(f"{scheme}://{m.ip}:{ETCD_CLIENT_PORT}" for m in masters),
        client_url=f"{scheme}://{front}:{ETCD_CLIENT_PORT}",
        joining=tuple(m.name for m in masters if m.name in joining),
    )

    kube = None
    k = topo.kubernetes
    if k.enabled:
        svc: IPv4Network = k.service_cidr
        first_svc = str(nth_ip(svc, 1))
        lb_ips = lb_addresses(topo)
        lease, renew, retry = LEASE_TIMINGS[accel]
        api_url = f"https://{front}:{APISERVER_PORT}"
        per_node = topo.lb.mode == "per-node"
        local = f"https://127.0.0.1:{APISERVER_PORT}"
        kube = KubePlan(
            version=(k.version or versions.KUBERNETES_VERSION).lstrip("v"),
            service_cidr=str(svc), first_service_ip=first_svc,
            dns_service_ip=str(nth_ip(svc, 10)),
            pod_cidr=str(k.pod_cidr), flannel_backend=k.flannel_backend,
            flannel_prefix=layout.FLANNEL_ETCD_PREFIX, cluster_domain=k.cluster_domain,
            api_url=api_url, node_api_url=local if per_node else api_url,
            master_api_url=local if per_node else api_url,
            node_tokens=per_node and topo.lb.kind == "pound",
            etcd_servers=((f"{scheme}://127.0.0.1:{ETCD_CLIENT_PORT}",)
                          if k.etcd_servers == "local" else etcd.member_client_urls),
            etcd_servers_mode=k.etcd_servers,
            apiserver_sans_ip=tuple(dict.fromkeys(
                [m.ip for m in masters] + lb_ips + [first_svc, "127.0.0.1"])),
            apiserver_sans_dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                f"kubernetes.default.svc.{k.cluster_domain}", "localhost"),
            lease_duration_s=lease, renew_deadline_s=renew, retry_period_s=retry,
        )

    subnet = topo.network.subnet
    return Plan(
        lab=topo.name, description=topo.description, box=topo.box, accel=accel,
        subnet=str(subnet), netmask=str(subnet.netmask),
        management_subnet=str(topo.network.management),
        domain_prefix=prefix, network_name=f"halab-{topo.name}",
        management_network_name=f"{prefix}mgmt",
        hosts=hosts, lb_kind=topo.lb.kind, etcd=etcd, kube=kube,
        vip=str(topo.lb.vip) if topo.lb.vip else None, provider=provider, lb_mode=topo.lb.mode,
        legacy_names=legacy_names,
        cluster=_cluster(topo, remote),
    )


def _cluster(topo: Topology, remote: str | None) -> ClusterPlan | None:
    remote = remote or (topo.incus.remote if topo.incus else None)
    if remote is None:
        return None
    if topo.incus is None:
        return ClusterPlan(remote)
    return ClusterPlan(remote, tuple(sorted(topo.incus.zones.items())), topo.incus.interface)


def gateway(plan: Plan) -> IPv4Address:
    """The host side of the lab's private network (libvirt's bridge takes the first address)."""
    return next(IPv4Network(plan.subnet).hosts())
