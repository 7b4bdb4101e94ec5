"""One lab host as a systemd-nspawn container: its directory, its disk layers, its process.

A host's directory `home()/containers/<machine>/` holds `upper/` and `work/` (its copy-on-write
layer over the box's rootfs), `root/` (where the overlay is mounted while it runs), `containerd/`
and `kubelet/` (plain directories on the host's filesystem, bound in, so that containerd's own
overlay snapshots are not on an overlay), and `run.sh`, a small supervisor started in its own
session: it mounts the overlay, runs nspawn, starts it again when the guest reboots (nspawn
exits 133, as a VM comes back by itself) and unmounts when the guest stops. There is no systemd
on the host to do this.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from halab import home
from halab.build.command import run_captured
from halab.errors import HalabError
from halab.providers.nspawn.guest import GuestFile

REBOOT_EXIT = 133
SCOPE_SUFFIX = ".scope"  # the container's own cgroup, beside kubelet's cgroupRoot /<machine>
NSPAWN_RUN = Path("/run/systemd/nspawn")


def containers_dir() -> Path:
    return home.home() / "containers"


def machine_dir(machine: str) -> Path:
    return containers_dir() / machine


def lab_machines() -> list[str]:
    d = containers_dir()
    return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def running_anywhere() -> set[str]:
    """The machine names of every systemd-nspawn running on this host, whichever HALAB_HOME
    started it (read from /proc)."""
    out = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"systemd-nspawn"):
            out.update(a[len(b"--machine="):].decode(errors="replace") for a in args
                       if a.startswith(b"--machine="))
    return out


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if str(path.parent).encode() in cmdline else None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def supervisor(machine: str) -> int | None:
    """The running supervisor's PID (checked against its command line), or None."""
    return _read_pid(machine_dir(machine) / "supervisor.pid")


def nspawn_pid(machine: str) -> int | None:
    sup = supervisor(machine)
    if sup is None:
        return None
    for child in _children(sup):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd-nspawn":
                return child
        except OSError:
            continue
    return None


def init_pid(machine: str) -> int | None:
    """The container's PID 1, as seen from the host (nspawn's child)."""
    ns = nspawn_pid(machine)
    kids = _children(ns) if ns else []
    return kids[0] if kids else None


def state(machine: str) -> str:
    if not machine_dir(machine).is_dir():
        return "not created"
    return "running" if supervisor(machine) is not None else "shut off"


def write_guest_files(machine: str, files: list[GuestFile]) -> None:
    """Put the provider's files into the host's own layer (rewritten at each boot)."""
    upper = machine_dir(machine) / "upper"
    for f in files:
        target = upper / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if f.symlink is not None:
            target.symlink_to(f.symlink)
        else:  # made with its mode before its first byte: a host key is among these files
            with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, f.mode),
                           "w") as fh:
                fh.write(f.text)
            target.chmod(f.mode)


def supervisor_script(machine: str, rootfs: Path, bridge: str, hostname: str,
                      console: Path, init: list[str]) -> str:
    d = machine_dir(machine)
    q = shlex.quote
    binds = [f"--bind={d / 'containerd'}:/var/lib/containerd",
             f"--bind={d / 'kubelet'}:/var/lib/kubelet", "--bind=/dev/kmsg"]
    if Path("/lib/modules").is_dir():
        binds.append("--bind-ro=/lib/modules")
    nspawn = " ".join(q(a) for a in [
        "systemd-nspawn", "-D", str(d / "root"), "--keep-unit", "--register=no",
        f"--machine={machine}", f"--hostname={hostname}", f"--network-bridge={bridge}",
        "--capability=all", "--console=read-only", "--link-journal=no",
        "--resolv-conf=off", "--timezone=off", "--kill-signal=SIGRTMIN+3", *binds, *init])
    overlay = (f"lowerdir={rootfs},upperdir={d / 'upper'},workdir={d / 'work'}")
    return f"""#!/bin/sh
# Written by halab: runs container {machine} (see halab/providers/nspawn/machines.py).
exec >>{q(str(console))} 2>&1
echo $$ > {q(str(d / 'supervisor.pid'))}
# Its own cgroup in every hierarchy, v1 and the unified one, so that the systemd inside manages
# only its own subtree: containers' systemds sharing the root removed each other's unit cgroups
# ("Failed to spawn executor: No such file or directory") and filled their BPF program slots.
for mp in $(awk '/ - cgroup2? / {{print $5}}' /proc/self/mountinfo); do
  cg="$mp/{machine}{SCOPE_SUFFIX}"
  mkdir -p "$cg" 2>/dev/null || continue
  if [ -f "$mp/cpuset.cpus" ]; then
    [ -s "$cg/cpuset.cpus" ] || cat "$mp/cpuset.cpus" > "$cg/cpuset.cpus"
    [ -s "$cg/cpuset.mems" ] || cat "$mp/cpuset.mems" > "$cg/cpuset.mems"
  fi
  echo $$ > "$cg/cgroup.procs" 2>/dev/null || true
done
mountpoint -q {q(str(d / 'root'))} || mount -t overlay overlay -o {q(overlay)} {q(str(d / 'root'))}
while :; do
  # nspawn's seccomp filter makes runc fail ("unable to join session keyring") inside.
  SYSTEMD_SECCOMP=0 {nspawn}
  rc=$?
  echo "halab: systemd-nspawn exited $rc at $(date -u +%FT%TZ)"
  [ $rc -eq {REBOOT_EXIT} ] || break
done
umount {q(str(d / 'root'))}
rm -f {q(str(d / 'supervisor.pid'))}
"""


def create(machine: str) -> None:
    d = machine_dir(machine)
    for sub in ("upper", "work", "root", "containerd", "kubelet"):
        (d / sub).mkdir(parents=True, exist_ok=True)


def start(machine: str, script: str) -> None:
    """Start the supervisor in its own session, detached from halab (it outlives it)."""
    NSPAWN_RUN.mkdir(parents=True, exist_ok=True)
    # Without a tmpfs here nspawn stops: "Attempted to remove disk file system under
    # /run/systemd/nspawn/propagate/…" (no systemd on this host mounts it). Under a lock: labs
    # brought up at once (a workshop) must not stack one tmpfs over the one in use.
    with open(containers_dir().parent / "nspawn-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.ismount(NSPAWN_RUN):
            run_captured(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(NSPAWN_RUN)],
                         timeout=30)
    run = machine_dir(machine) / "run.sh"
    run.write_text(script)
    run.chmod(0o755)
    # Not run_captured: the supervisor is a daemon that outlives halab, waited for by no one.
    subprocess.Popen(["sh", str(run)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def halt(machine: str, hard: bool) -> None:
    """Graceful: SIGRTMIN+4 to the container's systemd (poweroff, units stop in order).
    Hard: SIGKILL to its PID 1, which kills every process of the container at once (a
    power cut); nspawn then exits and the supervisor unmounts the disk."""
    pid = init_pid(machine)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL if hard else signal.SIGRTMIN + 4)
    except ProcessLookupError:
        pass


def remove(machine: str) -> None:
    """Delete a stopped container's directory, and the cgroups its kubelet left on the host."""
    d = machine_dir(machine)
    if supervisor(machine) is not None:
        raise HalabError(f"container {machine} is still running", "halt it first")
    root = d / "root"
    if os.path.ismount(root):
        run_captured(["umount", "-l", str(root)], timeout=30, check=False)
    for sub in ("containerd", "kubelet"):
        _umount_below(d / sub)
    _remove_cgroups(f"/{machine}")
    _remove_cgroups(f"/{machine}{SCOPE_SUFFIX}")
    shutil.rmtree(d, ignore_errors=False)


def _umount_below(path: Path) -> None:
    """containerd and kubelet mount inside their directories; a killed container can leave
    those mounts behind on the host's side of the bind."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mp in sorted((m for m in mounts if m.startswith(str(path) + "/")), reverse=True):
        run_captured(["umount", "-l", mp], timeout=30, check=False)


def _remove_cgroups(root: str) -> None:
    """Remove `root` (deepest first) from each cgroup v1 hierarchy; only empty cgroups can go."""
    base = Path("/sys/fs/cgroup")
    for hier in base.iterdir() if base.is_dir() else []:
        top = hier / root.lstrip("/")
        if hier.is_symlink() or not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
