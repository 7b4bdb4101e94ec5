"""`halab.poll.poll`: the one bounded wait, on a fake clock (nothing really sleeps)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll, reason_of
from halab.remote.runner import RemoteError

pytestmark = pytest.mark.unit


class FakeTime:
    """A clock that moves only when slept on (or when an attempt says it took time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def run(attempt: Callable[[Reason], object], t: FakeTime, **kw: object) -> object:
    args: dict[str, object] = {"timeout": 10, "interval": 3, "what": "the thing"} | kw
    return poll(attempt, clock=t.clock, sleep=t.sleep, **args)  # type: ignore[arg-type]


def test_the_first_non_none_answer_is_returned_and_tries_are_counted() -> None:
    t = FakeTime()
    answers = iter([None, None, "up", "later"])
    tries: list[float] = []

    def attempt(why: Reason) -> str | None:
        tries.append(t.now)
        return next(answers)
    assert run(attempt, t) == "up"
    assert tries == [1000.0, 1003.0, 1006.0]
    assert t.sleeps == [3, 3]


def test_falsy_answers_other_than_none_are_results() -> None:
    t = FakeTime()
    assert run(lambda why: 0, t) == 0
    assert run(lambda why: False, t) is False
    assert t.sleeps == []


def test_a_timeout_names_what_was_awaited_and_the_last_reason() -> None:
    t = FakeTime()
    n = [0]

    def attempt(why: Reason) -> None:
        n[0] += 1
        why(f"{n[0]} of 3 ready")
    with pytest.raises(Timeout) as info:
        run(attempt, t, hint="look at it")
    exc = info.value
    assert isinstance(exc, HalabError)
    assert exc.message == "waiting 10s for the thing timed out; last: 5 of 3 ready"
    assert exc.hint == "look at it"
    assert (exc.what, exc.timeout, exc.last, exc.tries) == ("the thing", 10, "5 of 3 ready", 5)
    # tries at 0, 3, 6, 9, and a last one at the deadline
    assert t.sleeps == [3, 3, 3, 1]


def test_a_timeout_without_a_reason_says_none() -> None:
    t = FakeTime()
    with pytest.raises(Timeout) as info:
        run(lambda why: None, t)
    assert info.value.message == "waiting 10s for the thing timed out"
    assert info.value.last == ""


@pytest.mark.parametrize("took", [0.0, 0.4, 2.5, 7.0])
def test_it_never_sleeps_past_the_deadline_even_when_attempts_take_time(took: float) -> None:
    t = FakeTime()
    deadline = t.now + 10
    woke: list[float] = []

    def sleep(seconds: float) -> None:
        t.sleep(seconds)
        woke.append(t.now)

    def slow(why: Reason) -> None:
        t.now += took  # the attempt itself takes a while (an SSH round trip)
    with pytest.raises(Timeout) as info:
        poll(slow, timeout=10, interval=3, what="x", clock=t.clock, sleep=sleep)
    assert woke and all(w <= deadline for w in woke)
    assert all(s <= 3 for s in t.sleeps)
    assert info.value.tries == len(t.sleeps) + 1


def test_an_attempt_that_overruns_the_deadline_is_the_last() -> None:
    t = FakeTime()

    def very_slow(why: Reason) -> None:
        t.now += 60
    with pytest.raises(Timeout) as info:
        run(very_slow, t)
    assert info.value.tries == 1
    assert t.sleeps == []


def test_a_zero_timeout_asks_once() -> None:
    t = FakeTime()
    calls = []
    with pytest.raises(Timeout) as info:
        run(lambda why: calls.append(1), t, timeout=0)
    assert calls == [1] and t.sleeps == [] and info.value.tries == 1
    assert run(lambda why: "now", t, timeout=0) == "now"


def test_an_exception_in_retry_on_is_not_yet_and_its_text_is_the_reason() -> None:
    t = FakeTime()
    answers: list[object] = [ConnectionError("refused"), ConnectionError("reset\nby peer"), "ok"]

    def attempt(why: Reason) -> object:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    assert run(attempt, t, retry_on=(ConnectionError,)) == "ok"

    def failing(why: Reason) -> None:
        raise ConnectionError("  \n  connection\n  reset by peer  \n")
    with pytest.raises(Timeout) as info:
        run(failing, t, retry_on=(OSError,))
    assert info.value.last == "connection reset by peer"


@pytest.mark.parametrize(("steps", "last"), [(["why", "raise"], "no answer"),
                                              (["raise", "why"], "2 of 3 ready")])
def test_the_last_reason_wins_whether_from_why_or_from_an_exception(steps: list[str],
                                                                     last: str) -> None:
    todo = iter(steps)

    def attempt(why: Reason) -> None:
        if next(todo) == "raise":
            raise TimeoutError("no answer")
        why("2 of 3 ready")
    with pytest.raises(Timeout) as info:
        run(attempt, FakeTime(), timeout=3, interval=3, retry_on=(TimeoutError,))
    assert info.value.tries == 2 and info.value.last == last


def test_an_exception_without_text_is_named_by_its_type() -> None:
    def attempt(why: Reason) -> None:
        raise TimeoutError()
    with pytest.raises(Timeout) as info:
        run(attempt, FakeTime(), retry_on=(TimeoutError,))
    assert info.value.last == "TimeoutError"


def test_a_halab_errors_reason_leaves_out_its_hint() -> None:
    exc = RemoteError("master1", "SSH connection (true)", "[Errno 111] Connection refused",
                      "is the VM running?")
    assert reason_of(exc) == "master1: SSH connection (true) failed; last output: " \
                             "| [Errno 111] Connection refused"
    assert reason_of(HalabError("one line", "a hint")) == "one line"

    def attempt(why: Reason) -> None:
        raise exc
    with pytest.raises(Timeout) as info:
        run(attempt, FakeTime(), retry_on=(RemoteError,))
    assert "is the VM running" not in info.value.message
    assert info.value.last.endswith("Connection refused")


def test_other_exceptions_propagate_at_once() -> None:
    t = FakeTime()
    calls = []

    def attempt(why: Reason) -> None:
        calls.append(1)
        raise KeyError("bug")
    with pytest.raises(KeyError):
        run(attempt, t, retry_on=(ConnectionError,))
    assert calls == [1] and t.sleeps == []


def test_a_retried_exception_is_not_caught_when_retry_on_is_empty() -> None:
    def attempt(why: Reason) -> None:
        raise ConnectionError("refused")
    with pytest.raises(ConnectionError):
        run(attempt, FakeTime())
