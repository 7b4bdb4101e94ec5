"""halab's two subprocess helpers (halab.build.command: run_logged for long commands, run_captured
for short ones) on real short commands, and the deadlines of the builds' waits: the host locks
(a box build, `vagrant up`), the unmounts, a Go command."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from halab import hostlock
from halab.artifacts import boxes
from halab.build import box, gobuild
from halab.build.command import run_captured, run_logged, wait_exit
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


# ---------------------------------------------------------------------------- run_captured


def test_captured_output_is_returned_as_text(tmp_path):
    proc = run_captured(["sh", "-c", "echo out; echo err >&2; pwd; echo $HALAB_X"], timeout=10,
                        cwd=tmp_path, env={"PATH": os.environ["PATH"], "HALAB_X": "from-env"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"out\n{tmp_path}\nfrom-env\n",
                                                           "err\n")


def test_a_captured_failure_names_the_command_its_exit_and_its_last_lines():
    with pytest.raises(HalabError) as err:
        run_captured(["sh", "-c", "echo x; exit 3"], timeout=10, hint="try again")
    assert err.value.message == ("`sh -c echo x; exit 3` failed (exit 3); last lines of its "
                                 "output:\n    x")
    assert err.value.hint == "try again"
    with pytest.raises(HalabError) as err:
        run_captured(["sh", "-c", "seq 1 40 >&2; exit 3"], timeout=10, what="seq")
    assert err.value.message.splitlines()[0] == "seq failed (exit 3); last lines of its output:"
    assert err.value.message.splitlines()[1:] == [f"    {n}" for n in range(16, 41)]
    with pytest.raises(HalabError, match=r"^false failed \(exit 1\); it printed nothing$"):
        run_captured(["false"], timeout=10, what="false")


def test_without_check_the_caller_reads_the_exit_status():
    proc = run_captured(["sh", "-c", "echo x; exit 3"], timeout=10, check=False)
    assert (proc.returncode, proc.stdout) == (3, "x\n")


def test_a_captured_command_past_its_deadline_is_stopped():
    start = time.monotonic()
    with pytest.raises(HalabError) as err:
        run_captured(["sh", "-c", "echo started; exec sleep 30"], timeout=0.5, what="a nap")
    assert time.monotonic() - start < 10
    assert err.value.message == ("a nap did not finish in 0.5s and was stopped; last lines of "
                                 "its output:\n    started")
    with pytest.raises(HalabError, match=r"^`sleep 30` did not finish in 0.2s"):
        run_captured(["sleep", "30"], timeout=0.2, check=False)  # a deadline even unchecked


def test_a_captured_command_that_cannot_start_is_a_clear_error(tmp_path):
    with pytest.raises(HalabError) as err:
        run_captured(["ip-halab-missing"], timeout=10)
    assert err.value.message == "`ip-halab-missing`: ip-halab-missing not found"
    assert err.value.hint == "run `make deps`"
    with pytest.raises(HalabError) as err:
        run_captured([str(tmp_path)], timeout=10, what="x")  # a directory does not run
    assert err.value.message == f"x: cannot run {tmp_path}: Permission denied"


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


def _fake_go(tmp_path: Path, monkeypatch, script: str) -> None:
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\n" + script)
    fake_go.chmod(0o755)
    monkeypatch.setattr(gobuild, "find_go", lambda: str(fake_go))


def test_the_go_queries_have_deadlines(tmp_path, monkeypatch):
    """Before, `go env GOVERSION` and `go mod download` waited with no deadline at all."""
    _fake_go(tmp_path, monkeypatch, "echo working; exec sleep 30\n")
    monkeypatch.setattr(gobuild, "GO_QUERY_TIMEOUT", 0.3)
    monkeypatch.setattr(gobuild, "GO_DOWNLOAD_TIMEOUT", 0.3)
    start = time.monotonic()
    with pytest.raises(HalabError, match=r"^go env GOVERSION did not finish in 0.3s"):
        gobuild.go_version(dict(os.environ))
    with pytest.raises(HalabError) as err:
        gobuild.resolve_module("k8s.io/kubernetes", "v1.35.0", dict(os.environ), tmp_path)
    assert not isinstance(err.value, gobuild.ModuleUnavailable)  # a stall is not a refusal
    assert err.value.message.startswith("go mod download k8s.io/kubernetes@v1.35.0 did not "
                                        "finish in 0.3s")
    assert err.value.hint == gobuild.GOPROXY_HINT
    assert time.monotonic() - start < 10


def test_a_module_the_proxy_refuses_is_unavailable(tmp_path, monkeypatch):
    _fake_go(tmp_path, monkeypatch,
             'printf "%s\\n" \'{"Error": "410 Gone\\nmore"}\'; echo "go: error" >&2; exit 1\n')
    with pytest.raises(gobuild.ModuleUnavailable) as err:
        gobuild.resolve_module("example.com/m", "v1.0.0", dict(os.environ), tmp_path)
    assert err.value.message == "the Go proxy does not serve example.com/m@v1.0.0: 410 Gone"
    _fake_go(tmp_path, monkeypatch, 'echo "go: no such host" >&2; exit 1\n')
    with pytest.raises(gobuild.ModuleUnavailable, match="serve example.com/m@v1.0.0: go: no such"):
        gobuild.resolve_module("example.com/m", "v1.0.0", dict(os.environ), tmp_path)


def test_the_box_build_lock_waits_with_a_deadline():
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


def test_a_held_lock_is_waited_for_until_the_deadline(tmp_path):
    path, said, t = tmp_path / "sub" / "x.lock", [], FakeClock()
    too_long = HalabError("another one held it", "look for it")
    path.parent.mkdir()
    with open(path, "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(HalabError) as err:
            with hostlock.exclusive(path, timeout=10, interval=2, on_wait=lambda: said.append(1),
                                    held_too_long=too_long, clock=t.clock, sleep=t.sleep):
                pytest.fail("the block ran without the lock")
    assert err.value is too_long
    assert said == [1] and t.slept == [2, 2, 2, 2, 2]  # said once; no sleep past the deadline


def test_a_free_lock_is_taken_at_once_and_given_back_after_the_block(tmp_path):
    path, said, t = tmp_path / "new" / "x.lock", [], FakeClock()
    with hostlock.exclusive(path, timeout=10, interval=2, on_wait=lambda: said.append(1),
                            held_too_long=HalabError("no"), clock=t.clock, sleep=t.sleep):
        with open(path, "w") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the block
    with open(path, "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    assert said == [] and t.slept == []


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


def test_captured_command_reads_the_input_given():
    """`incus profile edit` reads its YAML from stdin: the text given is what the command got."""
    proc = run_captured(["sh", "-c", "cat; echo; exit 4"], timeout=10, check=False,
                        input="profile: halab")
    assert proc.returncode == 4 and proc.stdout == "profile: halab\n"
