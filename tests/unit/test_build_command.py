"""The builds' one subprocess helper (halab.build.command) on real short commands, and the
deadlines of the builds' waits: the box build lock, the unmounts, a Go command."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from halab.artifacts import boxes
from halab.build import box, gobuild
from halab.build.command import run_logged, wait_exit
from halab.errors import HalabError
from halab.poll import Timeout, poll

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def halab_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HALAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def log(tmp_path) -> Path:
    return tmp_path / "logs" / "build.log"


class FakeClock:
    """Time that passes only when the wait sleeps: a deadline test in no real time."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------------------- run_logged


def test_true_succeeds_and_logs_the_command(log):
    assert run_logged(["true"], log=log, what="true", timeout=10) == ""
    assert "\n$ true\n" in log.read_text()


def test_false_fails_naming_the_step_its_exit_and_the_log(log):
    with pytest.raises(HalabError) as err:
        run_logged(["false"], log=log, what="the false step", timeout=10)
    assert err.value.message.startswith("the false step failed (exit 1)")
    assert err.value.hint == f"full log: {log}"


def test_a_failure_quotes_the_last_lines_of_its_own_output(log):
    run_logged(["sh", "-c", "echo earlier-command"], log=log, what="first", timeout=10)
    with pytest.raises(HalabError) as err:
        run_logged(["sh", "-c", "echo x; exit 3"], log=log, what="sh", timeout=10)
    assert "failed (exit 3); last lines of its output:\n    x" in err.value.message
    assert "earlier-command" not in err.value.message  # only this command's lines
    with pytest.raises(HalabError) as err:
        run_logged(["sh", "-c", "seq 1 40 >&2; exit 3"], log=log, what="seq", timeout=10)
    quoted = err.value.message.splitlines()[1:]
    assert quoted == [f"    {n}" for n in range(16, 41)]  # the last 25 lines


def test_captured_stdout_is_returned_and_kept_in_the_log(log, tmp_path):
    out = run_logged(["sh", "-c", "echo to-stdout; echo to-stderr >&2; pwd; echo $HALAB_X"],
                     log=log, what="sh", timeout=10, capture=True, cwd=tmp_path,
                     env={"PATH": os.environ["PATH"], "HALAB_X": "from-env"})
    assert out == f"to-stdout\n{tmp_path}\nfrom-env\n"
    text = log.read_text()
    assert f"$ (cd {tmp_path} && sh -c" in text
    assert "to-stderr" in text and "to-stdout" in text


def test_input_reaches_the_command(log):
    assert run_logged(["cat"], log=log, what="cat", timeout=10, input="label: dos\n",
                      capture=True) == "label: dos\n"


def test_uncaptured_stdout_goes_to_the_log(log):
    assert run_logged(["sh", "-c", "echo only-in-log"], log=log, what="sh", timeout=10) == ""
    assert "only-in-log" in log.read_text()


def test_a_missing_program_is_a_clear_error(log):
    with pytest.raises(HalabError, match="debootstrap-halab-missing not found"):
        run_logged(["debootstrap-halab-missing"], log=log, what="debootstrap", timeout=10)


def test_a_command_past_its_deadline_is_stopped_with_its_process_group(log, tmp_path):
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(HalabError) as err:
        run_logged(["sh", "-c", f"echo started; sleep 60 & echo $! > {pidfile}; wait"],
                   log=log, what="a slow step", timeout=1)
    assert time.monotonic() - start < 15
    assert err.value.message.startswith("a slow step did not finish in 1s and was stopped")
    assert "    started" in err.value.message and err.value.hint == f"full log: {log}"
    child = int(pidfile.read_text())
    # the sleep the shell started goes too (its SIGTERM takes a moment to land)
    poll(lambda why: None if _alive(child) else True, timeout=5, interval=0.05,
         what=f"the shell's child {child} to end")


def _alive(pid: int) -> bool:
    """Running, not a zombie left for a reaper (this machine's init may be slow to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_heartbeat_says_a_long_command_still_runs(log, capsys):
    run_logged(["sleep", "1.3"], log=log, what="go build (x)", timeout=10, heartbeat=0.5)
    out = capsys.readouterr().out
    assert 2 <= out.count("go build (x): still running") <= 3  # at 0.5 s and 1 s


def test_wait_exit_has_a_deadline():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        start = time.monotonic()
        with pytest.raises(Timeout, match="waiting 0s for sleep timed out"):
            wait_exit(proc, what="sleep", timeout=0.3)
        assert time.monotonic() - start < 5
    finally:
        proc.kill()
        proc.wait()
    assert wait_exit(subprocess.Popen(["true"]), what="true", timeout=10) == 0


# ---------------------------------------------------------------------------- the waits


def test_a_go_command_has_a_deadline(tmp_path, monkeypatch, log):
    """Before, `run_go` waited for go with no deadline at all."""
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho compiling\nsleep 60\n")
    fake_go.chmod(0o755)
    monkeypatch.setattr(gobuild, "find_go", lambda: str(fake_go))
    with pytest.raises(HalabError, match=r"go build \(x\) did not finish in 1s") as err:
        gobuild.run_go(["build"], tmp_path, dict(os.environ), log, "go build (x)", timeout=1)
    assert "    compiling" in err.value.message


def test_the_box_build_lock_waits_with_a_deadline():
    import fcntl

    recipe = boxes.load_recipe(boxes.DEFAULT_RECIPE)
    boxes.boxes_dir().mkdir(parents=True)
    t = FakeClock()
    with open(boxes.boxes_dir() / f".{recipe.name}.lock", "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # another build holds it
        with pytest.raises(HalabError, match="held the lock for 30s"):
            with box._build_lock(recipe, timeout=30, clock=t.clock, sleep=t.sleep):
                pass
    assert t.now == 30 and len(t.slept) == 30  # one try a second, none past the deadline
    with box._build_lock(recipe, timeout=30, clock=t.clock, sleep=t.sleep):
        pass  # free again: taken at once
    assert len(t.slept) == 30


def test_unmounting_gives_up_at_its_deadline(tmp_path, monkeypatch):
    tries: list[list[str]] = []
    monkeypatch.setattr(box, "_mounts_under", lambda path: [f"{path}/proc"])
    monkeypatch.setattr(box, "_quiet", lambda cmd: tries.append(cmd) and False)
    t = FakeClock()
    with pytest.raises(HalabError, match=f"could not unmount {tmp_path}/proc"):
        box._release_mounts(tmp_path, timeout=5, clock=t.clock, sleep=t.sleep)
    assert t.now == 5 and len(tries) == 2 * 6  # umount, then umount -l, once a second


def test_unmounting_stops_as_soon_as_nothing_is_mounted(tmp_path, monkeypatch):
    mounted = [f"{tmp_path}/dev", f"{tmp_path}/dev/pts"]
    unmounted: list[str] = []

    def umount(cmd: list[str]) -> bool:
        unmounted.append(cmd[-1])
        mounted.remove(cmd[-1])
        return True

    monkeypatch.setattr(box, "_mounts_under", lambda path: list(mounted))
    monkeypatch.setattr(box, "_quiet", umount)
    t = FakeClock()
    box._release_mounts(tmp_path, clock=t.clock, sleep=t.sleep)
    assert unmounted == [f"{tmp_path}/dev/pts", f"{tmp_path}/dev"] and t.slept == []
