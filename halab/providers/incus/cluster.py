"""A lab on an Incus cluster (docs/cluster.md): its members' room, where each host goes, the
lab's network across members, and this machine's own end of it.

The network is one Incus bridge per member joined by a VXLAN tunnel over multicast (Incus's
bridge `tunnel.*` settings: no OVN to install, and every member and this machine joins the same
group). The bridges hold no address. This machine joins the tunnel too, with an interface of its
own holding the subnet's first address, as the lab's bridge does on one machine: halab reaches
every host at its topology address, and still nothing is routed or NATed anywhere.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from halab.build.command import run_captured
from halab.config.placement import ONLINE, Room
from halab.errors import HalabError
from halab.providers.incus import client, config, names

TUNNEL = "v"  # the tunnel's name in Incus: its interface is `<bridge>-v`
MIB = 1 << 20


def vni(lab: str) -> int:
    """The lab's VXLAN id, from its name (1 … 2^24-2)."""
    return int(names.cluster_digest(lab)[8:14], 16) % ((1 << 24) - 2) + 1


def group(lab: str) -> str:
    """The lab's multicast group, in the administratively scoped 239.0.0.0/8."""
    d = bytes.fromhex(names.cluster_digest(lab)[14:20])
    return f"239.{d[0]}.{d[1]}.{d[2] or 1}"


def members(remote: str) -> dict[str, tuple[str, str]]:
    """Each member: (status, its address)."""
    out = {}
    for m in client.query("cluster", "list", names.at(remote, "")):
        out[m["server_name"]] = (m.get("status", ""), urlsplit(m.get("url", "")).hostname or "")
    return out


def rooms(remote: str) -> list[Room]:
    """Each member's status and free memory: its memory as Incus reports it, less what is
    used now or promised to its instances (`limits.memory`), whichever is more."""
    promised = _promised(client.query("list", names.at(remote, ""), "--all-projects"))
    out = []
    for name, (status, _) in sorted(members(remote).items()):
        free = 0
        if status == ONLINE:
            mem = client.api(names.at(remote, f"/1.0/resources?target={name}"))["memory"]
            free = (mem["total"] - max(mem["used"], promised.get(name, 0))) // MIB
        out.append(Room(name, status, free))
    return out


def _promised(instances: list[dict]) -> dict[str, int]:
    """Each member: the bytes of memory its instances may use (pure)."""
    out: dict[str, int] = {}
    for i in instances:
        limit = (i.get("expanded_config") or {}).get("limits.memory", "")
        if limit.endswith("MiB") and limit[:-3].isdigit():
            where = i.get("location") or ""
            out[where] = out.get(where, 0) + int(limit[:-3]) * MIB
    return out


def ensure_network(lab: str, subnet: str, remote: str, interface: str | None) -> None:
    """The lab's bridge on every member (Incus defines it per member, then creates it on all),
    joined by the tunnel; where a member lacks it, it is defined there first."""
    br = names.cluster_bridge(lab)
    existing = {n["name"]: n for n in client.query("network", "list", names.at(remote, ""))}
    if br in existing and existing[br].get("status") == "Created":
        return
    for member, (status, _) in members(remote).items():
        if status != ONLINE:
            raise HalabError(f"member {member} of {remote} is {status}: the lab's network "
                             "spans every member", "bring it back first (`incus cluster list`)")
        client.run("network", "create", names.at(remote, br), "--target", member, check=False)
    settings = config.cluster_network(lab, subnet, TUNNEL, vni(lab), group(lab), interface)
    client.run("network", "create", names.at(remote, br),
               *[f"{k}={v}" for k, v in settings.items()], "--description", f"halab: lab {lab}")


def _route_dev(address: str) -> str:
    proc = run_captured(["ip", "-j", "route", "get", address], timeout=10,
                        what=f"the route to {address}")
    return json.loads(proc.stdout)[0]["dev"]


def link_exists(link: str, netns: str | None = None) -> bool:
    """An interface of this machine (or of the network namespace `netns`) by that name."""
    cmd = ["ip", *(["-n", netns] if netns else []), "link", "show", link]
    return run_captured(cmd, timeout=10, check=False).returncode == 0


def gateway_up(lab: str, subnet: str, remote: str) -> str | None:
    """This machine's end of the tunnel, with the subnet's first address; a line saying so, or
    None when it was there already."""
    link = names.gateway_link(lab)
    if link_exists(link):
        return None
    first = next(iter(a for s, a in members(remote).values() if a), None)
    if first is None:
        raise HalabError(f"no member of {remote} has an address", "`incus cluster list`")
    dev = _route_dev(first)
    address = config.gateway_address(subnet)
    for cmd in (["ip", "link", "add", link, "type", "vxlan", "id", str(vni(lab)), "group",
                 group(lab), "dev", dev, "dstport", str(config.VXLAN_PORT), "ttl", "1"],
                ["ip", "link", "set", link, "mtu", str(config.CLUSTER_MTU)],
                ["ip", "addr", "add", address, "dev", link],
                ["ip", "link", "set", link, "up"]):
        run_captured(cmd, timeout=10, what=f"this machine's end of lab {lab}'s tunnel")
    return f"{link}: this machine's end of the lab's tunnel, {address} over {dev}"


def gateway_down(lab: str) -> str | None:
    link = names.gateway_link(lab)
    if not link_exists(link):
        return None
    run_captured(["ip", "link", "del", link], timeout=10)
    return f"removed {link}, this machine's end of the lab's tunnel"
