"""The files a lab host's profile binds over the sysctls kubelet writes (config.SYSCTLS): copies
with this machine's values, so kubelet's writes never reach the kernel the hosts share."""

from __future__ import annotations

from pathlib import Path

from halab.providers.incus import config


def copies(d: Path) -> Path:
    """`d` holding a copy of each such sysctl (made once: kubelet's writes are kept); `d`."""
    d.mkdir(parents=True, exist_ok=True)
    for s in config.SYSCTLS:
        f = d / config.sysctl_file(s)
        if not f.exists():
            f.write_text(Path(f"/proc/sys/{s}").read_text())
    return d
