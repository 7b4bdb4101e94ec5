"""The providers' commands on this machine go through halab.build.command.run_captured: bounded
in time, and a failure is a HalabError with the command's last lines. Shown here with real short
commands standing in for incus, virsh and a booting kernel (no host is touched)."""

from __future__ import annotations

import time

import pytest

from halab.providers.incus import client
from halab.providers.vagrant_libvirt import box, host, volumes

pytestmark = pytest.mark.unit


def _failing(module, message: str):
    """`module`'s run_captured, with each command run by a shell that prints `message` on
    stderr and exits 2 instead (the command's words become the shell's $0, $1...)."""
    run = module.run_captured
    return lambda cmd, **kw: run(["sh", "-c", f"echo '{message}' >&2; exit 2", *cmd], **kw)


def test_a_failed_virsh_is_a_warning_with_its_last_lines(monkeypatch, capsys):
    """Pruning old box volumes after a rebuild is best effort: a failure is said, not raised."""
    monkeypatch.setattr(volumes, "run_captured",
                        _failing(volumes, "error: failed to connect to the hypervisor"))
    monkeypatch.setattr(host, "libvirt_running", lambda: True)
    box.prune_after_rebuild("halab/box")
    said = capsys.readouterr()
    assert ("could not prune old base volumes of halab/box: virsh pool-list --all --name "
            "failed (exit 2); last lines of its output: error: failed to connect to the "
            "hypervisor") in " ".join((said.out + said.err).split())


def test_a_failed_incus_call_carries_incus_own_words(monkeypatch):
    monkeypatch.setattr(client, "binary", lambda: "incus")
    monkeypatch.setattr(client, "run_captured",
                        _failing(client, "Error: Failed to connect to the daemon"))
    with pytest.raises(client.IncusError) as err:
        client.run("list", project="halab-demo")
    assert err.value.message == ("`incus list` failed: Error: Failed to connect to the daemon")
    assert err.value.stderr == "Error: Failed to connect to the daemon"
    assert "incus.log" in err.value.hint


def test_a_kernel_that_prints_its_progress_has_booted():
    start = time.monotonic()
    ok, why = host.watch_console(["sh", "-c", "echo 'Run /init as init process'; exec sleep 30"],
                                 timeout=20)
    assert (ok, why) == (True, "a kernel booted under KVM")
    assert time.monotonic() - start < 10  # at once, and the sleeping "qemu" was killed


def test_a_kernel_that_stops_or_stalls_made_no_progress():
    ok, why = host.watch_console(["sh", "-c", "echo 'Booting the kernel'"], timeout=20)
    assert (ok, why) == (False, "a kernel under KVM made no progress in 20s (Booting the kernel)")
    start = time.monotonic()
    ok, why = host.watch_console(["sh", "-c", "echo 'hang'; exec sleep 30"], timeout=0.5)
    assert (ok, why) == (False, "a kernel under KVM made no progress in 0.5s (hang)")
    assert time.monotonic() - start < 5
