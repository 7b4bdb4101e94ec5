"""A turn on something this host's halab processes share: an exclusive flock on a file, waited
for through `poll()` with a deadline. Two labs brought up at once take turns on a box build and
on `vagrant up` (which picks the libvirt bridges); the lab's own lock is `halab.session.lock`.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll


@contextmanager
def exclusive(path: Path, *, timeout: float, interval: float, on_wait: Callable[[], None],
              held_too_long: HalabError, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold an exclusive flock on `path` (made if missing) for the block. While another process
    holds it, `on_wait()` is called once and the lock tried every `interval` seconds; after
    `timeout` seconds `held_too_long` is raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        waiting: list[bool] = []

        def locked(why: Reason) -> bool | None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not waiting:
                    on_wait()
                    waiting.append(True)
                why("another process holds it")
                return None

        try:
            poll(locked, timeout=timeout, interval=interval, what=f"the lock {path}",
                 clock=clock, sleep=sleep)
        except Timeout:
            raise held_too_long from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
