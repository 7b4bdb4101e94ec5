"""`halab verify --scenario slow-zone`: write through the LB for a while with 100 ms added
between one zone and the others, then with the link cleared, and compare.

A figure more than a test: write latency (p50, p99) and leader changes in each phase. The one
verdict per phase is that quorum was never lost: no stretch without an acknowledged write
longer than 2 × the election timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from halab import ui
from halab.config.plan import Plan
from halab.facts.etcd import EndpointStatus
from halab.probes.etcdclient import Cluster
from halab.verify import demo
from halab.verify.figures import WriteLog
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce

SECONDS = 60.0  # each phase (bench/drills --seconds shortens it)
DELAY_MS = 100


@dataclass
class Phase:
    label: str
    writes: WriteLog
    answers: list[tuple[float, str, EndpointStatus | None]]

    def latencies(self) -> list[float]:
        """Seconds each acknowledged write took, through the LB and etcd's commit."""
        return sorted(w.finished - w.started for w in self.writes.writes if w.acked)

    def leaders(self) -> list[str]:
        """The members that answered as leader, in the order they first did."""
        return list(dict.fromkeys(n for _, n, st in sorted(self.answers, key=lambda a: a[0])
                                  if st and st.is_leader))

    def leader_changes(self) -> int:
        """Distinct (term, leader) pairs the members named, less the first."""
        seen = {(st.raft_term, st.leader) for _, _, st in self.answers if st and st.leader}
        return max(0, len(seen) - 1)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0–100) of sorted `values`; None when empty."""
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 100))  # ceil(n q / 100), at least the first
    return values[int(rank) - 1]


def figures(p: Phase) -> dict[str, float]:
    lat = p.latencies()
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    return {"p50_ms": p50 * 1000 if p50 is not None else float("nan"),
            "p99_ms": p99 * 1000 if p99 is not None else float("nan"),
            "leader_changes": float(p.leader_changes()),
            "failed": float(len(p.writes.failed()))}


@dataclass
class SlowZone:
    """The phases measured, with the election timeout they are held to."""

    election_timeout_ms: int
    phases: list[Phase]


def judge(r: SlowZone) -> list[Verdict]:
    limit = 2 * r.election_timeout_ms / 1000
    out = []
    for p in r.phases:
        gap = p.writes.longest_gap()
        out.append(Verdict(f"no quorum lost {p.label} (no gap between acknowledged writes over "
                           f"{limit:.1f}s)", bool(p.writes.acked()) and gap <= limit,
                           f"longest gap {gap:.2f}s, {len(p.writes.acked())} writes "
                           f"acknowledged"))
    return out


def line(p: Phase) -> str:
    f = figures(p)
    return (f"{p.label}: write p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms, "
            f"{int(f['leader_changes'])} leader changes, {int(f['failed'])} failed of "
            f"{len(p.writes.writes)}; leader {', '.join(p.leaders()) or 'unknown'}")


def measure(plan: Plan, cluster: Cluster, label: str, seconds: float) -> Phase:
    prefix = f"/halab/slow-zone/{time.strftime('%Y%m%d-%H%M%S')}/"
    writer = demo.Writer(cluster.gateway(plan.etcd.client_url, timeout=5.0), prefix)
    watcher = demo.Watcher(cluster.member_gateways()).start()
    writer.start()
    try:
        time.sleep(seconds)
    finally:
        log = writer.finish()
        watcher.stop()
    return Phase(label, log, watcher.full())


def slow_zone(plan: Plan) -> str:
    """The zone to slow down: b, or the last of the masters' zones (two or more: its needs)."""
    zones = sorted({h.zone for h in plan.masters if h.zone})
    return "b" if "b" in zones else zones[-1]


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Measure with one zone slowed down, then without; whether quorum held, and the figures."""
    cluster, zone, seconds = actions.etcd(), slow_zone(plan), SECONDS
    phases = []
    try:
        with ui.step(f"scenario slow-zone: +{DELAY_MS} ms between zone {zone} and the other "
                     f"zones, writing through {plan.etcd.client_url} for {seconds:.0f}s"):
            actions.shape(zone, DELAY_MS)
            phases.append(measure(plan, cluster, f"with +{DELAY_MS} ms", seconds))
            ui.info(f"  {line(phases[-1])}")
    finally:
        actions.shape(None, 0)
    with ui.step(f"the same with the link cleared, {seconds:.0f}s"):
        phases.append(measure(plan, cluster, "without", seconds))
        ui.info(f"  {line(phases[-1])}")
    ok = announce(judge(SlowZone(plan.etcd.election_timeout_ms, phases)))
    slow, fast = (figures(p) for p in phases)
    return ok, {"slow_p50_ms": slow["p50_ms"], "slow_p99_ms": slow["p99_ms"],
                "fast_p50_ms": fast["p50_ms"], "fast_p99_ms": fast["p99_ms"],
                "slow_leader_changes": slow["leader_changes"]}
