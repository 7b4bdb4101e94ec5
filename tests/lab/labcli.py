"""What the lab tests share: the halab CLI as a user runs it, what the provider holds of a lab
(libvirt's objects, or Incus's instances, projects and bridges), and testinfra hosts.

A plain module beside the lab tests (pytest puts this directory on `sys.path`). The lab tests run
on system containers unless PROVIDER=vm is set (`make test PROVIDER=vm`): `up` is given
`--provider` from it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import testinfra
from labfiles import ROOT

from halab.config import plan
from halab.home import labs_dir
from halab.remote.runner import testinfra_host

T = TypeVar("T")
PROVIDER = os.environ.get("PROVIDER") or "container"


def _with_provider(args: tuple[str, ...] | list[str]) -> list[str]:
    args = list(args)
    if args and args[0] == "up" and "--provider" not in args:
        args += ["--provider", PROVIDER]
    return args


def halab(*args: str, timeout: int = 2400, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """`halab ARGS…` in the project root, with `env` added to the environment; its output is
    printed for the test report. Tables are 200 columns wide, so a row stays on one line."""
    proc = subprocess.run([sys.executable, "-m", "halab.cli", *_with_provider(args)], cwd=ROOT,
                          text=True, env={**os.environ, "COLUMNS": "200", **(env or {})},
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    print(proc.stdout, proc.stderr, sep="\n")
    return proc


def halab_together(commands: dict[T, list[str]], timeout: int = 2400
                   ) -> dict[T, tuple[int, str]]:
    """Several `halab ARGS…` at the same time (e.g. two labs brought up side by side); for
    each key its exit status and output (stderr folded in), printed for the test report."""
    procs = {key: subprocess.Popen([sys.executable, "-m", "halab.cli", *_with_provider(args)],
                                   cwd=ROOT,
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


def incus(*args: str) -> list[dict]:
    """`incus ARGS… --format json`, as a student would type it."""
    return json.loads(subprocess.run(["incus", *args, "--format", "json"], capture_output=True,
                                     text=True, timeout=60, check=True).stdout or "[]")


def incus_answers() -> bool:
    """incusd is up (halab starts it at the first `up`; before that nothing of a lab exists)."""
    return subprocess.run(["incus", "admin", "waitready", "--timeout=1"], capture_output=True,
                          timeout=30).returncode == 0


def incus_instances() -> dict[str, str]:
    """Every instance in every Incus project and its status ("Running", "Stopped", …)."""
    if not incus_answers():
        return {}
    return {i["name"]: i["status"] for i in incus("list", "--all-projects")}


def _containers() -> set[str]:
    """Every Incus instance (any project), every Incus project and every halab bridge by the lab
    it says it belongs to (`halab-<lab>`), as Incus itself lists them."""
    if not incus_answers():
        return set()
    nets = {f"halab-{lab}" for n in incus("network", "list")
            if (lab := (n.get("config") or {}).get("user.halab.lab"))}
    return set(incus_instances()) | {p["name"] for p in incus("project", "list")} | nets


def virsh_names() -> set[str]:
    """Every machine and network of the provider on this host (libvirt domains and networks,
    or containers and bridges)."""
    if PROVIDER == "container":
        return _containers()
    return set(virsh("list", "--all", "--name").split()
               + virsh("net-list", "--all", "--name").split())


def lab_objects(lab: str) -> list[str]:
    """Every machine, network and disk whose name belongs to `lab`: its network or bridge
    `halab-<lab>`, and what starts with `halab-<lab>--` (not `halab-<lab>-s01--`, a student's)."""
    vols = [] if PROVIDER == "container" else [
        line.split()[0] for line in virsh("vol-list", "default").splitlines()[2:] if line.strip()]
    return sorted(n for n in [*virsh_names(), *vols]
                  if n == f"halab-{lab}" or n.startswith(plan.machine_prefix(lab)))


def machine(lab: str, host: str) -> str:
    """A host's container or VM name, as halab gives it."""
    return plan.machine_name(lab, host)


def machine_state(name: str) -> str:
    """"running" or "shut off" (or "not created"), as the provider sees machine `name`."""
    if PROVIDER == "container":
        status = incus_instances().get(name)
        return {None: "not created", "Running": "running", "Stopped": "shut off"}.get(
            status, (status or "").lower())
    return virsh("domstate", name).strip()


def host(lab: str, name: str) -> testinfra.host.Host:
    """A lab VM over SSH, with the lab's own ssh_config (as `halab ssh` uses it)."""
    return testinfra_host(name, labs_dir() / lab / "ssh_config")


def assert_up_changes_nothing(topology: Path) -> None:
    """Another `halab up` on a healthy lab: exit 0 and "0 changes"."""
    import re

    proc = halab("up", str(topology))
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"is up\S* — (\d+) changes?", proc.stdout)
    assert m and m.group(1) == "0", proc.stdout


def assert_down_leaves_nothing(lab: str) -> None:
    """`halab down LAB --yes`: no machine, network or disk of the lab, and no lab directory."""
    proc = halab("down", lab, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lab_objects(lab) == []
    assert not (labs_dir() / lab).exists()


def status_row(status: str, name: str) -> list[str]:
    """A host's non-empty cells in `halab status` output: host, role, zone, state, ip, …"""
    line = next(x for x in status.splitlines() if re.match(rf"\W*{re.escape(name)}\s", x))
    return [c.strip() for c in re.split(r"[│|]", line) if c.strip()]


def small_topology(name: str, subnet: str, description: str, management: str = "") -> str:
    """The smallest lab a lab test needs of its own: lb1 (nginx) in front of one etcd member,
    on `subnet` (e.g. "10.198.9"; .11 and .21), with no kube tier."""
    networks = f"subnet: {subnet}.0/24" + (f", management: {management}" if management else "")
    return (f"name: {name}\ndescription: {description}\nnetwork: {{{networks}}}\n"
            "defaults: {memory: 512}\nlb: {kind: nginx}\nkubernetes: {enabled: false}\n"
            f"hosts:\n  - {{name: lb1, role: lb, ip: {subnet}.11}}\n"
            f"  - {{name: master1, role: master, ip: {subnet}.21}}\n")
