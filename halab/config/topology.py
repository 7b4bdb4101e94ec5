"""The topology file: typed model, YAML loading, and validation with file:line:field errors.

Everything here is pure. `load()` checks the whole file and raises one `TopologyError` listing every
problem before anything is written or created, so a bad file never leaves half a lab behind.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from halab.errors import HalabError

Role = Literal["lb", "master", "minion"]
LBKind = Literal["nginx", "pound", "haproxy"]
FlannelBackend = Literal["vxlan", "host-gw"]

# A lab name becomes part of libvirt domain, network and volume names: keep it DNS-label safe and
# short enough that "halab-<lab>--<host>" fits the 63 characters of an Incus instance name (a
# host name): 6 + 24 + 2 + 31.
# No "--" in either: it joins them in machine names (plan.machine_name), which then have one
# reading, so no two (lab, host) pairs share a container or VM.
LAB_NAME_RE = re.compile(r"^(?!.*--)[a-z][a-z0-9-]{0,22}[a-z0-9]$")
HOST_NAME_RE = re.compile(r"^(?!.*--)[a-z][a-z0-9-]{0,29}[a-z0-9]$")
REMOTE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
ZONE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
VERSION_RE = re.compile(r"^v?\d+\.\d+\.\d+$")
# cluster_domain goes into kubelet's YAML and the apiserver's certificate: a DNS name, no more.
DOMAIN_RE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
                       r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# box names a recipe (boxes/<box>.yaml), a directory and a Ruby string: a plain name, no more.
BOX_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
# Every pattern above is applied with fullmatch: `match` lets "master1\n" through its `$`.

# The lab's networks become bridges and routes on this host: a public range would take this
# host's way to real addresses. network.public_subnet_reason allows one, saying why.
PRIVATE_RANGES = tuple(IPv4Network(n) for n in
                       ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
# Deep enough for any topology (hosts[0].name is 3 levels), shallow enough for PyYAML's recursion.
MAX_DEPTH = 20

TWO_MASTERS_REASON = (
    "exactly 2 masters is refused: etcd needs a majority, so with two replicas losing either one "
    "loses quorum — two masters are worse for availability than one. Use 1 master, or 3 (or 5)."
)


def _as_text(value: Any) -> Any:
    """YAML gives an address as text. A number or a boolean (`ip: 3232246549`, `subnet: true`)
    is a slip that ipaddress would read as some address (true is 0.0.0.1)."""
    if isinstance(value, bool | int | float):
        raise PydanticCustomError("address_as_text", "write addresses as text, e.g. "
                                  "192.168.33.21, or 192.168.33.0/24 for a network")
    return value


Net = Annotated[IPv4Network, BeforeValidator(_as_text)]
Addr = Annotated[IPv4Address, BeforeValidator(_as_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Network(_Model):
    subnet: Net = Field(description="private lab network; every host ip lives in it")
    management: Net = Field(
        default=IPv4Network("192.168.121.0/24"),
        description="Vagrant's management network (DHCP, NAT); one per lab, must not overlap",
    )
    public_subnet_reason: str | None = Field(
        default=None, description="why subnet or management may be outside the private ranges")


class Defaults(_Model):
    memory: StrictInt = Field(default=1024, ge=256, le=65536, description="MiB per host")
    cpus: StrictInt = Field(default=1, ge=1, le=16)


class LoadBalancer(_Model):
    kind: LBKind = "nginx"
    # "central": the LB hosts front the apiservers for everyone (seed 002). "per-node": every
    # minion also runs `kind` on 127.0.0.1 in front of every apiserver and its kubelet and
    # kube-proxy use it, so no LB host is on the nodes' path (seed 001; kubespray's
    # loadbalancer_apiserver_localhost). Masters' own components use their own apiserver.
    mode: Literal["central", "per-node"] = "central"
    # Two or more LB hosts share `vip` with keepalived (VRRP); clients and kubeconfigs use it.
    vip: Addr | None = None
    replicas: StrictInt | None = Field(default=None, ge=1, le=4)


class Etcd(_Model):
    tls: StrictBool = True
    # Two members tolerate no failure, so 2 masters are refused unless this says it is on
    # purpose (`halab remove-master --force` sets it, e.g. half-way through a replacement).
    accept_two_members: StrictBool = False
    # None means "pick for the accelerator": etcd's defaults under KVM, slower under TCG emulation.
    heartbeat_ms: StrictInt | None = Field(default=None, ge=10, le=5000)
    election_timeout_ms: StrictInt | None = Field(default=None, ge=50, le=50000)


class Kubernetes(_Model):
    enabled: StrictBool = True
    version: str | None = None
    service_cidr: Net = IPv4Network("10.32.0.0/24")
    pod_cidr: Net = IPv4Network("10.200.0.0/16")
    flannel_backend: FlannelBackend = "vxlan"
    cluster_domain: str = "cluster.local"
    # Where each kube-apiserver finds etcd: "local", the member on its own master over loopback
    # (kubeadm's stacked etcd: a third of the connections), or "all", every member
    # (round-robin). See docs/topology.md for the trade-off and its figures.
    etcd_servers: Literal["local", "all"] = "local"


class IncusCluster(_Model):
    """Hosts on an Incus cluster rather than this machine's own incusd (docs/cluster.md)."""

    # An Incus remote (`incus remote list`) that is a cluster: `halab-sim` is the simulation's.
    remote: str
    # Each topology zone's member, so that losing a zone is losing a machine; zones not named
    # here, and hosts without a zone, go where Incus reports the most free memory.
    zones: dict[str, str] = Field(default_factory=dict)
    # The members' link to each other, the same name on each (the simulation's: eth0); left
    # out, Incus takes each member's default route's interface.
    interface: str | None = None


class Host(_Model):
    name: str
    role: Role
    ip: Addr
    zone: str | None = None
    memory: StrictInt | None = Field(default=None, ge=256, le=65536)
    cpus: StrictInt | None = Field(default=None, ge=1, le=16)


class Topology(_Model):
    name: str
    description: str = ""
    box: str = "trixie"
    # What runs the hosts: "vm" (Vagrant + libvirt), "container" (Incus system containers,
    # native speed) or "auto": VMs where KVM works, containers otherwise.
    provider: Literal["auto", "vm", "container"] = "auto"
    network: Network
    defaults: Defaults = Defaults()
    lb: LoadBalancer = LoadBalancer()
    etcd: Etcd = Etcd()
    kubernetes: Kubernetes = Kubernetes()
    incus: IncusCluster | None = None
    hosts: list[Host] = Field(min_length=1)

    def by_role(self, role: Role) -> list[Host]:
        return [h for h in self.hosts if h.role == role]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a topology file, located as precisely as the YAML allows."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


class TopologyError(HalabError):
    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        plural = "s" if len(problems) > 1 else ""
        body = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{len(problems)} problem{plural} in the topology; nothing was created:\n{body}",
            "fix the file and run the command again (`halab validate FILE` checks it alone)",
        )


class UnreadableTopology(HalabError):
    """A topology file that cannot be read is a bad topology too: exit 2, as TopologyError."""

    exit_code = 2


@dataclass(frozen=True)
class Loaded:
    """A valid topology, where it came from, and warnings that did not stop it."""

    topology: Topology
    path: Path
    warnings: list[str] = field(default_factory=list)
    lines: dict[Path_, int] = field(default_factory=dict, repr=False, compare=False)

    def problem(self, path: Path_, message: str) -> Problem:
        """A problem found after loading (against this host), located in the file."""
        return Problem(str(self.path), _line_of(self.lines, path), field_name(path), message)


Path_ = tuple[str | int, ...]


def field_name(path: Path_) -> str:
    """('hosts', 2, 'ip') -> 'hosts[2].ip' — the way a user reads it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but that a topology may not use (aliases, deep nesting)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases and without deep nesting. An alias can refer to itself
    (`a: &a [*a]`: the walk below never ends) or nest others (exponential size: "billion
    laughs"); nothing in a topology needs one. The depth bound keeps PyYAML's recursive composer
    far from Python's recursion limit."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(None, None, f"aliases (*{event.anchor}) are not allowed in a "
                           "topology: write the value out where it is used", event.start_mark)
        if self.depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep; a topology "
                           "needs 3 or 4", event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self.depth -= 1


class _Located:
    """YAML data plus the line of every key and item, so errors can point at the file."""

    def __init__(self, text: str, file: str):
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            self.data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    first = f"duplicate key (first given on line {seen[key]})"
                    self.problems.append(Problem(self.file, line, field_name(path + (key,)), first))
                seen[key] = line
                self.lines[path + (key,)] = line
                self._walk(value_node, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, path + (i,))

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(self.file, _line_of(self.lines, path), field_name(path), message)


def _line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of `path`, or of its nearest ancestor present in the file."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at `path` (for did-you-mean suggestions)."""
    model: type[BaseModel] = Topology
    for part in path:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        ann = info.annotation
        inner = getattr(ann, "__args__", (ann,))
        sub = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None:
            return None
        model = sub
    return model


def _explain(err: dict[str, Any]) -> str:
    kind, msg, given = err["type"], err["msg"], err.get("input")
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        return f"{given!r} is not one of {msg.split('Input should be ', 1)[-1]}"
    if kind in ("ip_v4_address", "ip_v4_network", "ip_any_network"):
        return f"{given!r} is not a valid IPv4 {'address' if 'address' in kind else 'network'}" + (
            " (a network must have no host bits set, e.g. 192.168.33.0/24)"
            if "network" in kind else "")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg.lower()}, got {type(given).__name__} {given!r}"
    return f"{msg}, got {given!r}" if given is not None and not isinstance(given, dict) else msg


def _schema_problems(doc: _Located, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        path = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(path[-1])
            model = _model_at(path[:-1])
            known = sorted(model.model_fields) if model else []
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            problems.append(doc.problem(path, f"unknown key; {hint}"))
        else:
            problems.append(doc.problem(path, _explain(err)))
    return problems


def _check_lb_pair(doc: _Located, topo: Topology, lbs: list[Host],
                   ips: dict[IPv4Address, int], p: Callable[[Problem], None]) -> None:
    """Several LB hosts need a virtual IP to share (keepalived), and a VIP needs several."""
    lb, net = topo.lb, topo.network.subnet
    if lb.replicas is not None and lb.replicas != len(lbs):
        p(doc.problem(("lb", "replicas"), f"is {lb.replicas} but {len(lbs)} host(s) have role: "
                                          "lb; list every LB host under hosts (lb1, lb2, ...)"))
    if len(lbs) > 1 and lb.vip is None:
        p(doc.problem(("lb",), f"{len(lbs)} hosts have role: lb; give lb.vip, the address they "
                               "share with keepalived and that clients use"))
    if lb.vip is None:
        return
    if len(lbs) < 2:
        p(doc.problem(("lb", "vip"), "a virtual IP needs 2 hosts with role: lb for keepalived "
                                     "to move it between; add lb2, or remove vip"))
    if lb.vip not in net:
        p(doc.problem(("lb", "vip"), f"{lb.vip} is outside the subnet {net}"))
    elif lb.vip in (net.network_address, net.broadcast_address, next(net.hosts())):
        p(doc.problem(("lb", "vip"), f"{lb.vip} is the subnet's network, broadcast or bridge "
                                     "address; pick a free one"))
    elif lb.vip in ips:
        p(doc.problem(("lb", "vip"), f"{lb.vip} is already hosts[{ips[lb.vip]}]'s ip; the VIP "
                                     "needs an address of its own"))


def _check_per_node(doc: _Located, topo: Topology, masters: list[Host], lbs: list[Host],
                    p: Callable[[Problem], None], warn: Callable[[str], None]) -> None:
    """lb.mode per-node: an API proxy on every minion, which only a kube lab has. The LB hosts
    stay, off the nodes' path: etcd's clients and users' kubectl go through them."""
    if not topo.kubernetes.enabled:
        p(doc.problem(("lb", "mode"), "per-node puts an API proxy on every minion, in front of "
                                      "the apiservers; with kubernetes.enabled: false there are "
                                      "none. Use mode: central, or enable the kube tier"))
    elif len(masters) == 1:
        warn(str(doc.problem(("lb", "mode"), "per-node with one master: each minion's proxy has "
                                             "a single apiserver behind it, so it adds a hop and "
                                             "no failover; add masters, or use mode: central")))


def _check_private(doc: _Located, network: Network, p: Callable[[Problem], None],
                   warn: Callable[[str], None]) -> None:
    """The lab's networks become routes on this host: outside the private ranges they take this
    host's way to real addresses, unless the topology says why it wants that."""
    reason = network.public_subnet_reason
    public = [name for name in ("subnet", "management")
              if not any(getattr(network, name).subnet_of(r) for r in PRIVATE_RANGES)]
    if reason is not None and not reason.strip():
        p(doc.problem(("network", "public_subnet_reason"), "is empty: say why the lab needs a "
                                                           "public range, or remove it"))
    elif reason is None:
        for name in public:
            p(doc.problem(("network", name), f"{getattr(network, name)} is not a private range "
                          f"({', '.join(map(str, PRIVATE_RANGES))}): while the lab is up, this "
                          "host would route those real addresses into the lab. Pick a private "
                          "range, or give network.public_subnet_reason saying why"))
    elif not public:
        warn(str(doc.problem(("network", "public_subnet_reason"), "is given but both networks "
                                                                  "are private; remove it")))


def _semantic_problems(doc: _Located, topo: Topology) -> tuple[list[Problem], list[str]]:
    """Checks that span fields: names, addresses, quorum, overlaps."""
    problems: list[Problem] = []
    warnings: list[str] = []
    p, warn = problems.append, warnings.append
    _check_names_and_network(doc, topo, p, warn)
    ips = _check_hosts(doc, topo, p)
    minions = _check_roles(doc, topo, ips, p, warn)
    _check_etcd(doc, topo, p)
    _check_kube(doc, topo, minions, p, warn)
    _check_incus(doc, topo, p)
    return problems, warnings


def _check_incus(doc: _Located, topo: Topology, p: Callable[[Problem], None]) -> None:
    """A cluster runs containers, and its zone map names zones the hosts have."""
    if topo.incus is None:
        return
    if topo.provider == "vm":
        p(doc.problem(("incus",), "an Incus cluster runs the hosts as containers, and this lab "
                                  "says provider: vm; remove one of the two"))
    if not REMOTE_RE.fullmatch(topo.incus.remote):
        p(doc.problem(("incus", "remote"), f"{topo.incus.remote!r} is not an Incus remote's "
                                           "name (`incus remote list` shows them)"))
    zones = {h.zone for h in topo.hosts if h.zone}
    for zone, member in topo.incus.zones.items():
        if zone not in zones:
            p(doc.problem(("incus", "zones", zone),
                          f"no host is in zone {zone!r} (zones here: "
                          f"{', '.join(sorted(zones)) or 'none'})"))
        if not REMOTE_RE.fullmatch(member):
            p(doc.problem(("incus", "zones", zone), f"{member!r} is not a member's name"))


def _check_names_and_network(doc: _Located, topo: Topology, p: Callable[[Problem], None],
                             warn: Callable[[str], None]) -> None:
    """The lab's name, its box, and its two networks."""
    net = topo.network.subnet
    if not LAB_NAME_RE.fullmatch(topo.name):
        p(doc.problem(("name",), f"{topo.name!r} is not safe in libvirt names: use 2–24 lowercase "
                                 "letters, digits and single '-', starting with a letter "
                                 "('--' joins lab and host in machine names)"))
    if not BOX_RE.fullmatch(topo.box):
        p(doc.problem(("box",), f"{topo.box!r} is not a box name: use lowercase letters, digits "
                                "and '-', as the recipes in boxes/ are named (e.g. trixie)"))
    if net.prefixlen > 29:
        p(doc.problem(("network", "subnet"), f"{net} is too small for a lab; use /24 or similar"))
    mgmt = topo.network.management
    _check_private(doc, topo.network, p, warn)
    if mgmt.overlaps(net):
        p(doc.problem(("network", "management"), f"{mgmt} overlaps the lab subnet {net}"))


def _check_hosts(doc: _Located, topo: Topology,
                 p: Callable[[Problem], None]) -> dict[IPv4Address, int]:
    """Each host's name, address and zone; returns the addresses taken (by host index)."""
    net = topo.network.subnet
    names: dict[str, int] = {}
    ips: dict[IPv4Address, int] = {}
    for i, host in enumerate(topo.hosts):
        if not HOST_NAME_RE.fullmatch(host.name):
            p(doc.problem(("hosts", i, "name"), f"{host.name!r} is not a valid host name: use "
                                                "lowercase letters, digits and single '-' ('--' "
                                                "joins lab and host in machine names)"))
        if host.name in names:
            p(doc.problem(("hosts", i, "name"),
                          f"duplicate host name {host.name!r} (also hosts[{names[host.name]}])"))
        names.setdefault(host.name, i)
        if host.ip in ips:
            p(doc.problem(("hosts", i, "ip"),
                          f"duplicate ip {host.ip} (also hosts[{ips[host.ip]}])"))
        ips.setdefault(host.ip, i)
        if host.ip not in net:
            p(doc.problem(("hosts", i, "ip"), f"{host.ip} is outside the subnet {net}"))
        elif host.ip in (net.network_address, net.broadcast_address):
            which = "network" if host.ip == net.network_address else "broadcast"
            p(doc.problem(("hosts", i, "ip"), f"{host.ip} is the subnet's {which} address"))
        elif host.ip == next(net.hosts()):
            p(doc.problem(("hosts", i, "ip"), f"{host.ip} is taken by the host's libvirt bridge "
                                              "(the subnet's first address); pick another"))
        if host.zone is not None and not ZONE_RE.fullmatch(host.zone):
            p(doc.problem(("hosts", i, "zone"), f"{host.zone!r}: use lowercase letters, digits "
                                                "and '-'"))
    return ips


def _check_roles(doc: _Located, topo: Topology, ips: dict[IPv4Address, int],
                 p: Callable[[Problem], None], warn: Callable[[str], None]) -> list[Host]:
    """Masters (quorum), load balancers and their mode; returns the minions."""
    masters, lbs, minions = (topo.by_role(r) for r in ("master", "lb", "minion"))
    if not masters:
        p(doc.problem(("hosts",), "at least one host needs role: master (etcd runs there)"))
    elif len(masters) == 2 and not topo.etcd.accept_two_members:
        p(doc.problem(("hosts",), TWO_MASTERS_REASON))
    elif len(masters) == 2:
        warn(f"{doc.file}: 2 masters (etcd.accept_two_members): losing either one "
             "loses quorum; add a third with `halab add-master`")
    elif len(masters) > 2 and len(masters) % 2 == 0:
        warn(f"{doc.file}: {len(masters)} masters: an even count tolerates no more "
             f"failures than {len(masters) - 1}; an odd number is better")
    if len(masters) > 1 and not lbs:
        # With lb.mode per-node too: the nodes then bypass the LB, but etcd's clients (flanneld
        # aside), users' kubectl and the failover scenario's writes still need one address.
        p(doc.problem(("hosts",), f"{len(masters)} masters but no load balancer: add a host with "
                                  "role: lb so clients survive a master going down"))
    _check_lb_pair(doc, topo, lbs, ips, p)
    if topo.lb.mode == "per-node":
        _check_per_node(doc, topo, masters, lbs, p, warn)
    elif lbs and topo.lb.kind == "pound" and topo.kubernetes.enabled:
        p(doc.problem(("lb", "kind"), "pound in front of a kube lab needs lb.mode: per-node: "
                                      "Pound terminates TLS, so kubelets cannot authenticate "
                                      "with their certificates through a central Pound; per "
                                      "node, they use bearer tokens (labs/pound-per-node.yaml). "
                                      "Or use kind nginx or haproxy"))
    return minions


def _check_etcd(doc: _Located, topo: Topology, p: Callable[[Problem], None]) -> None:
    """etcd's timings: both or neither, and an election timeout etcd accepts."""
    etcd = topo.etcd
    if etcd.heartbeat_ms is not None and etcd.election_timeout_ms is not None:
        if etcd.election_timeout_ms < 5 * etcd.heartbeat_ms:
            p(doc.problem(("etcd", "election_timeout_ms"), "must be at least 5 × heartbeat_ms "
                          f"({5 * etcd.heartbeat_ms}); etcd refuses to start otherwise"))
    elif (etcd.heartbeat_ms is None) != (etcd.election_timeout_ms is None):
        given = "heartbeat_ms" if etcd.heartbeat_ms is not None else "election_timeout_ms"
        p(doc.problem(("etcd", given), "set heartbeat_ms and election_timeout_ms together, or "
                                       "neither (halab then picks values for the accelerator)"))


def _check_kube(doc: _Located, topo: Topology, minions: list[Host],
                p: Callable[[Problem], None], warn: Callable[[str], None]) -> None:
    """The kube tier: minions, its domain, version and address ranges."""
    net, mgmt = topo.network.subnet, topo.network.management
    kube = topo.kubernetes
    if minions and not kube.enabled:
        first = topo.hosts.index(minions[0])
        idle = ", ".join(h.name for h in minions)
        warn(str(doc.problem(
 ("hosts", first, "role"),
 f"minion{'s' if len(minions) > 1 else ''} {idle} will boot and run nothing: the kube "
 "tier is off (kubernetes.enabled: false); set it to true, or remove the minions")))
    if not DOMAIN_RE.fullmatch(kube.cluster_domain):
        p(doc.problem(("kubernetes", "cluster_domain"), f"{kube.cluster_domain!r} is not a DNS "
                      "name: use lowercase labels of letters, digits and '-' joined by '.', "
                      "e.g. cluster.local"))
    if kube.enabled:
        if kube.version is not None and not VERSION_RE.fullmatch(kube.version):
            p(doc.problem(("kubernetes", "version"), f"{kube.version!r}: use X.Y.Z, e.g. 1.34.2"))
        if not minions:
            p(doc.problem(("hosts",), "the kube tier is enabled but there is no host with role: "
                                      "minion; add one or set kubernetes.enabled: false"))
        ranges = {"network.subnet": net, "network.management": mgmt,
                  "kubernetes.service_cidr": kube.service_cidr,
                  "kubernetes.pod_cidr": kube.pod_cidr}
        for name in ("service_cidr", "pod_cidr"):
            mine = getattr(kube, name)
            for other_name, other in ranges.items():
                if other_name != f"kubernetes.{name}" and mine.overlaps(other):
                    p(doc.problem(("kubernetes", name), f"{mine} overlaps {other_name} {other}"))
                    break
        if kube.pod_cidr.prefixlen > 22:
            p(doc.problem(("kubernetes", "pod_cidr"), "flannel gives each node a /24; the pod "
                                                      "CIDR must be /22 or larger"))
        if kube.service_cidr.prefixlen > 28:
            p(doc.problem(("kubernetes", "service_cidr"), "too small; use /24 or larger"))


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    """Where PyYAML stopped, always with a line: the reader (a character YAML does not allow)
    gives an offset, the others a mark."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        what = f"{exc.reason} (character U+{code:04X})"
        return Problem(file, line, "", f"YAML syntax error: {what}")
    mark = getattr(exc, "problem_mark", None)
    # An error at the end of the stream points past the last line: name the last line.
    last = max(text.count("\n"), 1)
    line = min(mark.line + 1, last) if mark else last
    what = getattr(exc, "problem", None) or str(exc)
    context, ctx_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and ctx_mark:
        what += f" ({context} that starts on line {ctx_mark.line + 1})"
    return Problem(file, line, "", what if isinstance(exc, _Refused) else
                   f"YAML syntax error: {what}")


def loads(text: str, file: str = "<topology>") -> Loaded:
    """Parse and check a whole topology; raise TopologyError listing every problem found."""
    try:
        doc = _Located(text, file)
    except yaml.YAMLError as exc:
        raise TopologyError([_yaml_problem(exc, text, file)]) from None
    if not isinstance(doc.data, dict):
        raise TopologyError([Problem(file, 1, "", "the file must be a YAML mapping with at least "
                                                  "'name', 'network' and 'hosts'")])
    problems = list(doc.problems)
    try:
        topo = Topology.model_validate(doc.data)
    except ValidationError as exc:
        raise TopologyError(problems + _schema_problems(doc, exc)) from None
    more, warnings = _semantic_problems(doc, topo)
    if problems or more:
        raise TopologyError(problems + more)
    return Loaded(topo, Path(file), warnings, doc.lines)


def to_yaml(topo: Topology, header: str = "") -> str:
    """A topology as a file `load` reads back to the same model (halab's own copies of a lab)."""
    data = topo.model_dump(mode="json", exclude_none=True)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def load(path: str | Path) -> Loaded:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableTopology(f"no topology file at {path}",
                                 "the ready labs are the .yaml files in labs/ (`halab --help` "
                                 "lists them)") from None
    except IsADirectoryError:
        raise UnreadableTopology(f"{path} is a directory, not a topology file",
                                 "give a .yaml file, e.g. labs/seed.yaml") from None
    except OSError as exc:
        raise UnreadableTopology(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TopologyError([Problem(str(path), line, "", "not UTF-8 text (byte "
                                     f"{raw[exc.start]:#04x}); save the file as UTF-8")]) from None
    return loads(text, str(path))


def first_usable(net: IPv4Network) -> IPv4Address:
    return next(net.hosts())


def nth_ip(net: IPv4Network, n: int) -> IPv4Address:
    return ipaddress.IPv4Address(int(net.network_address) + n)
