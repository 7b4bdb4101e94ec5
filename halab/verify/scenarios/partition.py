"""`halab verify --scenario partition`: cut the etcd leader off from the other masters while
writing through the LB (the LB still reaches it), heal, and judge from what was recorded.

The verdicts: the majority elects a new leader within 2 × the election timeout; the isolated
member stops serving as leader; no raft term ever has two leaders (every member polled every
0.2 s; a claim counts when seen twice in a row); no acknowledged write is lost; after `heal`
the isolated member catches up to the leader's raft index. The client error window is printed
as a figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts.etcd import EndpointStatus
from halab.poll import wait_until
from halab.verify import demo
from halab.verify.figures import WriteLog
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce

POLL = 0.2  # seconds between status polls of each member
CATCH_UP_TIMEOUT = 120.0
BASELINE = 2.0  # seconds of acknowledged writes before the cut
Answer = tuple[float, str, EndpointStatus | None]


@dataclass
class PartitionRun:
    """What happened, on this host's monotonic clock; the functions below read it."""

    isolated: str
    isolated_id: int
    election_timeout_ms: int
    started: float = 0.0  # when the isolated member's own rules were all in place
    healed: float | None = None
    answers: list[Answer] = field(default_factory=list)
    writes: WriteLog = field(default_factory=lambda: WriteLog(0.0))
    found: list[int] = field(default_factory=list)
    readback_error: str = ""
    leader_index_at_heal: int | None = None
    caught_up_at: float | None = None


def new_leader(r: PartitionRun) -> tuple[float, int] | None:
    """The first answer of a majority member, after the cut, naming a leader that is not the
    isolated member."""
    for at, name, st in sorted(r.answers, key=lambda a: a[0]):
        if at >= r.started and name != r.isolated and st and st.leader not in (0,
                                                                               r.isolated_id):
            return at, st.leader
    return None


def stepped_down(r: PartitionRun) -> float | None:
    """When the isolated member first answered as something other than the leader."""
    for at, name, st in sorted(r.answers, key=lambda a: a[0]):
        if at >= r.started and name == r.isolated and st and not st.is_leader:
            return at
    return None


def leaders_by_term(answers: list[Answer]) -> dict[int, set[str]]:
    """The members that answered as leader, by raft term: Raft allows one per term. A claim
    counts when a member makes it for itself in two polls in a row: etcd reads the term and the
    leader of a status answer at two moments, so one answer taken mid-election can pair a new
    leader with the old term (seen in CI: `3: master2+master3`, then master2 at term 4)."""
    out: dict[int, set[str]] = {}
    last: dict[str, tuple[int, bool]] = {}
    for _, name, st in sorted(answers, key=lambda a: a[0]):
        if st is None:
            last.pop(name, None)
            continue
        now = (st.raft_term, st.is_leader)
        if st.is_leader and last.get(name) == now:
            out.setdefault(st.raft_term, set()).add(name)
        last[name] = now
    return out


def error_window(log: WriteLog, since: float) -> tuple[float, int]:
    """From the first failed write after `since` to the end of the last one, and how many
    failed: how long clients through the LB saw errors."""
    failed = [w for w in log.failed() if w.started >= since]
    if not failed:
        return 0.0, 0
    return max(w.finished for w in failed) - min(w.started for w in failed), len(failed)


def judge(r: PartitionRun) -> list[Verdict]:
    limit = 2 * r.election_timeout_ms / 1000
    seen = new_leader(r)
    took = seen[0] - r.started if seen else None
    down = stepped_down(r)
    doubled = {t: ids for t, ids in leaders_by_term(r.answers).items() if len(ids) > 1}
    terms = leaders_by_term(r.answers)
    lost = r.writes.lost(r.found)
    acked = len(r.writes.acked())
    caught = (r.caught_up_at - r.healed if r.caught_up_at is not None and r.healed is not None
              else None)
    return [
        Verdict(f"the majority elects a new leader within 2 × the election timeout ({limit:.1f}s)",
                took is not None and took <= limit,
                f"{took:.2f}s after the cut" if took is not None else "none seen"),
        Verdict(f"the isolated {r.isolated} stops serving as leader", down is not None,
                f"a follower {down - r.started:.2f}s after the cut" if down is not None
                else "it still answered as leader"),
        Verdict(f"no raft term has two leaders (every member polled every {POLL:g}s)",
                bool(terms) and not doubled,
                f"{len(r.answers)} answers, leaders by term: " + ", ".join(
                    f"{t}: {'+'.join(sorted(n))}" for t, n in sorted(terms.items()))
                if terms else "no member answered as leader"),
        Verdict("every acknowledged write is there afterwards (0 lost)",
                acked > 0 and not lost and not r.readback_error,
                f"{acked} acknowledged, {len(lost)} lost"
                + (f" ({lost[:10]})" if lost else "")
                + (f"; read-back failed: {r.readback_error}" if r.readback_error else "")),
        Verdict(f"after heal, {r.isolated} catches up to the leader's raft index",
                caught is not None,
                f"index {r.leader_index_at_heal} reached {caught:.2f}s after heal"
                if caught is not None else f"not within {CATCH_UP_TIMEOUT:.0f}s"),
    ]


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Cut the leader off, heal, judge; whether every verdict held, and the figures."""
    actions.heal()  # a drill starts from a whole network
    cluster = actions.etcd()
    before = cluster.view()
    leader = before.leader_name()
    if leader is None:
        raise HalabError("etcd has no single leader to cut off",
                         "wait for the cluster to settle (`halab status`), or `halab up` again")
    others = [m.name for m in plan.masters if m.name != leader]
    r = PartitionRun(leader, next(m.id for m in before.members if m.name == leader),
                     plan.etcd.election_timeout_ms)
    prefix = f"/halab/partition/{time.strftime('%Y%m%d-%H%M%S')}/"
    ui.info(f"  {leader} leads; writing through {plan.etcd.client_url} every "
            f"{demo.WRITE_INTERVAL:.1f}s, every member polled every {POLL:g}s")
    writer = demo.Writer(cluster.gateway(plan.etcd.client_url, timeout=5.0), prefix)
    watcher = demo.Watcher(cluster.member_gateways(), interval=POLL).start()
    writer.start()
    limit = 4 * r.election_timeout_ms / 1000 + 30
    try:
        time.sleep(BASELINE)  # acknowledged writes before the cut
        with ui.step(f"scenario partition: cut {leader} off from {', '.join(others)} (the LB "
                     "still reaches it)"):
            began = time.monotonic()
            r.started = actions.partition(leader, others)
            ui.info(f"  {leader}'s own rules were in place {r.started - began:.1f}s after "
                    "the cut began; times below count from then")
        with ui.step("wait for a new leader and for the isolated member to step down"):
            def settled() -> bool:
                r.answers = watcher.full()
                return new_leader(r) is not None and stepped_down(r) is not None
            wait_until(settled, limit, POLL)
            settle_from = time.monotonic()
            wait_until(lambda: time.monotonic() - settle_from >= demo.SETTLE
                       and writer.acked_since(settle_from) >= 3, 60, POLL)
        seen = new_leader(r)
        new_name = demo.name_of(before.members, seen[1]) if seen else None
        with ui.step(f"heal, and wait until {leader} catches up with {new_name or 'the leader'}"):
            latest = watcher.latest.get(new_name or "")
            r.leader_index_at_heal = latest.raft_index if latest else None
            actions.heal()
            r.healed = time.monotonic()

            def caught_up() -> bool:
                mine = watcher.latest.get(leader)
                return (r.leader_index_at_heal is not None and mine is not None
                        and mine.raft_index >= r.leader_index_at_heal)
            if wait_until(caught_up, CATCH_UP_TIMEOUT, POLL):
                r.caught_up_at = time.monotonic()
    finally:
        r.writes = writer.finish()
        watcher.stop()
        r.answers = watcher.full()
    r.found, r.readback_error = demo.read_back(cluster, prefix)
    window, failed = error_window(r.writes, r.started)
    ui.info(f"  client error window through the LB: {window:.2f}s ({failed} of "
            f"{len(r.writes.writes)} writes failed); longest gap between acknowledged writes "
            f"{r.writes.longest_gap():.2f}s")
    ok = announce(judge(r))
    seen = new_leader(r)
    return ok, {"new_leader_s": seen[0] - r.started if seen else float("nan"),
                "error_window_s": window,
                "catch_up_s": (r.caught_up_at - r.healed) if r.caught_up_at and r.healed
                else float("nan")}
