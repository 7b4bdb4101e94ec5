"""The host's hypervisor side: make sure libvirt runs, and find out whether KVM really works.

There may be no systemd on the host, so the daemons are started by hand. `/dev/kvm` existing
proves nothing (on some hosts a KVM guest hangs right after the bootloader), so `detect_accel`
boots a real kernel under KVM and watches its console before trusting it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
from pathlib import Path

from halab import home, ui
from halab.build.command import run_captured
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll

LIBVIRT_SOCK = Path("/var/run/libvirt/libvirt-sock")
VIRTLOGD_SOCK = Path("/var/run/libvirt/virtlogd-sock")
# Printed late in a kernel's boot, after the CPU, memory and timers are up.
KERNEL_PROGRESS = (b"Freeing unused kernel", b"Run /init as init process", b"Run /sbin/init")


def _sock_alive(path: Path) -> bool:
    """True when something accepts connections on the unix socket `path`."""
    if not path.exists():
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _start(daemon: str, sock: Path, timeout: float) -> None:
    exe = shutil.which(daemon) or shutil.which(daemon, path="/usr/sbin:/sbin")
    if not exe:
        raise HalabError(f"{daemon} is not installed", "run `make deps` (libvirt-daemon-system)")
    if os.geteuid() != 0:
        raise HalabError(f"{daemon} is not running and only root can start it",
                         f"start it as root: `{daemon} -d`")
    run_captured([exe, "-d"], timeout=30, what=f"`{daemon} -d`",
                 hint=f"see /var/log/libvirt/ and try `{daemon} -d` by hand")
    try:
        poll(lambda why: True if _sock_alive(sock) else None, timeout=timeout, interval=0.2,
             what=f"{daemon}'s socket {sock}")
    except Timeout:
        raise HalabError(f"{daemon} started but {sock} did not answer within {timeout:.0f}s",
                         f"check /var/log/libvirt/ and run `{daemon} -d` by hand") from None


def libvirt_running() -> bool:
    """True when libvirtd answers on its socket (no daemon is started)."""
    return _sock_alive(LIBVIRT_SOCK)


def ensure_daemons(timeout: float = 20.0) -> None:
    """Start virtlogd and libvirtd when their sockets do not answer (no systemd needed).

    Returns once `qemu:///system` can be reached; raises HalabError after `timeout` seconds.
    """
    if not _sock_alive(VIRTLOGD_SOCK):
        ui.info("starting virtlogd")
        _start("virtlogd", VIRTLOGD_SOCK, timeout)
    if not _sock_alive(LIBVIRT_SOCK):
        ui.info("starting libvirtd")
        _start("libvirtd", LIBVIRT_SOCK, timeout)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def probe_kvm(kernel: Path, initrd: Path, timeout: float = 20.0) -> tuple[bool, str]:
    """Boot `kernel` + `initrd` under `-accel kvm` for at most `timeout` s; (works, why)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return False, "qemu-system-x86_64 is not installed"
    cmd = [qemu, "-accel", "kvm", "-m", "256", "-smp", "1", "-nographic", "-no-reboot",
           "-nodefaults", "-serial", "stdio", "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", "console=ttyS0 panic=-1"]
    return watch_console(cmd, timeout)


def watch_console(cmd: list[str], timeout: float) -> tuple[bool, str]:
    """Run `cmd` (a kernel booting, its console on stdout) until it prints one of
    KERNEL_PROGRESS, exits, or `timeout` seconds pass; then it is killed. (booted, why)."""
    # Not run_captured: the console is read while the kernel boots, not once qemu has exited.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    console = _Console(proc.stdout.fileno())

    def no_progress() -> str:
        return f"a kernel under KVM made no progress in {timeout:g}s ({console.last_line()})"

    def booted(why: Reason) -> tuple[bool, str] | None:
        console.read()
        if any(marker in console.seen for marker in KERNEL_PROGRESS):
            return True, "a kernel booted under KVM"
        if console.closed:  # qemu exited
            return False, no_progress()
        why(console.last_line())
        return None

    try:
        return poll(booted, timeout=timeout, interval=0.5, what="a kernel to boot under KVM",
                    sleep=console.wait)
    except Timeout:
        return False, no_progress()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


class _Console:
    """A console read as it comes: its last 64 KiB, and whether it has closed."""

    KEEP = 65536

    def __init__(self, fd: int) -> None:
        self.fd, self.seen, self.closed = fd, b"", False

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, less when there is something to read."""
        select.select([self.fd], [], [], seconds)

    def read(self) -> None:
        if self.closed or not select.select([self.fd], [], [], 0)[0]:
            return
        chunk = os.read(self.fd, self.KEEP)
        self.closed = not chunk
        self.seen = (self.seen + chunk)[-self.KEEP:]

    def last_line(self) -> str:
        lines = self.seen.decode(errors="replace").strip().splitlines()
        return lines[-1][:120] if lines else "no output"


def detect_accel(kernel: Path | None = None, initrd: Path | None = None,
                 timeout: float = 20.0, refresh: bool = False, quiet: bool = False) -> str:
    """"kvm" when a kernel really boots under KVM here, else "tcg" (plain qemu, slower).

    The answer is remembered per host boot in `home()/accel.json`; `refresh=True` probes again;
    `quiet` leaves the warning to the caller (choosing containers instead is no degradation).
    Without a kernel (no box built yet) KVM cannot be proven, so the answer is "tcg".
    """
    cache = home.home() / "accel.json"
    boot = _boot_id()
    if not refresh:
        try:
            data = json.loads(cache.read_text())
            if data.get("boot_id") == boot and data.get("accel") in ("kvm", "tcg"):
                return data["accel"]
        except (OSError, ValueError):
            pass
    if kernel is None or initrd is None:
        from halab.artifacts import boxes

        paths = boxes.kernel_paths()
        if paths is None:
            if quiet:
                return "tcg"
            ui.warn("no box kernel to probe KVM with yet: using TCG (software emulation)")
            return "tcg"
        kernel, initrd = paths
    ok, why = probe_kvm(kernel, initrd, timeout)
    accel = "kvm" if ok else "tcg"
    if not ok and not quiet:
        ui.warn(f"KVM is not usable ({why}): using TCG software emulation, VMs will be slower")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"boot_id": boot, "accel": accel, "why": why}) + "\n")
    return accel
