"""Student labs: many copies of one topology file side by side on one host, for a workshop.

Student N (1..N_MAX) of a lab gets its own name, `<lab>-sNN`, so its libvirt domains, networks and
volumes (`halab-<lab>-sNN-…`) and its `.halab/<lab>-sNN/` never meet another lab's; and its own
networks, taken from blocks no ready lab uses: the lab network 10.150.N.0/24 and the management
network 10.151.N.0/24 (the third octet is the student number). Every host keeps its offset in the
subnet (lb1 at .11 stays .11), so the addresses derived from host IPs (etcd URLs, the LB's
backends, the apiserver's SANs) follow when the plan is built.

Everything here is pure. The derived file goes through `topology.loads`, the same validation as
any file, so a student lab that would be invalid is refused before anything is created.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from halab.config.topology import LAB_NAME_RE, Loaded, Topology, loads, to_yaml
from halab.errors import HalabError

# A workshop on one host: 40 copies of even the 4-VM etcd-only lab are 160 VMs, more than one host
# runs. Two digits in the name suffix; the blocks below would hold up to 255.
N_MAX = 40
LAB_BLOCK = IPv4Network("10.150.0.0/16")
MANAGEMENT_BLOCK = IPv4Network("10.151.0.0/16")
STUDENT_PREFIX = 24  # each student owns one /24 of each block
SUFFIX_LEN = len("-s00")
MAX_BASE_NAME = 24 - SUFFIX_LEN  # LAB_NAME_RE allows 24 characters in all


def check_number(n: int) -> None:
    if not 1 <= n <= N_MAX:
        raise HalabError(f"--student {n} is out of range: student numbers are 1–{N_MAX}",
                         "number the students from 1; the file as written is the instructor's "
                         "lab (student 0)")


def lab_name(name: str, n: int, file: str = "<topology>") -> str:
    """`seed` → `seed-s03`: short and still a valid lab name, so libvirt names stay readable."""
    check_number(n)
    derived = f"{name}-s{n:02d}"
    if not LAB_NAME_RE.fullmatch(derived):
        raise HalabError(f"{file}: name: {name!r} is too long for student labs: {derived!r} "
                         "exceeds the 24 characters a lab name may have",
                         f"shorten the lab's name to {MAX_BASE_NAME} characters or fewer")
    return derived


def lab_subnet(n: int) -> IPv4Network:
    """Student N's /24 for the lab network: 10.150.N.0/24."""
    return _nth(LAB_BLOCK, n)


def management_subnet(n: int) -> IPv4Network:
    """Student N's /24 for Vagrant's management network: 10.151.N.0/24."""
    return _nth(MANAGEMENT_BLOCK, n)


def _nth(block: IPv4Network, n: int) -> IPv4Network:
    check_number(n)
    size = 2 ** (32 - STUDENT_PREFIX)
    return IPv4Network((int(block.network_address) + n * size, STUDENT_PREFIX))


def _moved(net: IPv4Network, into: IPv4Network) -> IPv4Network:
    """`net` moved into the student's /24: a smaller subnet keeps its size, a larger one shrinks."""
    return IPv4Network((into.network_address, max(net.prefixlen, into.prefixlen)))


def _remapped(ip: IPv4Address, old: IPv4Network, new: IPv4Network, field: str,
              file: str) -> IPv4Address:
    offset = int(ip) - int(old.network_address)
    if not 0 <= offset < new.num_addresses - 1:
        raise HalabError(f"{file}: {field}: {ip} is address {offset} of {old}, and a student "
                         f"lab's subnet is too small for it: {new} holds offsets 2–"
                         f"{new.num_addresses - 2}",
                         f"number the hosts within the first 254 addresses of {old}, or run "
                         "this lab without --student")
    return IPv4Address(int(new.network_address) + offset)


def _outside_blocks(topo: Topology, file: str) -> None:
    """The file as written must not sit where student labs go, or student 0 meets student N."""
    for field, net in (("network.subnet", topo.network.subnet),
                       ("network.management", topo.network.management)):
        for block in (LAB_BLOCK, MANAGEMENT_BLOCK):
            if net.overlaps(block):
                raise HalabError(f"{file}: {field}: {net} lies in {block}, the block student "
                                 "labs take their networks from, so they could collide with "
                                 "this lab as written",
                                 "move the file's networks elsewhere (e.g. 192.168.x.0/24)")


def derive(topo: Topology, n: int, file: str = "<topology>") -> Topology:
    """Student N's copy of `topo`: its own name and networks, every host (and the LBs' VIP) at
    the same offset."""
    _outside_blocks(topo, file)
    name = lab_name(topo.name, n, file)
    old = topo.network.subnet
    subnet = _moved(old, lab_subnet(n))
    network = topo.network.model_copy(update={
        "subnet": subnet,
        "management": _moved(topo.network.management, management_subnet(n))})
    hosts = [h.model_copy(update={"ip": _remapped(h.ip, old, subnet, f"hosts[{i}].ip", file)})
             for i, h in enumerate(topo.hosts)]
    lb = topo.lb
    if lb.vip is not None:
        lb = lb.model_copy(update={"vip": _remapped(lb.vip, old, subnet, "lb.vip", file)})
    about = f"student {n} of lab {topo.name}"
    return topo.model_copy(update={
        "name": name, "network": network, "hosts": hosts, "lb": lb,
        "description": f"{topo.description} ({about})" if topo.description else about})


@dataclass(frozen=True)
class StudentLab:
    """Student N's lab: validated like any file, and the YAML that `up` saves in its directory."""

    number: int
    source: Path
    loaded: Loaded
    text: str

    @property
    def topology(self) -> Topology:
        return self.loaded.topology

    def summary(self) -> str:
        t = self.topology
        return (f"student {self.number} of {self.source}: lab {t.name!r}, network "
                f"{t.network.subnet}, management {t.network.management}")


def derive_lab(loaded: Loaded, n: int) -> StudentLab:
    """Derive student N's lab from a loaded file and check it exactly as `load` checks a file."""
    source = str(loaded.path)
    topo = derive(loaded.topology, n, source)
    text = to_yaml(topo, f"Student {n}'s copy of {source}, written by `halab up --student {n}`.\n"
                         f"Change {source} and run that again rather than editing this file.")
    checked = loads(text, f"{source} (student {n})")
    # Its lines are those of the generated text, not of the instructor's file: none are named.
    return StudentLab(n, loaded.path, dataclasses.replace(checked, path=loaded.path, lines={}),
                      text)
