"""What one container host costs this machine, as Incus keeps it: its cgroups (memory, CPU
time) and what it adds on disk. Shared by the benches that measure labs.

Where Incus keeps a host (this host's cgroup v1 hybrid layout): cgroup
`lxc.payload.<project>_<instance>`; on disk its btrfs subvolume in halab's pool, of which only
the extents not shared with the box image are its own.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from halab.providers.incus import names as incus_names

CGROUPS = Path("/sys/fs/cgroup")
INCUS_POOL = Path("/var/lib/incus/storage-pools") / incus_names.POOL
MIB = 2**20


def cgroup(lab: str, provider: str, domain: str, controller: str) -> Path:
    """The host's own cgroup in one v1 hierarchy (memory, cpuacct)."""
    return CGROUPS / controller / f"lxc.payload.{incus_names.project(lab)}_{domain}"


def memory_mib(lab: str, provider: str, domain: str) -> tuple[float, float]:
    """(usage, rss) in MiB: the memory cgroup's whole charge (page cache included) and the
    anonymous memory of its processes (`total_rss` of memory.stat)."""
    d = cgroup(lab, provider, domain, "memory")
    usage = int((d / "memory.usage_in_bytes").read_text())
    stat = dict(ln.split() for ln in (d / "memory.stat").read_text().splitlines())
    return usage / MIB, int(stat["total_rss"]) / MIB


def cpu_ns(lab: str, provider: str, domain: str) -> int:
    """CPU time the host's processes have used so far (cpuacct), in ns."""
    return int((cgroup(lab, provider, domain, "cpuacct") / "cpuacct.usage").read_text())


def disk_mib(lab: str, provider: str, domain: str) -> float:
    """What the host adds on disk over the box it was made from, in MiB."""
    subprocess.run(["sync"], check=True, timeout=120)
    vol = INCUS_POOL / "containers" / f"{incus_names.project(lab)}_{domain}"
    out = subprocess.run(["btrfs", "filesystem", "du", "-s", "--raw", str(vol)],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    # Total  Exclusive  Set shared  Filename: the second column is the host's own.
    row = next(ln for ln in out.splitlines() if ln.rstrip().endswith(str(vol)))
    return int(re.split(r"\s+", row.strip())[1]) / MIB
