"""`halab verify --scenario failover`: halt whichever master leads, assert, start it, assert.

The verdicts are the issue's: a new leader within 2 × the election timeout, no acknowledged
write lost, a healthy cluster without the halted member, and all members healthy after restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from halab import ui
from halab.plan import HostPlan, Plan
from halab.verify import demo


@dataclass(frozen=True)
class Verdict:
    title: str
    ok: bool
    detail: str


def judge_halt(report: demo.HaltReport, masters: int) -> list[Verdict]:
    limit = 2 * report.election_timeout_ms / 1000
    seconds = report.change.seconds if report.change else None
    acked = len(report.writes.acked())
    survivors = report.after.problems(masters - 1)
    return [
        Verdict(f"a new leader within 2 × the election timeout ({limit:.1f}s)",
                seconds is not None and seconds <= limit,
                f"{seconds:.2f}s" if seconds is not None else "none seen"),
        Verdict("no acknowledged write lost",
                acked > 0 and not report.lost and not report.readback_error,
                f"{acked} acknowledged, {len(report.lost)} lost"
                + (f"; read-back failed: {report.readback_error}"
                   if report.readback_error else "")),
        Verdict(f"a healthy {masters - 1}-of-{masters} cluster",
                not survivors and len(report.after.statuses) == masters - 1,
                "; ".join(survivors) or f"{len(report.after.statuses)} members answer, "
                f"leader {report.after.leader_name()}"),
    ]


def judge_rejoin(report: demo.RejoinReport, after: list[str], masters: int) -> list[Verdict]:
    return [
        Verdict(f"{report.host} rejoined and caught up", report.rejoin_seconds is not None,
                f"{report.rejoin_seconds:.1f}s after boot" if report.rejoin_seconds is not None
                else f"not within {demo.REJOIN_TIMEOUT}s"),
        Verdict(f"{masters} healthy members again", not after, "; ".join(after) or "yes"),
    ]


def failover(plan: Plan, pki_dir: Path, hard: bool,
             power_off: Callable[[HostPlan], Callable[[], None]],
             boot: Callable[[HostPlan], Callable[[], None]]) -> tuple[bool, dict[str, float]]:
    """Run the scenario; returns whether every verdict held, and the figures measured."""
    masters = len(plan.masters)
    leader = demo.Cluster(plan, pki_dir).view().leader_name()
    if leader is None:
        ui.error("etcd has no single leader to halt; run `halab status`")
        return False, {}
    target = next(m for m in plan.masters if m.name == leader)
    verdicts: list[Verdict] = []
    with ui.step(f"scenario failover: halt the leader {leader} "
                 f"({'power off' if hard else 'graceful'})"):
        halted = demo.halt_master(plan, pki_dir, target, hard, power_off(target))
    for line in halted.lines():
        ui.info(f"  {line}")
    verdicts += judge_halt(halted, masters)
    with ui.step(f"start {leader} again"):
        rejoined = demo.start_master(plan, pki_dir, target, boot(target))
    for line in rejoined.lines():
        ui.info(f"  {line}")
    after = demo.Cluster(plan, pki_dir).view().problems(masters)
    verdicts += judge_rejoin(rejoined, after, masters)
    for v in verdicts:
        ui.info(f"{'[green]✓[/]' if v.ok else '[red]✗[/]'} {v.title} — {v.detail}")
    ok = all(v.ok for v in verdicts)
    passed = sum(v.ok for v in verdicts)
    ui.info(f"[bold {'green' if ok else 'red'}]{passed} of {len(verdicts)} verdicts hold[/]")
    figures = {"new_leader_s": halted.change.seconds if halted.change and
               halted.change.seconds is not None else float("nan"),
               "write_gap_s": halted.writes.longest_gap(),
               "rejoin_s": rejoined.rejoin_seconds if rejoined.rejoin_seconds is not None
               else float("nan")}
    return ok, figures
