"""Before any instance, project or bridge is created: the kernel features, the names and the
clashes, each refused with the fix (nothing is half-created)."""

from __future__ import annotations

import os
from pathlib import Path

from halab.config.plan import Plan
from halab.errors import HalabError
from halab.providers.incus import names, objects


def kernel_problems(filesystems: str, kmsg: bool) -> list[str]:
    """What this kernel lacks for halab's Incus containers (pure, over /proc/filesystems)."""
    out = []
    if "btrfs" not in filesystems.split():
        out.append("the kernel has no btrfs (halab's Incus pool, for copy-on-write clones of the "
                   "box): load it with `modprobe btrfs`")
    if not kmsg:
        out.append("/dev/kmsg is missing (kubelet in a container reads it)")
    return out


def clash_problems(lab: str, bridge: str, networks: list[dict],
                   project_labs: dict[str, str]) -> list[str]:
    """The lab's bridge or project name taken by something that is not this lab's (pure):
    `project_labs` maps each project to the lab it says it belongs to ("" for none)."""
    out = []
    for n in networks:
        if n["name"] == bridge and (n.get("config") or {}).get(names.LAB_KEY) != lab:
            out.append(f"a network {bridge!r} already exists and is not lab {lab!r}'s: rename "
                       "the lab, or remove that network")
    project = names.project(lab)
    if project in project_labs and project_labs[project] != lab:
        out.append(f"an Incus project {project!r} already exists and is not lab {lab!r}'s: "
                   "rename the lab, or remove that project")
    return out


def host_ready() -> None:
    """Root, and the kernel features the pool and the hosts need: checked by `prepare`, before
    halab's pool or anything of a lab is created (and so by `halab doctor`)."""
    if os.geteuid() != 0:
        raise HalabError("halab's Incus containers are privileged: halab must run as root",
                         "run halab as root, or choose VMs: `--provider vm`")
    problems = kernel_problems(Path("/proc/filesystems").read_text(), Path("/dev/kmsg").exists())
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise HalabError(f"this kernel cannot run halab's containers:\n{listing}",
                         "or choose VMs: `--provider vm`")


def before_create(plan: Plan, bridge: str, remote: str | None = None) -> None:
    """The lab's project and bridge names free, or this lab's."""
    labs = {p["name"]: (p.get("config") or {}).get(names.LAB_KEY, "")
            for p in objects.project_list(remote)}
    problems = clash_problems(plan.lab, bridge, objects.networks(remote), labs)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise HalabError(f"cannot create lab {plan.lab!r}'s containers:\n{listing}")
