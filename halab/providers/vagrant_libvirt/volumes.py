"""Box base volumes in libvirt's storage pool.

vagrant-libvirt uploads a box's image once into the pool as
`<box>_vagrant_box_image_0_<mtime>_box.img` and backs every VM disk onto it. It never removes
it, so each rebuilt box would leave ~250 MB behind. These helpers find such volumes and delete
only those that no other volume uses as its backing file.
"""

from __future__ import annotations

import re

from halab.build.command import run_captured

VIRSH = ["virsh", "-c", "qemu:///system"]
POOL = "default"


def _virsh(*args: str) -> str:
    return run_captured([*VIRSH, *args], timeout=60, what=f"virsh {' '.join(args)}").stdout


def base_volume_prefix(box_name: str) -> str:
    return box_name.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"


def pool_exists(pool: str = POOL) -> bool:
    return pool in _virsh("pool-list", "--all", "--name").split()


def list_volumes(pool: str = POOL) -> list[str]:
    """Volume names in `pool` (`vol-list` has no --name, so read its table)."""
    if not pool_exists(pool):
        return []
    lines = [line for line in _virsh("vol-list", pool).splitlines() if line.strip()]
    return [line.split()[0] for line in lines[2:]]


def backing_paths(pool: str = POOL) -> set[str]:
    """Every path some volume in `pool` is backed by (its qcow2 backing file)."""
    refs: set[str] = set()
    for vol in list_volumes(pool):
        xml = _virsh("vol-dumpxml", "--pool", pool, vol)
        for store in re.findall(r"<backingStore>(.*?)</backingStore>", xml, re.S):
            refs.update(re.findall(r"<path>(.*?)</path>", store))
    return refs


def unused_base_volumes(box_name: str, only: set[str] | None = None,
                        pool: str = POOL) -> list[str]:
    """Base volumes of `box_name` that no VM disk backs onto (optionally within `only`)."""
    prefix = base_volume_prefix(box_name)
    refs = {path.rsplit("/", 1)[-1] for path in backing_paths(pool)}
    return [v for v in list_volumes(pool)
            if v.startswith(prefix) and v not in refs and (only is None or v in only)]


def prune_base_volumes(box_name: str, only: set[str] | None = None,
                       pool: str = POOL) -> list[str]:
    """Delete the unused base volumes of `box_name`; return the names deleted."""
    deleted = []
    for vol in unused_base_volumes(box_name, only, pool):
        _virsh("vol-delete", "--pool", pool, vol)
        deleted.append(vol)
    return deleted
