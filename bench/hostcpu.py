"""A lab host's CPU time as its provider counts it, shared by the benches that compare idle cost."""

from __future__ import annotations

import re
import subprocess

import hostusage

from halab.session.context import Lab


def cpu_ns(lab: Lab, host: str) -> int:
    """CPU time the host has used so far, in ns: the container's cpuacct cgroup (Incus), or the
    VM's cpu.time from libvirt."""
    domain = next(h.domain for h in lab.plan.hosts if h.name == host)
    if lab.plan.provider == "container":
        return hostusage.cpu_ns(lab.plan.lab, lab.plan.provider, domain)
    out = subprocess.run(["virsh", "-c", "qemu:///system", "domstats", "--cpu-total", domain],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"cpu\.time=(\d+)", out).group(1))
