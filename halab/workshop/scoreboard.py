"""The exercise in progress on each lab, as `halab exercise` records it in
`.halab/<lab>/exercise.json`, and the scoreboard made of them (`halab report`, the class page).

The file, written by `halab exercise start|check`:
  {"name": str, "started_at": epoch s, "deadline": epoch s or null,
   "checks": [{"name": str, "passed": bool}, ...], "checked_at": epoch s or null}
plus what `start` recorded for the graders (`before`, `snapshot`, `hints_shown`), unused here.

Pure: a parsed mapping in, rows and Markdown out; a malformed file becomes a row that says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exercise:
    """One lab's exercise: what was started, when, and how its last check went."""

    lab: str
    name: str
    started_at: float
    deadline: float | None
    checks: tuple[tuple[str, bool], ...]  # (item, passed), as of checked_at
    checked_at: float | None
    problem: str = ""  # why the file could not be read whole

    @property
    def passed(self) -> int:
        return sum(ok for _, ok in self.checks)

    @property
    def done(self) -> bool:
        return bool(self.checks) and self.passed == len(self.checks)

    def elapsed(self, now: float) -> float:
        """Seconds from start to the check that passed every item, else to now."""
        end = self.checked_at if self.done and self.checked_at else now
        return max(0.0, end - self.started_at)

    def left(self, now: float) -> float | None:
        """Seconds to the deadline (negative: past it); None without one."""
        return None if self.deadline is None else self.deadline - now

    def score(self) -> str:
        return f"{self.passed}/{len(self.checks)}" if self.checks else "not checked yet"


def parse(lab: str, doc: Any) -> Exercise:
    """An Exercise from exercise.json's contents; never raises (a broken file is a row too)."""
    if not isinstance(doc, Mapping):
        return _broken(lab, "exercise.json is not a JSON object")
    try:
        checks = tuple((str(c["name"]), bool(c["passed"])) for c in doc.get("checks") or [])
        return Exercise(lab, str(doc["name"]), float(doc["started_at"]),
                        _number(doc.get("deadline")), checks, _number(doc.get("checked_at")))
    except (KeyError, TypeError, ValueError) as exc:
        return _broken(lab, f"exercise.json: {type(exc).__name__} {exc}")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _broken(lab: str, why: str) -> Exercise:
    return Exercise(lab, "?", 0.0, None, (), None, problem=why)


def clock(seconds: float) -> str:
    """12:05 (min:s), or 1:02:05 past an hour."""
    s = int(abs(seconds))
    minutes = f"{s // 60 % 60:02d}" if s >= 3600 else f"{s // 60}"
    text = (f"{s // 3600}:" if s >= 3600 else "") + f"{minutes}:{s % 60:02d}"
    return f"-{text}" if seconds < 0 else text


def time_cell(ex: Exercise, now: float) -> str:
    """How long it took (finished) or has taken, and the time left or over the deadline."""
    spent = clock(ex.elapsed(now))
    if ex.done:
        return f"done in {spent}"
    left = ex.left(now)
    if left is None:
        return spent
    return f"{spent} ({clock(left)} left)" if left >= 0 else f"{spent} (over by {clock(-left)})"


def markdown(exercises: Iterable[Exercise], now: float) -> str:
    """The scoreboard section of `halab report`: one row per lab with an exercise."""
    rows = sorted(exercises, key=lambda e: (e.name, -e.passed, e.elapsed(now), e.lab))
    if not rows:
        return ""
    lines = ["## Scoreboard", "",
             "| exercise | lab | passed | time | items not passed yet |",
             "|---|---|---|---|---|"]
    for e in rows:
        if e.problem:
            lines.append(f"| ? | {e.lab} | ? | ? | {e.problem} |")
            continue
        failing = ", ".join(n for n, ok in e.checks if not ok) or "—"
        lines.append(f"| {e.name} | {e.lab} | {e.score()} | {time_cell(e, now)} | {failing} |")
    return "\n".join(lines) + "\n"
