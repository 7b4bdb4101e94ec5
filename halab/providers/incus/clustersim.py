"""A three-member Incus cluster on this one machine, for the tests and for trying clusters
(docs/cluster.md): each member is its own incusd with its own state directory, in its own
network namespace, as Incus's own test suite clusters on one machine.

The members' addresses live on a bridge of the simulation's own (`hlsim0`), which no lab
creates or removes: a cluster whose address vanished with a lab's bridge lost its database on
this host (workplace facts, "Incus"). The bridge has no NAT, no route out and no forwarding.
The host's incus client reaches the cluster as the remote `halab-sim`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from halab import home, ui
from halab.build.command import run_captured
from halab.errors import HalabError
from halab.providers.incus import client, config, names, sysctls
from halab.providers.incus.cluster import link_exists

REMOTE = "halab-sim"
UNDERLAY = "eth0"  # each member's link to the others, inside its namespace
BRIDGE = "hlsim0"
SUBNET_PREFIX = "172.30.251"  # /24: the host .1, member N .1N
MEMBERS = ("member1", "member2", "member3")
POOL_SIZE = "30GiB"  # each member's btrfs loop file, sparse
PORT = 8443
READY_TIMEOUT = 60
KILL_WAIT = 10.0  # s: for a killed member's processes to be gone


@dataclass(frozen=True)
class Member:
    name: str
    index: int

    @property
    def netns(self) -> str:
        return f"halab-sim{self.index}"

    @property
    def veth(self) -> str:
        return f"hlsim{self.index}h"

    @property
    def address(self) -> str:
        return f"{SUBNET_PREFIX}.1{self.index}"

    @property
    def directory(self) -> Path:
        return root() / self.name


def root() -> Path:
    return home.home() / "cluster-sim"


def members() -> list[Member]:
    return [Member(name, i) for i, name in enumerate(MEMBERS, start=1)]


def member(name: str) -> Member:
    for m in members():
        if m.name == name:
            return m
    raise HalabError(f"no member {name!r} in the simulated cluster",
                     f"its members are {', '.join(MEMBERS)}")


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A short `ip` or `losetup` command."""
    return run_captured(list(cmd), timeout=60, check=check)


def _incus(m: Member, *args: str, stdin: str | None = None,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """`incus` spoken to one member through its own unix socket (INCUS_DIR)."""
    return client.run(*args, stdin=stdin, check=check, incus_dir=str(m.directory))


def _netns_exists(name: str) -> bool:
    return name in _sh("ip", "netns", "list", check=False).stdout.split()


def _pid(m: Member) -> int | None:
    """The member's incusd, when it runs."""
    try:
        pid = int((m.directory / "incusd.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def running(m: Member) -> bool:
    return _pid(m) is not None


def _network(m: Member) -> None:
    """The member's namespace, wired to the simulation's bridge by a veth (eth0 inside)."""
    if not link_exists(BRIDGE):
        _sh("ip", "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
        _sh("ip", "addr", "add", f"{SUBNET_PREFIX}.1/24", "dev", BRIDGE)
        _sh("ip", "link", "set", BRIDGE, "up")
    if not _netns_exists(m.netns):
        _sh("ip", "netns", "add", m.netns)
    if not link_exists("eth0", m.netns):
        _sh("ip", "link", "add", m.veth, "type", "veth", "peer", "name", "eth0", "netns",
            m.netns)
        _sh("ip", "link", "set", m.veth, "master", BRIDGE, "up")
        _sh("ip", "-n", m.netns, "addr", "add", f"{m.address}/24", "dev", "eth0")
        _sh("ip", "-n", m.netns, "link", "set", "eth0", "up")
        _sh("ip", "-n", m.netns, "link", "set", "lo", "up")


# In the member's own mount namespace: a sysfs of its network namespace (incusd reads its
# interfaces there), with this machine's whole cgroup tree moved under it. `ip netns exec`
# would mount only cgroup2, and on this hybrid host the containers' memory limits then failed.
OWN_SYSFS = """set -e
keep="$1"; shift
mkdir -p "$keep"
mount --rbind /sys/fs/cgroup "$keep"
umount -l /sys
mount -t sysfs sysfs /sys
mount --move "$keep" /sys/fs/cgroup
exec "$@"
"""


def start_member(m: Member) -> None:
    """incusd in the member's namespaces, detached so that it outlives halab, then waited
    for."""
    if running(m):
        return
    _network(m)
    m.directory.mkdir(parents=True, exist_ok=True)
    log = m.directory / "incusd.log"
    env = {**os.environ, "INCUS_DIR": str(m.directory)}
    # A daemon that outlives halab: not a command to wait for, so not run_captured. Each
    # program execs the next, so the pid is incusd's.
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{m.netns}", "unshare", "--mount", "--propagation",
         "slave", "sh", "-c", OWN_SYSFS, "sh", str(m.directory / "cgroup-tree"),
         str(client.INCUSD), "--group", "incus-admin", f"--logfile={log}"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    (m.directory / "incusd.pid").write_text(f"{proc.pid}\n")
    ready = _incus(m, "admin", "waitready", f"--timeout={READY_TIMEOUT}", check=False)
    if ready.returncode != 0:
        raise HalabError(f"{m.name}'s incusd did not answer within {READY_TIMEOUT}s",
                         f"see {log}; `halab cluster-sim down` removes the simulation")


def _preseed_bootstrap(m: Member) -> dict:
    return {"config": {"core.https_address": f"{m.address}:{PORT}",
                       "images.auto_update_interval": "0"},
            "storage_pools": [{"name": "halab", "driver": "btrfs",
                               "config": {"size": POOL_SIZE},
                               "description": "halab: lab hosts"}],
            "cluster": {"server_name": m.name, "enabled": True}}


def _preseed_join(m: Member, first: Member, token: str, cert: str) -> dict:
    return {"cluster": {
        "enabled": True, "server_name": m.name, "server_address": f"{m.address}:{PORT}",
        "cluster_address": f"{first.address}:{PORT}", "cluster_certificate": cert,
        "cluster_token": token,
        "member_config": [{"entity": "storage-pool", "name": "halab", "key": "size",
                           "value": POOL_SIZE},
                          {"entity": "storage-pool", "name": "halab", "key": "source",
                           "value": ""}]}}


def cluster_members() -> dict[str, str]:
    """Each member the cluster knows and its status ("Online", "Offline", ...), asked of the
    first member that answers; {} when none does."""
    for m in members():
        if not running(m):
            continue
        proc = _incus(m, "cluster", "list", "--format", "json", check=False)
        if proc.returncode == 0:
            return {c["server_name"]: c["status"] for c in json.loads(proc.stdout)}
    return {}


def up(on_line=ui.info) -> None:
    """Create what is missing: the bridge, three namespaces and daemons, the cluster and the
    client's remote. Idempotent: a member that was killed is started again."""
    first, *others = members()
    t0 = time.monotonic()
    start_member(first)
    if not (first.directory / "cluster.crt").exists():
        _incus(first, "admin", "init", "--preseed",
               stdin=json.dumps(_preseed_bootstrap(first)))
        on_line(f"{first.name}: bootstrapped the cluster at {first.address}:{PORT}")
    for m in others:
        joined = (m.directory / "cluster.crt").exists()
        start_member(m)
        if joined:
            continue
        token = _incus(first, "cluster", "add", m.name, "--quiet").stdout.strip()
        cert = (first.directory / "cluster.crt").read_text()
        _incus(m, "admin", "init", "--preseed",
               stdin=json.dumps(_preseed_join(m, first, token, cert)))
        on_line(f"{m.name}: joined at {m.address}:{PORT}")
    _ensure_remote(first)
    _sysctl_copies()
    on_line(f"cluster {REMOTE}: {len(MEMBERS)} members up in {time.monotonic() - t0:.1f}s")


def _sysctl_copies() -> None:
    """What each real member is given by hand (docs/cluster.md): the copies of the sysctls
    kubelet writes, bound over /proc/sys/... in its lab hosts. The members share this
    machine's filesystem, so once for all."""
    sysctls.copies(config.MEMBER_SYSCTL_DIR)


def _ensure_remote(first: Member) -> None:
    if REMOTE in _remotes():
        return
    token = _incus(first, "config", "trust", "add", "halab", "--quiet").stdout.strip()
    client.run("remote", "add", REMOTE, token, "--accept-certificate")


def _remotes() -> dict:
    return client.query("remote", "list")


def kill_member(m: Member) -> int:
    """What losing the machine looks like: its incusd and every process of its containers
    killed at once (SIGKILL). Returns how many processes were killed."""
    doomed = _member_processes(m)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + KILL_WAIT
    while time.monotonic() < deadline and any(_alive(p) for p in doomed):
        time.sleep(0.2)
    return len(doomed)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _member_processes(m: Member) -> list[int]:
    """The member's incusd, and every process in its network namespace (its containers' monitors
    and everything inside them, whose own namespaces are below it: their lxc monitors are in
    the member's)."""
    pids = set(_sh("ip", "netns", "pids", m.netns, check=False).stdout.split())
    pid = _pid(m)
    if pid is not None:
        pids.add(str(pid))
    pids |= _container_processes(m)
    return sorted(int(p) for p in pids if p.isdigit() and int(p) != os.getpid())


def _container_processes(m: Member) -> set[str]:
    """Processes whose command line names the member's directory (lxc monitors), and their
    descendants (each container's init and everything it runs), from one read of /proc."""
    marker = str(m.directory)
    children: dict[str, list[str]] = {}
    roots = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue
        children.setdefault(ppid, []).append(d.name)
        if marker in cmdline.decode(errors="replace"):
            roots.add(d.name)
    out: set[str] = set()
    todo = list(roots)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def labs_on_it() -> list[str]:
    """The labs whose project is on the simulated cluster (asked of a member that answers)."""
    for m in members():
        if running(m):
            proc = _incus(m, "project", "list", "--format", "json", check=False)
            if proc.returncode == 0:
                return sorted(p["config"][names.LAB_KEY] for p in json.loads(proc.stdout)
                              if (p.get("config") or {}).get(names.LAB_KEY))
    return []


def down(on_line=ui.info, force: bool = False) -> None:
    """Remove every part of the simulation: daemons and their containers, namespaces, veths,
    the bridge, the remote and the members' directories (their pools' loop files too). Refused
    while labs are on it (their state would be left pointing at nothing), unless `force`."""
    labs = labs_on_it()
    if labs and not force:
        raise HalabError(f"labs are still on the simulated cluster: {', '.join(labs)}",
                         f"`halab down {labs[0]} --yes` first (each of them), or "
                         "`halab cluster-sim down --force` to remove them with it")
    for m in members():
        n = kill_member(m)
        if n:
            on_line(f"{m.name}: killed {n} processes")
        if _netns_exists(m.netns):
            _sh("ip", "netns", "del", m.netns)
        if link_exists(m.veth):
            _sh("ip", "link", "del", m.veth)
    if link_exists(BRIDGE):
        _sh("ip", "link", "del", BRIDGE)
    if REMOTE in _remotes():
        client.run("remote", "remove", REMOTE)
    _release_loops()
    for d in (root(), config.MEMBER_SYSCTL_DIR):
        if d.exists():
            shutil.rmtree(d)
    on_line("cluster simulation removed")


def _release_loops() -> None:
    """Loop devices still holding a member's pool file (a mount namespace died with its
    members, so nothing is mounted; the loop can be left attached)."""
    out = _sh("losetup", "--json", "--list", check=False).stdout
    for dev in (json.loads(out) if out.strip() else {}).get("loopdevices", []):
        if str(root()) in (dev.get("back-file") or ""):
            _sh("losetup", "-d", dev["name"], check=False)


def leftovers() -> list[str]:
    """What of the simulation exists on this machine, in words (for the tests and `status`)."""
    out = [f"network namespace {m.netns}" for m in members() if _netns_exists(m.netns)]
    out += [f"interface {i}" for i in [BRIDGE, *(m.veth for m in members())]
            if link_exists(i)]
    out += [f"incusd of {m.name} (pid {_pid(m)})" for m in members() if running(m)]
    if REMOTE in _remotes():
        out.append(f"incus remote {REMOTE}")
    out += [f"directory {d}" for d in (root(), config.MEMBER_SYSCTL_DIR) if d.exists()]
    return out


def revive(m: Member, timeout: float = READY_TIMEOUT) -> float:
    """Start a lost member's incusd again and wait until it serves requests and the cluster
    says it is Online; the seconds it took. (Killed less than the cluster's offline threshold
    ago, it was never marked offline; its daemon answers `waitready` before it serves, "Server
    isn't ready yet".)"""
    t0 = time.monotonic()
    start_member(m)
    deadline = t0 + timeout
    while (_incus(m, "list", "--all-projects", "--format", "json", check=False).returncode
           or cluster_members().get(m.name) != "Online"):
        if time.monotonic() > deadline:
            raise HalabError(f"{m.name} is not Online {timeout:.0f}s after its incusd started",
                             f"see {m.directory / 'incusd.log'}; `incus cluster list {REMOTE}:`")
        time.sleep(0.5)
    return time.monotonic() - t0
