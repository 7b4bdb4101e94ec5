"""Can this host run the lab? Pure checks over facts the providers gather (RAM, disk, subnets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network

from halab.config.plan import Plan

# What a VM costs beyond its memory: qemu itself, page tables, TCG's translation cache.
VM_OVERHEAD_MIB = 200
DISK_PER_VM_GIB = 2.0
# A container reserves no memory: it uses what its processes use (bench/lab_up measured about
# 50 MiB per etcd-only host); its disk is a copy-on-write layer of a few MB.
CONTAINER_MIB = 256
DISK_PER_CONTAINER_GIB = 0.2
# Under emulation the kube control plane is CPU-bound: on a 2-core host three masters alone kept
# both cores busy (198 % with the minions off), and etcd then spent most of its time in TLS
# handshakes of clients that had timed out, a spiral that lost quorum. Twice the cores leave room.
KUBE_TCG_MIN_CORES = 4


@dataclass(frozen=True)
class HostFacts:
    mem_available_mib: int
    disk_free_gib: float
    routes: list[tuple[str, IPv4Network]]  # (device, subnet routed there)
    libvirt_networks: dict[str, tuple[IPv4Network, str]]  # network name -> (subnet, bridge)
    cores: int = 0  # 0: not known
    # (device, address with its prefix): an address needs no route of its own to be taken
    # (a /32 on a tunnel, loopback's 127.0.0.1/8 lives in the local table only).
    addresses: list[tuple[str, IPv4Interface]] = field(default_factory=list)


def needed_mib(plan: Plan, running: set[str]) -> int:
    per_host = (lambda h: CONTAINER_MIB) if plan.containers else \
        (lambda h: h.memory + VM_OVERHEAD_MIB)
    return sum(per_host(h) for h in plan.hosts if h.name not in running)


def problems(plan: Plan, facts: HostFacts, running: set[str]) -> list[str]:
    """Every reason the lab cannot come up here, each saying what to do about it. A lab on an
    Incus cluster takes its memory and disk on the members (placement judges the memory)."""
    out = []
    need = needed_mib(plan, running)
    here = plan.cluster is None
    if here and need > facts.mem_available_mib:
        out.append(f"the lab needs {need} MiB of RAM for its hosts but {facts.mem_available_mib} "
                   "MiB are available: lower `memory` in the topology or stop another lab")
    missing_vms = len([h for h in plan.hosts if h.name not in running])
    disk = missing_vms * (DISK_PER_CONTAINER_GIB if plan.containers else DISK_PER_VM_GIB)
    if here and disk > facts.disk_free_gib:
        out.append(f"the lab needs about {disk:.0f} GiB free for its hosts' disks but "
                   f"{facts.disk_free_gib:.1f} GiB are free in /var/lib/libvirt/images")
    ranges = {"network.subnet": IPv4Network(plan.subnet),
              "network.management": IPv4Network(plan.management_subnet)}
    ours = {plan.network_name, plan.management_network_name}
    out += [f"{label} {why}" for label, why in subnet_collisions(ranges, ours, facts)]
    return out


def subnet_collisions(ranges: dict[str, IPv4Network], ours: set[str],
                      facts: HostFacts) -> list[tuple[str, str]]:
    """(field, why) for each of the lab's ranges that overlaps a network of another lab, or a
    route or address of this host. The lab's own networks (`ours`, by name) and what lies on
    their bridges are its own: `up` of a lab that is up must still pass."""
    out = []
    bridges = {bridge for _, bridge in facts.libvirt_networks.values()}
    for label, mine in ranges.items():
        for name, (other, _) in facts.libvirt_networks.items():
            if name not in ours and mine.overlaps(other):
                out.append((label, f"{mine} collides with network {name!r} ({other}) here: pick "
                                   "another subnet in the topology, or `halab down` that lab"))
        # What lies on the labs' bridges is the networks checked just above.
        routed = [(dev, other) for dev, other in facts.routes
                  if dev not in bridges and mine.overlaps(other)]
        for dev, other in routed:
            out.append((label, f"{mine} collides with this host's route to {other} on {dev}: "
                               "pick another subnet in the topology"))
        for dev, addr in facts.addresses:
            if dev not in bridges and mine.overlaps(addr.network) and not any(
                    d == dev and addr.ip in other for d, other in routed):
                out.append((label, f"{mine} collides with this host's address {addr} on {dev}: "
                                   "pick another subnet in the topology"))
    return out


def fits_two_emulated_cores(plan: Plan) -> bool:
    """The kube lab measured to fit 2 cores under emulation: one master, at most one minion
    (labs/vm-kube.yaml passed every kube check; the seed lab's three masters did not)."""
    return len(plan.masters) == 1 and len(plan.minions) <= 1


def kube_capacity(plan: Plan, accel: str, cores: int) -> str | None:
    """Why the kube tier will likely time out on this host, or None. Only a warning: the etcd
    and LB tiers fit, and a faster host of the same size may cope."""
    if plan.kube is None or accel != "tcg" or not cores or cores >= KUBE_TCG_MIN_CORES:
        return None
    if fits_two_emulated_cores(plan) and cores >= 2:
        return None
    return (f"the kube tier under software emulation wants {KUBE_TCG_MIN_CORES}+ cores and this "
            f"host has {cores}: its {len(plan.masters)} masters can keep them all busy, and etcd "
            "and kube-apiserver then time out (measured on a 2-core host, seed lab with "
            "etcd_servers local: the idle masters used 129 % of one core and etcdctl timed out)")


def kube_needs(plan: Plan, accel: str) -> str:
    """What is known of the kube tier's needs on this kind of host, said as measured or not."""
    asked = (f"its VMs ask {sum(h.cpus for h in plan.hosts)} vCPUs and "
             f"{sum(h.memory for h in plan.hosts)} MiB")
    if accel == "kvm":
        return (f"under KVM what a kube lab needs is not measured (no host of this project has "
                f"working KVM); {asked}")
    if fits_two_emulated_cores(plan):
        return (f"{asked}; measured under emulation on 2 cores: labs/vm-kube.yaml (1 master, "
                "1 minion) passed every kube check")
    return asked


KUBE_CAPACITY_FIX = ("a host with KVM or more cores, the 2-host kube lab labs/vm-kube.yaml, "
                     "or a lab without the kube tier (labs/etcd-only.yaml)")
