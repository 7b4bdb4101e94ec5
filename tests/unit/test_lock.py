"""The per-lab lock (`halab.session.lock`): what it writes and says, and two processes on a tmp dir.

A second process is a real `python` holding the lock through the module (the kernel's flock is
per open file, so only another process can show that one command waits for another)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from labfiles import lab_file

from halab import ui
from halab.cli import app, locking
from halab.session import labdir, lock
from halab.session.labdir import State

pytestmark = pytest.mark.unit

# Holds the lock of argv[1] as command argv[2], says "held" (and the lock file's inode), and
# lets go when its stdin closes; with argv[3] == "wait" it first waits for the lock.
HOLDER = """\
import os, sys
from pathlib import Path
from halab.session import lock
d = Path(sys.argv[1])
with lock.held(d, sys.argv[2], wait=sys.argv[3] == "wait", timeout=20,
               say=lambda line: print("said", line, flush=True)):
    print("held", os.stat(d / "lock").st_ino, flush=True)
    sys.stdin.read()
"""


@contextmanager
def other_process(lab_dir: Path, command: str = "halab up labs/x.yaml"
                  ) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `lab_dir`'s lock (once it printed "held") until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lab_dir), command, "now"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("held"), line
        yield proc
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=20)


def taken_by_another_process(lab_dir: Path) -> bool:
    """Whether another process can take the lock now (with --no-wait)."""
    proc = subprocess.run([sys.executable, "-c", HOLDER, str(lab_dir), "other", "now"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0 or "LabBusy" in proc.stderr, proc.stderr
    return proc.returncode == 0


def test_the_holder_is_written_and_read_back() -> None:
    h = lock.Holder("halab up labs/seed.yaml", 4242, 1000.0)
    assert lock.Holder.loads(h.dumps()) == h
    assert h.describe(1065.0) == "`halab up labs/seed.yaml` (pid 4242, for 1 min 5 s)"
    assert lock.holder_text(None, 0) == "another halab command"


def test_a_holder_with_brackets_prints_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    """rich reads "[...]" as markup: a path like that must neither vanish nor crash."""
    ui.error(lock.Holder("halab up /tmp/[bold]/[/x].yaml", 1, 0).describe(0))
    assert "`halab up /tmp/[bold]/[/x].yaml` (pid 1, for 0 s)" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["", "{", "[]", '{"pid": 1}', '{"command": "x", "pid": "a", '
                                  '"since": 1}'])
def test_a_lock_file_without_a_holder_reads_as_none(text: str) -> None:
    assert lock.Holder.loads(text) is None


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (59.4, "59 s"), (60, "1 min"),
                                              (1800, "30 min"), (125, "2 min 5 s")])
def test_durations_read_plainly(seconds: float, text: str) -> None:
    assert lock.duration(seconds) == text


def test_the_lock_file_names_its_holder_while_held(tmp_path: Path) -> None:
    with lock.held(tmp_path / "lab", "halab halt --all"):
        data = json.loads((tmp_path / "lab" / labdir.LOCK_FILE).read_text())
        assert data["command"] == "halab halt --all" and data["pid"] == os.getpid()
        assert abs(data["since"] - time.time()) < 60


def test_no_wait_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with other_process(tmp_path / "lab", "halab up /tmp/x.yaml") as holder:
        started = time.monotonic()
        with pytest.raises(lock.LabBusy) as caught, lock.held(tmp_path / "lab", "me",
                                                              wait=False):
            pass
        assert time.monotonic() - started < 1
    msg = str(caught.value)
    assert "lab 'lab' is busy: `halab up /tmp/x.yaml`" in msg and f"pid {holder.pid}" in msg
    assert "without --no-wait" in msg


def test_a_second_command_waits_with_one_line_then_runs(tmp_path: Path) -> None:
    said: list[str] = []
    with other_process(tmp_path / "lab", "halab up labs/x.yaml") as holder:
        holder_pid = holder.pid

        def release_later(line: str) -> None:
            said.append(line)
            assert holder.stdin is not None
            holder.stdin.close()  # the holder ends once we are waiting
        with lock.held(tmp_path / "lab", "me", say=release_later, timeout=20):
            assert holder.wait(timeout=20) == 0  # it ended first
            data = json.loads((tmp_path / "lab" / labdir.LOCK_FILE).read_text())
            assert data["pid"] == os.getpid()
    assert len(said) == 1, said
    assert said[0].startswith(f"lab 'lab' is busy: `halab up labs/x.yaml` (pid {holder_pid}")
    assert "waiting for it to end (at most 20 s; --no-wait fails at once)" in said[0]


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    with other_process(tmp_path / "lab"):
        started = time.monotonic()
        with pytest.raises(lock.LabBusy, match="still busy after waiting 1 s"), \
                lock.held(tmp_path / "lab", "me", timeout=1, say=lambda _: None):
            pass
        assert 0.9 < time.monotonic() - started < 3


def test_the_lock_is_taken_once_per_process(tmp_path: Path) -> None:
    """A scenario that runs `up` inside `verify --scenario`: no deadlock, and the lab stays
    held until the outermost command ends."""
    with lock.held(tmp_path / "lab", "halab verify --scenario cold-restart"):
        with lock.held(tmp_path / "lab", "up, inside", wait=False):
            assert not taken_by_another_process(tmp_path / "lab")
        assert not taken_by_another_process(tmp_path / "lab")
    assert taken_by_another_process(tmp_path / "lab")


def test_a_lab_removed_while_a_command_waits_is_locked_anew(tmp_path: Path) -> None:
    """`down` removes the directory, lock file included, while another command waits: that one
    must hold the new lock file, not the removed one, or a third would run beside it."""
    lab = tmp_path / "lab"
    with lock.held(lab, "halab down lab --yes"):
        waiter = subprocess.Popen([sys.executable, "-c", HOLDER, str(lab), "halab up x",
                                   "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        assert waiter.stdout is not None
        assert waiter.stdout.readline().startswith("said lab 'lab' is busy")
        shutil.rmtree(lab)
    try:
        line = waiter.stdout.readline()
        assert line.startswith("held"), line
        assert int(line.split()[1]) == os.stat(lab / labdir.LOCK_FILE).st_ino
        with pytest.raises(lock.LabBusy, match="`halab up x`"), \
                lock.held(lab, "a third", wait=False):
            pass
    finally:
        assert waiter.stdin is not None
        waiter.stdin.close()
        waiter.wait(timeout=20)


def test_a_lock_file_removed_between_open_and_flock_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrow race of the test above, made certain: the file is unlinked right after this
    process opened it. Holding that orphan would let any other command in beside us."""
    real_open, opened = lock._open, []

    def open_then_lose(path: Path) -> int | None:
        fd = real_open(path)
        if not opened:
            path.unlink()  # a `down` finishing just now
        opened.append(fd)
        return fd
    monkeypatch.setattr(lock, "_open", open_then_lose)
    with lock.held(tmp_path / "lab", "me"):
        assert not taken_by_another_process(tmp_path / "lab")
    assert len(opened) == 2


def test_a_lock_on_nothing_leaves_nothing(tmp_path: Path) -> None:
    """A command refused before it created anything leaves no directory behind; a lab's own
    directory stays, with its files."""
    with lock.held(tmp_path / "new", "halab up new.yaml"):
        assert (tmp_path / "new").is_dir()
    assert not (tmp_path / "new").exists()
    labdir.write_state(tmp_path / "old", State(topology="old.yaml"))
    with lock.held(tmp_path / "old", "halab halt --all"):
        pass
    assert (tmp_path / "old" / "state.json").is_file()
    assert not labdir.holds_anything(tmp_path / "new")
    assert labdir.holds_anything(tmp_path / "old")


def test_programs_started_while_held_do_not_keep_the_lock(tmp_path: Path) -> None:
    """`up` may start incusd, which outlives it: it must not inherit the lock."""
    with lock.held(tmp_path / "lab", "halab up"):
        child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        assert taken_by_another_process(tmp_path / "lab")
    finally:
        child.kill()
        child.wait()


CHANGING = [["up", "labs/etcd-only.yaml"], ["halt", "--all"], ["start", "master1"],
            ["add-master"], ["remove-master", "master4"], ["replace", "master2"],
            ["partition", "master1"], ["heal"], ["netem", "--clear"], ["backup"],
            ["restore", "snap.db"], ["down"], ["verify", "x", "--scenario", "failover"]]
READING = [["status"], ["verify"], ["diagram"], ["ssh", "master1"], ["validate"], ["render"],
           ["report"], ["doctor"]]


@pytest.mark.parametrize("argv", CHANGING, ids=lambda a: " ".join(a[:2]))
def test_every_command_that_changes_a_lab_locks_it(argv: list[str]) -> None:
    args = app.build_parser().parse_args([*argv, "--no-wait"])
    assert args.locks(args) and args.no_wait


@pytest.mark.parametrize("argv", READING, ids=lambda a: a[0])
def test_read_only_commands_take_no_lock(argv: list[str]) -> None:
    args = app.build_parser().parse_args(argv)
    assert getattr(args, "locks", None) is None or not args.locks(args)


def test_the_cli_refuses_a_busy_lab_with_no_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`halab halt --no-wait` of a lab another command holds: exit 1 at once, naming it, before
    the lab's hosts are asked anything."""
    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    labdir.write_state(tmp_path / "x", State(topology=str(tmp_path / "x.yaml")))
    with other_process(tmp_path / "x", "halab up x.yaml") as holder:
        code = app.main(["halt", "--all", "--lab", "x", "--no-wait"])
    assert code == 1
    err = capsys.readouterr().err
    assert "lab 'x' is busy: `halab up x.yaml`" in err and f"pid {holder.pid}" in err


def test_the_lock_is_the_lab_the_command_means(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`up FILE --student 3` locks student 3's lab, under the command line as typed."""
    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    topology = str(lab_file("etcd-only"))
    argv = ["up", topology, "--student", "3"]
    with locking.lab_lock(app.build_parser().parse_args(argv), argv):
        data = json.loads((tmp_path / "etcd-only-s03" / labdir.LOCK_FILE).read_text())
    assert data["command"] == f"halab up {topology} --student 3"
    assert not (tmp_path / "etcd-only-s03").exists()  # nothing else was made: nothing is left
