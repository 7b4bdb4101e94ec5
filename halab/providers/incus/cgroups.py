"""Empty cgroups a stopped container leaves on a cgroup v1 (hybrid) host.

With `lxc.mount.auto = cgroup:rw:force` the guest's systemd makes its unit cgroups inside the
container's own (`lxc.payload.<project>_<instance>/system.slice/...`) in every hierarchy, and
they stay after the container stops: the next start then takes `...-1`, `...-2`, and a killed
monitor leaves `lxc.monitor.…` too. They are removed, deepest first and only when empty, for
instances that are off: before they start and when they are deleted. A running container's
cgroups are never touched (its systemd owns the empty ones it keeps).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
KINDS = ("lxc.payload.", "lxc.monitor.")
_SUFFIX = re.compile(r"^(.*)-\d+$")


def owner(name: str, project: str, instances: set[str]) -> str | None:
    """The instance among `instances` whose cgroup `name` is (pure): `lxc.payload.<project>_
    <instance>`, or the same with `-<n>`; None for anything else."""
    for kind in KINDS:
        prefix = f"{kind}{project}_"
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        if rest in instances:
            return rest
        m = _SUFFIX.match(rest)
        if m and m.group(1) in instances:
            return m.group(1)
    return None


def found(project: str, instances: set[str], root: Path = ROOT) -> list[Path]:
    """Those cgroups in every hierarchy (and at the top, on a pure v2 host)."""
    tops = [root, *(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())] \
        if root.is_dir() else []
    out = []
    for top in tops:
        try:
            entries = list(top.iterdir())
        except OSError:
            continue
        out += [e for e in entries if e.is_dir() and owner(e.name, project, instances)]
    return out


def sweep(project: str, stopped: set[str], root: Path = ROOT) -> int:
    """Remove the stopped instances' cgroups, deepest first; a cgroup with a process (or a
    child that has one) is refused by the kernel and stays. Returns how many went."""
    removed = 0
    for top in found(project, stopped, root) if stopped else []:
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
                removed += 1
            except OSError:
                pass
    return removed
