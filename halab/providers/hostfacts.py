"""Facts about this host for the preflight: memory, disk, routes (read, never changed)."""

from __future__ import annotations

import json
import os
import shutil
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from halab.build.command import run_captured
from halab.config.preflight import HostFacts
from halab.errors import HalabError

IMAGES = Path("/var/lib/libvirt/images")


def mem_available_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def _ip_json(*args: str) -> list[dict]:
    out = run_captured(["ip", "-j", "-4", *args], timeout=10, check=False)
    return json.loads(out.stdout or "[]")


def routes() -> list[tuple[str, IPv4Network]]:
    found = []
    for r in _ip_json("route", "show"):
        dst = r.get("dst")
        if dst and dst != "default":
            found.append((r.get("dev", "?"), IPv4Network(dst, strict=False)))
    return found


def addresses() -> list[tuple[str, IPv4Interface]]:
    """Every IPv4 address of this host with its device and prefix (`ip -j -4 addr`)."""
    return [(link.get("ifname", "?"), IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
            for link in _ip_json("addr", "show") for a in link.get("addr_info", [])
            if a.get("local") and "prefixlen" in a]


def lab_networks() -> tuple[dict[str, tuple[IPv4Network, str]], str]:
    """Every lab's network here, asked without starting a daemon: the container labs' bridges
    when incusd answers, and libvirt's networks when libvirtd answers. Also a few words on
    what was asked (a bridge not asked for still counts, as a route of this host)."""
    from halab.providers.incus import client, objects

    found: dict[str, tuple[IPv4Network, str]] = {}
    said = []
    try:
        if client.answering():
            found.update(objects.lab_networks())
        else:
            said.append("Incus is not running: its bridges count as routes")
    except HalabError:
        said.append("Incus is not installed")
    try:
        from halab.providers.vagrant_libvirt.domains import Libvirt

        lv = Libvirt()
    except (ImportError, HalabError):
        return found, "; ".join([*said, "libvirt is not running: its networks count as routes"])
    try:
        found.update(lv.network_subnets())
    finally:
        lv.close()
    return found, "; ".join([*said, "libvirt's included"])


def gather(libvirt_networks: dict[str, tuple[IPv4Network, str]]) -> HostFacts:
    where = IMAGES if IMAGES.exists() else Path("/")
    return HostFacts(mem_available_mib=mem_available_mib(),
                     disk_free_gib=shutil.disk_usage(where).free / 2**30,
                     routes=routes(), libvirt_networks=libvirt_networks,
                     cores=os.cpu_count() or 0, addresses=addresses())


def missing_packages(names: list[str]) -> list[str]:
    """The Debian packages among `names` that are not installed (dpkg's own answer)."""
    out = run_captured(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
                       timeout=30, check=False)  # exit 1 when one of them is unknown to dpkg
    installed = {line.split()[0] for line in out.stdout.splitlines()
                 if line.endswith(" installed")}
    return [n for n in names if n not in installed]
