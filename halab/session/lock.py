"""One command at a time changes a lab: an flock on `.halab/<lab>/lock`.

Two `halab up` of one lab at once could leave one run's key beside the other's certificate, so
every command that changes a lab holds this lock while it runs; a second one waits (saying which
command holds the lab) or, with `--no-wait`, fails at once. The lock is the kernel's: it goes
with the process that held it, so a killed command never leaves a stale lock behind.

Re-entrant within one process: a scenario that halts, starts and runs `up` takes the lock once.
`down` removes the lab's directory, lock file included, while it holds the lock; a command that
was waiting then finds its file unlinked and takes the lock anew on a fresh file. The file and
the directory go again on release when the directory holds nothing else (a command that took
the lock and then created nothing leaves nothing behind).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from halab import ui
from halab.errors import HalabError
from halab.session.labdir import LOCK_FILE

WAIT = 30 * 60  # seconds a command waits for the lab before it gives up
INTERVAL = 0.25  # seconds between two tries while waiting


@dataclass(frozen=True)
class Holder:
    """What holds a lab, as written in its lock file for the commands that wait."""

    command: str
    pid: int
    since: float  # time.time() when it took the lock

    def dumps(self) -> str:
        return json.dumps({"command": self.command, "pid": self.pid, "since": self.since})

    @classmethod
    def loads(cls, text: str) -> Holder | None:
        """The holder a lock file names; None for an empty or unreadable one (a holder that is
        just taking the lock, or a file written by something else)."""
        try:
            data = json.loads(text)
            return cls(str(data["command"]), int(data["pid"]), float(data["since"]))
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self, now: float) -> str:
        """e.g. "`halab up labs/seed.yaml` (pid 4242, for 1 min 5 s)"."""
        return f"`{self.command}` (pid {self.pid}, for {duration(now - self.since)})"


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")


def holder_text(holder: Holder | None, now: float) -> str:
    return holder.describe(now) if holder else "another halab command"


class LabBusy(HalabError):
    """The lab is held by another command (at once with --no-wait, or after the wait)."""


@dataclass
class _Held:
    fd: int
    depth: int


# Locks this process holds: lock file path → its descriptor and how many `held` are open.
_held: dict[Path, _Held] = {}


@contextmanager
def held(lab_dir: Path, command: str, wait: bool = True, timeout: float = WAIT,
         say: Callable[[str], None] = ui.info) -> Iterator[None]:
    """Hold lab `lab_dir`'s lock for the block (taken once per process, re-entrant).

    Busy: with `wait`, say one line naming the holder and wait up to `timeout` seconds; without,
    raise LabBusy at once."""
    path = lab_dir / LOCK_FILE
    mine = _held.get(path)
    if mine is not None:
        mine.depth += 1
        try:
            yield
        finally:
            mine.depth -= 1
        return
    fd = _acquire(path, wait, timeout, say)
    os.ftruncate(fd, 0)
    os.pwrite(fd, Holder(command, os.getpid(), time.time()).dumps().encode(), 0)
    _held[path] = _Held(fd, 1)
    try:
        yield
    finally:
        del _held[path]
        _release(path, fd)


def _acquire(path: Path, wait: bool, timeout: float, say: Callable[[str], None]) -> int:
    """The descriptor of `path`, flocked by this process: tried at once, then every INTERVAL
    until `timeout` when `wait`. A file unlinked while we waited for it is left for a new one."""
    lab = path.parent.name
    deadline = time.monotonic() + timeout
    told = False
    while True:
        fd = _open(path)
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                now = time.time()
                if not wait:
                    raise LabBusy(f"lab {lab!r} is busy: {holder_text(holder, now)} is changing "
                                  "it", "wait for it to end, or run this command without "
                                  "--no-wait to wait for it") from None
                if time.monotonic() >= deadline:
                    raise LabBusy(f"lab {lab!r} is still busy after waiting {duration(timeout)}: "
                                  f"{holder_text(holder, now)} holds it",
                                  "let that command end (its lock goes with it), then run this "
                                  "one again") from None
                if not told:
                    say(escape(f"lab {lab!r} is busy: {holder_text(holder, now)} holds it; "
                               f"waiting for it to end (at most {duration(timeout)}; --no-wait "
                               "fails at once)"))
                    told = True
            else:
                if _still_there(path, fd):
                    return fd
                os.close(fd)  # `down` removed it while we waited: take the new one
                continue
        if time.monotonic() >= deadline:
            raise LabBusy(f"lab {lab!r}: its lock file {path} kept going away for "
                          f"{duration(timeout)}", "run the command again")
        time.sleep(INTERVAL)


def _open(path: Path) -> int | None:
    """The lock file, created (with its directory) if need be; None if the directory went
    away in between (a `down` removing it), to be tried again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HalabError(f"cannot open the lab's lock file {path}: {exc.strerror}",
                         f"make {path.parent.parent} writable for this user") from None


def _holder(fd: int, tries: int = 20) -> Holder | None:
    """Who holds the lock of `fd`. A holder writes itself just after taking the lock, so an
    empty file is read again a few times (at most 1 s) before it is "another command"."""
    for n in range(tries):
        try:
            holder = Holder.loads(os.pread(fd, 4096, 0).decode(errors="replace"))
        except OSError:
            return None
        if holder is not None or n == tries - 1:
            return holder
        time.sleep(0.05)
    return None


def _still_there(path: Path, fd: int) -> bool:
    """Whether `path` is still the file `fd` locked (not unlinked, nor replaced)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _release(path: Path, fd: int) -> None:
    """Unlock; a directory that holds nothing but the lock file goes first (still locked, so a
    waiter sees the file gone and starts anew)."""
    try:
        os.ftruncate(fd, 0)
        if [p.name for p in path.parent.iterdir()] == [LOCK_FILE]:
            path.unlink()
            path.parent.rmdir()
    except OSError:
        pass  # already removed (`down`), or something arrived in between: it stays
    finally:
        os.close(fd)
