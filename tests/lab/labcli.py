"""What the lab tests share: the halab CLI as a user runs it, virsh, and testinfra hosts.

A plain module beside the lab tests (pytest puts this directory on `sys.path`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import testinfra

from halab.home import labs_dir
from halab.remote.runner import testinfra_host

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def halab(*args: str, timeout: int = 2400) -> subprocess.CompletedProcess[str]:
    """`halab ARGS…` in the project root; its output is printed for the test report."""
    proc = subprocess.run([sys.executable, "-m", "halab.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    print(proc.stdout, proc.stderr, sep="\n")
    return proc


def halab_together(commands: dict[T, list[str]], timeout: int = 2400
                   ) -> dict[T, tuple[int, str]]:
    """Several `halab ARGS…` at the same time (e.g. two labs brought up side by side); for
    each key its exit status and output (stderr folded in), printed for the test report."""
    procs = {key: subprocess.Popen([sys.executable, "-m", "halab.cli", *args], cwd=ROOT,
                                   text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
             for key, args in commands.items()}
    out = {}
    for key, proc in procs.items():
        text, _ = proc.communicate(timeout=timeout)
        print(text)
        out[key] = (proc.returncode, text)
    return out


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True,
                          text=True, timeout=60, check=True).stdout


def virsh_names() -> set[str]:
    """Every libvirt domain and network on this host."""
    return set(virsh("list", "--all", "--name").split()
               + virsh("net-list", "--all", "--name").split())


def lab_objects(lab: str) -> list[str]:
    """Every libvirt domain, network and volume whose name belongs to `lab`."""
    vols = [line.split()[0] for line in virsh("vol-list", "default").splitlines()[2:]
            if line.strip()]
    return sorted(n for n in [*virsh_names(), *vols] if n.startswith(f"halab-{lab}"))


def host(lab: str, name: str) -> testinfra.host.Host:
    """A lab VM over SSH, with the lab's own ssh_config (as `halab ssh` uses it)."""
    return testinfra_host(name, labs_dir() / lab / "ssh_config")
