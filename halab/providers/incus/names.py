"""The names of halab's Incus objects, derived from the lab's (pure).

A lab's hosts keep their machine names (`halab-<lab>--<host>`, plan.machine_name) as instance
names inside the lab's own project, so `incus list --project halab-<lab>` shows a student's
hosts. Managed networks are host interfaces (15 characters at most), so a lab's bridge is named
from a hash of the lab's name, with a prefix of its own.
"""

from __future__ import annotations

import hashlib

IFNAMSIZ = 15
BRIDGE_PREFIX = "hli"
PROFILE = "halab"  # in each lab's project: the lab's hosts' settings and devices
POOL = "halab"  # one btrfs pool on a loop file for every lab: copy-on-write clones of the box
POOL_SIZE = "40GiB"  # sparse: only what the labs write takes room
LAB_KEY = "user.halab.lab"  # on a network or project: the lab it belongs to
SUBNET_KEY = "user.halab.subnet"  # on a cluster lab's network, whose bridges hold no address


def project(lab: str) -> str:
    return f"halab-{lab}"


def bridge(lab: str) -> str:
    """`hli` + 12 hex digits of the lab name's SHA-256: 15 characters, unique in practice."""
    name = BRIDGE_PREFIX + hashlib.sha256(lab.encode()).hexdigest()[:IFNAMSIZ - len(BRIDGE_PREFIX)]
    assert len(name) <= IFNAMSIZ
    return name


IMAGE_PREFIX = "halab-"  # every box image's alias; `down` prunes the unused ones among them


def image_alias(box: str, key: str) -> str:
    """The box's image in Incus's default project: one per box and cache key, so that a box
    rebuilt later is another image and the labs made from this one keep theirs."""
    return f"{IMAGE_PREFIX}{box}-{key[:12]}"


def at(remote: str | None, name: str) -> str:
    """An object's name as the incus client reads it: `remote:name` on a cluster reached
    through a remote, the bare name on this machine's own incusd."""
    return f"{remote}:{name}" if remote else name


def scope(remote: str | None) -> list[str]:
    """The argument that points a listing at the remote (`incus list REMOTE:`), or none."""
    return [f"{remote}:"] if remote else []


def cluster_digest(lab: str) -> str:
    return hashlib.sha256(f"halab-cluster:{lab}".encode()).hexdigest()


def cluster_bridge(lab: str) -> str:
    """A cluster lab's bridge on each member: `hlc` + 8 hex digits, short enough for Incus's
    tunnel interface `<bridge>-v`."""
    return f"hlc{cluster_digest(lab)[:8]}"


def gateway_link(lab: str) -> str:
    """This machine's end of a cluster lab's tunnel, holding the subnet's first address."""
    return f"hlg{cluster_digest(lab)[:8]}"
