"""Host kernel limits every system container shares (halab's Incus containers).
Privileged containers have no user namespace, so all their root processes count against root's
inotify limits on this host. systemd (PID 1 of each container) and agetty hold about 5 inotify
instances per container at boot, and kubelet and containerd more: at Debian's default of 128
instances the 26th container's systemd dies with "Failed to allocate manager object: Too many
open files". kind's documentation raises the same two limits.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc/sys/fs/inotify")
# At least these, as kind's known-issues page gives them for many nodes. Only raised, never
# lowered: a host that set more keeps it.
WANTED = {"max_user_instances": 1024, "max_user_watches": 524288}


def to_raise(current: dict[str, int]) -> dict[str, int]:
    """The limits below WANTED, with the value each is raised to (pure)."""
    return {k: v for k, v in WANTED.items() if current.get(k, 0) < v}


def ensure(proc: Path = PROC) -> list[str]:
    """Raise the inotify limits that are below WANTED, until the host reboots; one line for each
    raised, to be said (nothing when all are high enough)."""
    current = {k: int((proc / k).read_text()) for k in WANTED}
    said = []
    for key, value in to_raise(current).items():
        (proc / key).write_text(f"{value}\n")
        said.append(f"raised fs.inotify.{key} from {current[key]} to {value} (every container's "
                    "systemd counts against root's; until this host reboots)")
    return said
