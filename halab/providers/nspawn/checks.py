"""Before any container or bridge is created: the engine, the kernel features, the cgroup
layout and name clashes, each refused with the fix (nothing is half-created)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.providers.nspawn import bridge


def engine() -> None:
    if shutil.which("systemd-nspawn") is None:
        raise HalabError("systemd-nspawn is not installed (the container provider's engine)",
                         "run `make deps` (Debian's systemd-container), or choose VMs: "
                         "`halab up --provider vm`")
    if os.geteuid() != 0:
        raise HalabError("system containers need root (overlay mounts, bridges, nspawn)",
                         "run halab as root, or choose VMs: `--provider vm`")


def cgroup_layout(mountinfo: str) -> str:
    """"v1" when cgroup v1 controller hierarchies are mounted (a hybrid host), "v2" when
    only the unified hierarchy is (pure)."""
    if any(" - cgroup " in line for line in mountinfo.splitlines()):
        return "v1"
    return "v2"


def kernel_problems(filesystems: str, mountinfo: str) -> list[str]:
    """What this kernel lacks for system containers (pure, over /proc files)."""
    out = []
    if "overlay" not in filesystems.split():
        out.append("the kernel has no overlayfs (each container's disk is an overlay on the box)"
                   ": load it with `modprobe overlay`")
    if cgroup_layout(mountinfo) == "v2":
        out.append("this host has only the cgroup v2 hierarchy; halab's containers are proven on "
                   "cgroup v1 (hybrid) hosts only so far: use `--provider vm` here")
    return out


def before_create(plan: Plan, new: list[HostPlan]) -> None:
    problems = kernel_problems(Path("/proc/filesystems").read_text(),
                               Path("/proc/self/mountinfo").read_text())
    why = bridge.clash(plan.lab)
    if why:
        problems.append(f"{why}: rename the lab, or remove that interface")
    if new and not Path("/dev/kmsg").exists():
        problems.append("/dev/kmsg is missing (kubelet in a container reads it)")
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise HalabError(f"cannot create lab {plan.lab!r}'s containers:\n{listing}")
