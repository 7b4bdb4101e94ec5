"""One bounded wait for everything halab waits on: a deadline, an interval, and the last reason.

Every wait in halab is bounded in time (the lab's hosts may never answer). `poll()` calls
`attempt` until it returns something other than None, or the deadline passes; then it raises
`Timeout`, whose message ends with the last reason `attempt` gave (by raising one of
`retry_on`, or by calling `why`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from halab.errors import HalabError

T = TypeVar("T")


class Timeout(HalabError):
    """A bounded wait ran out; `last` is the last reason the condition gave, `tries` how many
    times it was asked."""

    def __init__(self, what: str, timeout: float, last: str, hint: str | None = None,
                 tries: int = 0):
        super().__init__(f"waiting {timeout:.0f}s for {what} timed out"
                         + (f"; last: {last}" if last else ""), hint)
        self.what, self.timeout, self.last, self.tries = what, timeout, last, tries


class Reason:
    """What `attempt` says about why it is not done yet (the last one is reported)."""

    def __init__(self) -> None:
        self.text = ""

    def __call__(self, text: str) -> None:
        self.text = text


def reason_of(exc: BaseException) -> str:
    """An exception as one line: its message without a HalabError's hint (`str()` appends it),
    the first line and, when there are more, the last one (RemoteError's last output line)."""
    text = exc.message if isinstance(exc, HalabError) else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"


def poll(attempt: Callable[[Reason], T | None], *, timeout: float, interval: float,
         what: str, hint: str | None = None,
         retry_on: tuple[type[BaseException], ...] = (),
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> T:
    """`attempt(why)` until it returns non-None (returned), for at most `timeout` seconds from
    the first try, `interval` seconds between tries. It is asked at least once, and once more
    at the deadline (the last sleep is shortened to end there, never past it). An exception in
    `retry_on` counts as "not yet" (`reason_of` it is the reason); any other propagates.
    Note that False, 0 and "" are results: return None for "not yet"."""
    deadline = clock() + timeout
    why = Reason()
    tries = 0
    while True:
        tries += 1
        try:
            result = attempt(why)
        except retry_on as exc:
            why(reason_of(exc))
            result = None
        if result is not None:
            return result
        left = deadline - clock()
        if left <= 0:
            raise Timeout(what, timeout, why.text, hint, tries)
        sleep(min(interval, left))


def wait_until(done: Callable[[], bool], timeout: float, interval: float) -> bool:
    """Ask `done` every `interval` seconds until it holds or `timeout` passes (asked once more
    then); whether it held. `poll` for a wait that needs no reason and ends quietly."""
    try:
        return poll(lambda why: True if done() else None, timeout=timeout, interval=interval,
                    what="a condition")
    except Timeout:
        return False
