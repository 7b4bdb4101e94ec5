"""Host-side veths left on a lab's bridge: a container whose `[lxc monitor]` was killed (or that
died while incusd was down) leaves its veth attached. They are swept before the lab's hosts
start and before its bridge is deleted: a veth on the lab's bridge that no instance of the lab
names as its NIC is no one's.
"""

from __future__ import annotations

import json

from halab.build.command import run_captured
from halab.providers.incus import client, names, objects


def stale(attached: list[str], in_use: set[str]) -> list[str]:
    """The veths on the bridge that no instance uses (pure)."""
    return sorted(v for v in attached if v not in in_use)


def attached(bridge: str) -> list[str]:
    proc = run_captured(["ip", "-j", "link", "show", "master", bridge], timeout=30, check=False)
    if proc.returncode != 0:  # no such bridge: nothing attached
        return []
    return [link["ifname"] for link in json.loads(proc.stdout or "[]")
            if link.get("ifname", "").startswith("veth")]


def in_use(project: str) -> set[str]:
    """The host-side NIC of every running instance of the project, as Incus reports it."""
    if project not in objects.projects():
        return set()
    return {nic.get("host_name", "") for i in client.query("list", project=project)
            for nic in ((i.get("state") or {}).get("network") or {}).values()}


def sweep(lab: str) -> list[str]:
    """Delete the lab bridge's stale veths (with their peers); the names deleted."""
    gone = stale(attached(names.bridge(lab)), in_use(names.project(lab)))
    for v in gone:
        run_captured(["ip", "link", "del", v], timeout=30, check=False)
    return gone
