"""The two ways halab runs a command on this machine, both bounded in time and both quoting
the last lines of the command's output in the error when it fails.

`run_logged`, for a long command: the box (debootstrap, mkfs, qemu-img, vagrant), the images
(apt-get, umoci) and the Go builds. Its output goes to a log file; the child gets its own process
group, which is killed when we are interrupted or the deadline passes, so nothing it started
outlives the build. `run_captured`, for a short one whose output we read (ip, virsh, mount,
`go env`, dpkg-query): the providers use it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from halab import ui
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll

SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TAIL_LINES = 25
KEEP_STDOUT = 200_000  # bytes of a captured stdout copied into the log


def run_logged(cmd: Sequence[str], *, log: Path, what: str, timeout: float,
               env: Mapping[str, str] | None = None, cwd: Path | None = None,
               input: str | None = None, capture: bool = False,
               heartbeat: float | None = None) -> str:
    """Run `cmd` (in `cwd`, with exactly `env`, or ours when None), stderr appended to `log`.

    With `capture`, stdout is returned (and copied to the log after the run); otherwise it goes
    to the log too and "" is returned. `heartbeat` seconds: say that the command still runs,
    that often. A non-zero exit, or `timeout` seconds passing, raises HalabError with the last
    lines of this command's output and the log's path."""
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = " ".join(cmd)
    with open(log, "ab") as fh, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as stdin:
        fh.write(f"\n$ {f'(cd {cwd} && {shown})' if cwd else shown}\n".encode())
        fh.flush()
        start = fh.tell()
        if input is not None:
            stdin.write(input.encode())
            stdin.seek(0)
        try:
            proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env),
                                    stdin=stdin if input is not None else subprocess.DEVNULL,
                                    stdout=out if capture else fh, stderr=fh,
                                    start_new_session=True)
        except OSError as exc:
            raise _not_started(what, cmd, exc) from exc
        rc: int | None = None
        try:
            rc = wait_exit(proc, what=what, timeout=timeout, heartbeat=heartbeat, log=log)
        except Timeout:
            pass
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        out.seek(0)
        stdout = out.read()
        fh.write(stdout[-KEEP_STDOUT:])
    if rc is None:
        raise HalabError(f"{what} did not finish in {timeout:g}s and was stopped"
                         + _quoted(_written(log, start)), f"full log: {log}")
    if rc != 0:
        raise HalabError(f"{what} failed (exit {rc})" + _quoted(_written(log, start)),
                         f"full log: {log}")
    return stdout.decode(errors="replace")


def run_captured(cmd: Sequence[str], *, timeout: float, what: str | None = None,
                 check: bool = True, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, hint: str | None = None,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the short command `cmd`, its stdout and stderr captured as text, for at most
    `timeout` seconds. HalabError when it cannot start, when the deadline passes (it is killed)
    or, with `check`, when it exits non-zero: naming `what` (default: the command line), with
    the last lines of its output and `hint`. Without `check` the caller reads the exit status.
    `input` is written to its stdin (else stdin is inherited)."""
    what = what or f"`{' '.join(cmd)}`"
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                              env=None if env is None else dict(env), cwd=cwd, input=input)
    except subprocess.TimeoutExpired as exc:
        output = b"".join(o for o in (exc.stdout, exc.stderr) if isinstance(o, bytes))
        raise HalabError(f"{what} did not finish in {timeout:g}s and was stopped"
                         + _quoted(output.decode(errors="replace")), hint) from None
    except OSError as exc:
        raise _not_started(what, cmd, exc) from None
    if check and proc.returncode != 0:
        raise HalabError(f"{what} failed (exit {proc.returncode})"
                         + _quoted(proc.stdout + proc.stderr), hint)
    return proc


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment with the sbin directories first on PATH (debootstrap, losetup and mkfs
    live there), then `extra`."""
    return {**os.environ, "PATH": SBIN_PATH + ":" + os.environ.get("PATH", ""), **(extra or {})}


def wait_exit(proc: subprocess.Popen[bytes], *, what: str, timeout: float,
              heartbeat: float | None = None, log: Path | None = None) -> int:
    """`proc`'s exit status, waiting at most `timeout` seconds (then `Timeout`); every
    `heartbeat` seconds it says that `what` still runs (a cold Go build is long and silent)."""
    started = time.monotonic()

    def exited(why: Reason) -> int | None:
        rc = proc.poll()
        if rc is None:
            minutes = (time.monotonic() - started) / 60
            why(f"still running after {minutes:.0f} min")
            if heartbeat is not None and time.monotonic() - started >= heartbeat:
                ui.info(f"    ... {what}: still running, {minutes:.0f} min so far"
                        + (f" (log: {log})" if log else ""))
        return rc

    def until_exit(seconds: float) -> None:
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass

    return poll(exited, timeout=timeout, interval=heartbeat or timeout, what=what,
                sleep=until_exit)


def _written(path: Path, start: int) -> str:
    """What was written to `path` from byte `start` on."""
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read().decode(errors="replace")


def _quoted(output: str) -> str:
    """The end of an error message: the last TAIL_LINES lines of `output`, indented."""
    if not output.strip():
        return "; it printed nothing"
    lines = output.rstrip().splitlines()[-TAIL_LINES:]
    return "; last lines of its output:\n" + "\n".join("    " + line for line in lines)


def _not_started(what: str, cmd: Sequence[str], exc: OSError) -> HalabError:
    if isinstance(exc, FileNotFoundError):
        return HalabError(f"{what}: {cmd[0]} not found", "run `make deps`")
    return HalabError(f"{what}: cannot run {cmd[0]}: {exc.strerror or exc}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
