"""The lab's network on the host: one Linux bridge holding the subnet's first address.

No NAT, no forwarding and no default route are set up: containers reach this host and each
other on the lab subnet, and nothing beyond it.
"""

from __future__ import annotations

import json
import subprocess
from ipaddress import IPv4Interface, IPv4Network

from halab.build.command import run_captured
from halab.providers.nspawn import names


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return run_captured(["ip", *args], timeout=30,
                        hint="check that you are root and that the kernel has bridge support")


def links() -> list[dict]:
    """Every link on the host with its details (`ip -j -d addr`)."""
    return json.loads(_ip("-j", "-d", "addr", "show").stdout or "[]")


def find(name: str) -> dict | None:
    return next((link for link in links() if link.get("ifname") == name), None)


def clash(lab: str) -> str | None:
    """Why this lab's bridge name cannot be used, or None: a link of that name that another
    owner made (its alias is not this lab's)."""
    name = names.bridge(lab)
    link = find(name)
    if link is None or link.get("ifalias") == names.alias(lab):
        return None
    return (f"a network interface {name!r} already exists on this host and is not lab {lab!r}'s "
            f"(alias {link.get('ifalias')!r})")


def ensure(lab: str, subnet: str) -> str:
    """Create the lab's bridge with the subnet's first address, up (idempotent)."""
    name = names.bridge(lab)
    net = IPv4Network(subnet)
    gateway = IPv4Interface(f"{next(net.hosts())}/{net.prefixlen}")
    if find(name) is None:
        _ip("link", "add", name, "type", "bridge")
        _ip("link", "set", name, "alias", names.alias(lab))
    link = find(name) or {}
    have = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
            if a.get("family") == "inet"}
    if str(gateway) not in have:
        _ip("addr", "add", str(gateway), "dev", name)
    _ip("link", "set", name, "up")
    return name


def remove(lab: str) -> bool:
    """Delete the lab's bridge if it is there and is this lab's; True when one was deleted."""
    name = names.bridge(lab)
    link = find(name)
    if link is None or link.get("ifalias") != names.alias(lab):
        return False
    _ip("link", "del", name)
    return True


def lab_networks() -> dict[str, tuple[IPv4Network, str]]:
    """Every halab container bridge here: `halab-<lab>` → (subnet, bridge)."""
    out = {}
    for link in links():
        alias = link.get("ifalias") or ""
        if not (alias.startswith("halab-") and link.get("ifname", "").startswith(
                names.BRIDGE_PREFIX)):
            continue
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                out[alias] = (IPv4Interface(f"{a['local']}/{a['prefixlen']}").network,
                              link["ifname"])
    return out
