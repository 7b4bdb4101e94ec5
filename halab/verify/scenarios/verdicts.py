"""A scenario's verdicts: what it asserts, whether it held and what was seen, printed one line
each with the total."""

from __future__ import annotations

from dataclasses import dataclass

from halab import ui


@dataclass(frozen=True)
class Verdict:
    title: str
    ok: bool
    detail: str


def announce(verdicts: list[Verdict]) -> bool:
    """Print one line per verdict and the total; True when every verdict holds."""
    for v in verdicts:
        ui.info(f"{'[green]✓[/]' if v.ok else '[red]✗[/]'} {v.title} — {v.detail}")
    ok = all(v.ok for v in verdicts)
    passed = sum(v.ok for v in verdicts)
    ui.info(f"[bold {'green' if ok else 'red'}]{passed} of {len(verdicts)} verdicts hold[/]")
    return ok
