"""Vagrant, through python-vagrant, run in the lab's directory `.halab/<lab>/`.

The environment tells the rendered Vagrantfile which libvirt driver to use (kvm only when a KVM
guest was seen to boot) and which key logs in.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import vagrant

from halab import home, hostlock
from halab.errors import HalabError

# Lines worth showing while VMs boot ("==> master1: Starting domain."), not every detail
# (" -- Memory: 512M") nor Vagrant's advice about box versions.
PROGRESS = re.compile(r"^==> (\S+): (?! -- |No version detected|generating a local metadata|"
                      r"See https://)(.+)$")


def environment(accel: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HALAB_LIBVIRT_DRIVER": "kvm" if accel == "kvm" else "qemu",
        "HALAB_HOME": str(home.home()),
        "HALAB_SSH_KEY": str(home.ssh_key_path()),
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
        "VAGRANT_CHECKPOINT_DISABLE": "1",
    })
    return env


class VagrantLab:
    def __init__(self, lab_dir: Path, accel: str = "tcg"):
        self.lab_dir = Path(lab_dir)
        # Vagrant's full output goes to vagrant.log; errors quote its last lines.
        self.log = self.lab_dir / "vagrant.log"
        log_cm = lambda: open(self.log, "a", encoding="utf-8")  # noqa: E731
        self.v = vagrant.Vagrant(root=str(self.lab_dir), env=environment(accel),
                                 out_cm=log_cm, err_cm=log_cm)

    def _failure(self, what: str, code: int, tail: list[str] | None = None) -> HalabError:
        lines = tail or []
        if self.log.exists():
            lines = lines + self.log.read_text(errors="replace").splitlines()[-12:]
        last = "\n".join(f"    | {ln}" for ln in lines[-20:])
        return HalabError(f"`vagrant {what}` failed (exit {code}); last output:\n{last}",
                          f"full log: {self.log}; fix the cause and run the command again")

    def _stream(self, what: str, lines_of: Callable[[], object],
                on_line: Callable[[str], None]) -> None:
        tail: list[str] = []
        try:
            for line in lines_of():  # type: ignore[attr-defined]
                line = line.rstrip()
                tail = (tail + [line])[-20:]
                if PROGRESS.match(line):
                    on_line(line)
        except subprocess.CalledProcessError as exc:
            raise self._failure(what, exc.returncode, tail) from None

    def up(self, hosts: list[str] | None, on_line: Callable[[str], None]) -> None:
        """Boot the VMs (all at once: vagrant-libvirt brings machines up in parallel).

        One `vagrant up` on this host at a time: libvirt picks a free `virbrN` for each new
        network when it is defined, and two labs defining networks at once were given the same
        one ("bridge name 'virbr2' already in use"). A second lab waits, bounded by UP_LOCK_WAIT.
        """
        def lines() -> object:
            # The one provisioner puts the host key halab pinned in place (Vagrantfile.j2).
            return self.v.up(vm_name=machines(hosts), provision_with=["halab-hostkey"],
                             provider="libvirt", stream_output=True)
        with _host_lock(home.home() / "vagrant-up.lock", UP_LOCK_WAIT, on_line):
            self._stream("up", lines, on_line)

    def halt(self, host: str, force: bool) -> None:
        try:
            self.v.halt(vm_name=host, force=force)
        except subprocess.CalledProcessError as exc:
            raise self._failure(f"halt {host}", exc.returncode) from None

    def destroy(self, host: str | None = None) -> None:
        """Destroy every VM of the lab, or only `host` (with its disk)."""
        try:
            self.v.destroy(vm_name=host)
        except subprocess.CalledProcessError as exc:
            raise self._failure(f"destroy {host or ''}".strip(), exc.returncode) from None


UP_LOCK_WAIT = 1800


def machines(hosts: list[str] | None) -> str | None:
    """Vagrant's machine argument: none (every machine), a name, or for several names the
    `/regex/` form Vagrant accepts (python-vagrant passes one argument)."""
    if not hosts:
        return None
    if len(hosts) == 1:
        return hosts[0]
    return "/^(" + "|".join(re.escape(h) for h in hosts) + ")$/"


def _host_lock(path: Path, timeout: float,
               on_line: Callable[[str], None]) -> AbstractContextManager[None]:
    return hostlock.exclusive(
        path, timeout=timeout, interval=2,
        on_wait=lambda: on_line("waiting for another lab's `vagrant up` on this host to finish"),
        held_too_long=HalabError(f"another `vagrant up` held {path} for {timeout:.0f}s",
                                 "is another `halab up` stuck? (`ps aux | grep vagrant`)"))
