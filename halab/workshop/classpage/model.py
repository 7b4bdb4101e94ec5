"""What the class page shows, as plain values: one row per lab, and one lab's own page. The
command (`halab.lab.classview`) fills them from the probes and the providers; the web app only
renders them, so it never touches a host."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from halab.workshop.scoreboard import Exercise


@dataclass(frozen=True)
class HostCell:
    name: str
    role: str
    state: str  # running, shut off, not created, … as the provider says


@dataclass(frozen=True)
class LabRow:
    """One lab as the class page's table shows it."""

    lab: str
    topology: str = ""
    provider: str = ""
    hosts: tuple[HostCell, ...] = ()
    leader: str | None = None  # the etcd leader's host
    term: int | None = None  # its raft term
    lb: str = ""  # which masters each LB host reaches, e.g. "lb1 → master1, master2"
    verify: tuple[int, int, int] | None = None  # passed, failed, skipped of the last verify
    verified_at: str = ""
    exercise: Exercise | None = None
    problems: tuple[str, ...] = ()  # what could not be asked this round

    @property
    def running(self) -> int:
        return sum(h.state == "running" for h in self.hosts)


@dataclass(frozen=True)
class Scenario:
    """The lab's last `halab verify --scenario` run and its figures."""

    name: str
    ok: bool
    finished_at: float
    figures: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LabPage:
    row: LabRow
    diagram_svg: str  # the live diagram (`halab diagram --live`), or "" with the reason in notes
    notes: tuple[str, ...] = ()
    scenario: Scenario | None = None


def with_states(row: LabRow, states: Mapping[str, str]) -> LabRow:
    """The row with its hosts' newer states. A leader whose host no longer runs is no leader:
    the page says so at once, rather than after the round that asks etcd again."""
    hosts = tuple(replace(h, state=states.get(h.name, h.state)) for h in row.hosts)
    if row.leader is None or states.get(row.leader, "running") == "running":
        return replace(row, hosts=hosts)
    gone = f"etcd: the leader's host {row.leader} is {states[row.leader]}; asking again"
    return replace(row, hosts=hosts, leader=None, term=None, problems=(*row.problems, gone))


def scenario_of(doc: Any) -> Scenario | None:
    """The last scenario from scenario.json (None when absent or not readable)."""
    if not isinstance(doc, Mapping):
        return None
    try:
        figures = {str(k): float(v) for k, v in (doc.get("figures") or {}).items()}
        return Scenario(str(doc["name"]), bool(doc["ok"]), float(doc["finished_at"]), figures)
    except (KeyError, TypeError, ValueError):
        return None


class Source(Protocol):
    """Where the page's values come from (`halab.lab.classview.Watcher` on a real host)."""

    def rows(self) -> list[LabRow]: ...

    def states(self) -> dict[str, dict[str, str]]:
        """Every lab's hosts' states, host → state, as the provider says: quick (no SSH), so
        the page shows a halt even while a round of `rows` waits on the halted host."""
        ...

    def page(self, lab: str) -> LabPage | None: ...


# An action the teacher may take from the page (`--allow-actions`): its name, the labs it is
# for, and what it does; it returns one line saying what happened.
Action = Callable[[str, list[str], Mapping[str, str]], str]
