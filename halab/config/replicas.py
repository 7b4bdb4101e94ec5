"""Master replicas: the topology after `halab add-master`, `remove-master` or `replace` (pure).

The seeds' recipe for a failed replica is "remove it from etcd, then add a fresh one in the same
zone". These functions say what the lab becomes, refuse what would break it, and write the lab's
own copy of its topology, `.halab/<lab>/topology.yaml`: after a change that copy, not the file the
lab came from, is the source of truth that `up`, `status` and `render` read (`down` forgets it).
"""

from __future__ import annotations

import re
from collections import Counter
from ipaddress import IPv4Address

from halab.config.topology import HOST_NAME_RE, Host, Topology, to_yaml
from halab.errors import HalabError

NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _next_name(topo: Topology) -> str:
    """`master4` after master1–3 (the masters' own prefix, e.g. `m4` after m1–m3)."""
    numbered = [NUMBERED.match(h.name) for h in topo.by_role("master")]
    found = [m for m in numbered if m]
    prefix = Counter(m.group(1) for m in found).most_common(1)[0][0] if found else "master"
    taken = {h.name for h in topo.hosts}
    n = max((int(m.group(2)) for m in found if m.group(1) == prefix), default=0) + 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def _taken(topo: Topology) -> set[IPv4Address]:
    net = topo.network.subnet
    used = {h.ip for h in topo.hosts} | {net.network_address, net.broadcast_address,
                                           next(net.hosts())}
    return used | ({topo.lb.vip} if topo.lb.vip else set())


def _next_ip(topo: Topology) -> IPv4Address:
    """The first free address after the highest master's (master4 gets .24 after .21–.23)."""
    net, taken = topo.network.subnet, _taken(topo)
    start = max(int(h.ip) for h in topo.by_role("master")) + 1
    for n in range(start, int(net.broadcast_address)):
        if IPv4Address(n) not in taken:
            return IPv4Address(n)
    raise HalabError(f"no free address in {net} after the masters'", "give one with --ip")


def _emptiest_zone(topo: Topology) -> str | None:
    """The zone with the fewest masters (spread replicas), or None when masters have no zones."""
    zones = sorted({h.zone for h in topo.hosts if h.zone})
    if not zones:
        return None
    count = Counter(h.zone for h in topo.by_role("master"))
    return min(zones, key=lambda z: (count[z], z))


def new_master(topo: Topology, name: str | None = None, ip: str | None = None,
               zone: str | None = None) -> Host:
    """The master `add-master` adds: given fields checked, the others chosen."""
    name = name or _next_name(topo)
    if not HOST_NAME_RE.fullmatch(name):
        raise HalabError(f"--name {name!r} is not a valid host name",
                         "use lowercase letters, digits and '-'")
    if any(h.name == name for h in topo.hosts):
        raise HalabError(f"lab {topo.name!r} already has a host {name!r}",
                         "give another --name, or leave it out to get the next free one")
    if ip is None:
        address = _next_ip(topo)
    else:
        try:
            address = IPv4Address(ip)
        except ValueError:
            raise HalabError(f"--ip {ip!r} is not an IPv4 address") from None
        if address not in topo.network.subnet or address in _taken(topo):
            raise HalabError(f"--ip {address} is taken or outside {topo.network.subnet}",
                             "leave --ip out to get the next free address")
    return Host(name=name, role="master", ip=address,
                zone=zone if zone is not None else _emptiest_zone(topo))


def with_master(topo: Topology, host: Host) -> Topology:
    """The topology with `host` listed after the last master."""
    last = max(i for i, h in enumerate(topo.hosts) if h.role == "master")
    hosts = [*topo.hosts[:last + 1], host, *topo.hosts[last + 1:]]
    two = sum(h.role == "master" for h in hosts) == 2  # from 1 master: on the way to 3
    etcd = topo.etcd.model_copy(update={"accept_two_members": two})
    return topo.model_copy(update={"hosts": hosts, "etcd": etcd})


TWO_LEFT = ("would leave 2 masters: etcd needs a majority, so with two members losing either "
            "one stops every write — worse than one master. `halab replace` swaps a failed "
            "master for a fresh one instead; --force removes it anyway")


def without_master(topo: Topology, name: str, force: bool = False) -> Topology:
    """The topology without master `name`; refuses the last master, and 2 left unless forced."""
    host = next((h for h in topo.hosts if h.name == name), None)
    masters = topo.by_role("master")
    if host is None or host.role != "master":
        names = ", ".join(h.name for h in masters)
        raise HalabError(f"lab {topo.name!r} has no master {name!r}", f"masters: {names}")
    if len(masters) == 1:
        raise HalabError(f"{name} is the only master: removing it would remove etcd",
                         "`halab down` removes the whole lab")
    if len(masters) == 3 and not force:
        raise HalabError(f"removing {name} {TWO_LEFT}")
    hosts = [h for h in topo.hosts if h.name != name]
    etcd = topo.etcd.model_copy(update={"accept_two_members": len(masters) == 3})
    return topo.model_copy(update={"hosts": hosts, "etcd": etcd})


def lab_copy_text(topo: Topology, source: str, changes: list[str]) -> str:
    """The lab's own topology file, with a header saying where it came from and what changed."""
    lines = [f"Lab {topo.name} as changed by halab, from {source}.",
             "This file is now the lab's source of truth (`halab up`, `status` and `render`",
             "read it); `halab down` removes it. Changes:"]
    return to_yaml(topo, "\n".join(lines + [f"  {c}" for c in changes]))
