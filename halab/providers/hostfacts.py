"""Facts about this host for the preflight: memory, disk, routes (read, never changed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from ipaddress import IPv4Network
from pathlib import Path

from halab.config.preflight import HostFacts

IMAGES = Path("/var/lib/libvirt/images")


def mem_available_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def routes() -> list[tuple[str, IPv4Network]]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show"], capture_output=True, text=True,
                         timeout=10)
    found = []
    for r in json.loads(out.stdout or "[]"):
        dst = r.get("dst")
        if dst and dst != "default":
            found.append((r.get("dev", "?"), IPv4Network(dst, strict=False)))
    return found


def gather(libvirt_networks: dict[str, tuple[IPv4Network, str]]) -> HostFacts:
    where = IMAGES if IMAGES.exists() else Path("/")
    return HostFacts(mem_available_mib=mem_available_mib(),
                     disk_free_gib=shutil.disk_usage(where).free / 2**30,
                     routes=routes(), libvirt_networks=libvirt_networks,
                     cores=os.cpu_count() or 0)


def missing_packages(names: list[str]) -> list[str]:
    """The Debian packages among `names` that are not installed (dpkg's own answer)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
                         capture_output=True, text=True, timeout=30)
    installed = {line.split()[0] for line in out.stdout.splitlines()
                 if line.endswith(" installed")}
    return [n for n in names if n not in installed]
