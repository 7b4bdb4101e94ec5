"""Names the container provider gives on this host, derived from the lab's (pure).

Linux interface names hold at most 15 characters, so a lab's bridge is named from a hash of the
lab's name; its alias (`ip link ... alias halab-<lab>`) says whose it is, so a bridge of that
name that is not this lab's is a clash, never reused.
"""

from __future__ import annotations

import hashlib

IFNAMSIZ = 15
BRIDGE_PREFIX = "hlb"


def bridge(lab: str) -> str:
    """`hlb` + 12 hex digits of the lab name's SHA-256: 15 characters, unique in practice."""
    name = BRIDGE_PREFIX + hashlib.sha256(lab.encode()).hexdigest()[:IFNAMSIZ - len(BRIDGE_PREFIX)]
    assert len(name) <= IFNAMSIZ
    return name


def veth(machine: str) -> str:
    """The host end of a container's veth pair: `hlv` + 12 hex digits of its machine name."""
    return "hlv" + hashlib.sha256(machine.encode()).hexdigest()[:IFNAMSIZ - 3]


def alias(lab: str) -> str:
    return f"halab-{lab}"
