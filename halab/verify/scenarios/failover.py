"""`halab verify --scenario failover`: halt a master, assert, start it, assert.

The verdicts are the issues': a new etcd leader within 2 × the election timeout, no
acknowledged write lost, a healthy cluster without the halted member, and all members healthy
after restart. With the kube tier the halted master is the lease holder, and the verdicts add a
new lease holder in time, a Deployment scheduled while it is down, kubectl through the LB, and
each minion's longest gap between its kubelet's node-lease renewals (its API gap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.facts.kube import node_lease
from halab.poll import wait_until
from halab.probes.etcdclient import Cluster
from halab.verify import demo, kubedemo
from halab.verify.figures import (
    LeaseMove,
    LeasePoll,
    WriteLog,
    call_log,
    holder_moved,
    renewal_gap,
)
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce

KUBECTL_GAP_LIMIT = 30.0  # seconds without an answer to kubectl through the LB
LEASE_MARGIN = 10.0  # seconds on top of lease duration + retry period: polling and the halt
# kubelet's nodeLeaseDurationSeconds (the default): a kubelet that cannot renew its node lease
# for longer loses it, and its node goes NotReady.
NODE_LEASE_S = 40


def judge_halt(report: demo.HaltReport, masters: int,
               resolution: float = demo.POLL_INTERVAL) -> list[Verdict]:
    """The etcd verdicts of one halt. The new leader is seen by polls `resolution` apart, so
    the time to it is known only to within that much: the verdict allows it. (etcd's followers
    wait a random 1 to 2 election timeouts, so a loaded host lands on the limit itself.)"""
    limit = 2 * report.election_timeout_ms / 1000
    seconds = report.change.seconds if report.change else None
    acked = len(report.writes.acked())
    survivors = report.after.problems(masters - 1)
    if report.change is None:  # a follower was halted: the leader must simply stay
        still = report.after.leader_name()
        first = Verdict(f"etcd keeps its leader {report.old_leader}",
                        still == report.old_leader, f"leader now {still}")
    else:
        first = Verdict(f"a new leader within 2 × the election timeout ({limit:.1f}s, "
                        f"polled every {resolution:g}s)",
                        seconds is not None and seconds <= limit + resolution,
                        f"{seconds:.2f}s" if seconds is not None else "none seen")
    return [
        first,
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


@dataclass
class KubeHalt:
    """What the kube tier did while `host` was down (recorded by `halab.verify.kubedemo`)."""

    host: str
    old_holders: dict[str, str]
    halt_started: float
    polls: list[LeasePoll]
    polls_started: float
    polls_stopped: float
    pods: kubedemo.PodsReport
    lease_limit_s: float
    minions: tuple[str, ...] = ()  # whose API gaps the node leases give

    def moved(self) -> dict[str, LeaseMove | None]:
        """Each lease the halted host held → how it moved to another (None: it did not)."""
        return {lease: holder_moved(self.polls, lease, old, self.halt_started)
                for lease, old in self.old_holders.items() if old == self.host}

    def calls(self) -> WriteLog:
        return call_log(self.polls, self.polls_started, self.polls_stopped)

    def api_gaps(self) -> dict[str, float | None]:
        """Per minion, the longest time between its kubelet's node-lease renewals: how long it
        could not reach the API (through its own proxy with lb.mode per-node)."""
        return {m: renewal_gap(self.polls, node_lease(m)) for m in self.minions}


def judge_kube_halt(k: KubeHalt, kubectl_via: str = "through the LB") -> list[Verdict]:
    out = []
    for lease, move in k.moved().items():
        out.append(Verdict(f"a new {lease} lease holder within {k.lease_limit_s:.0f}s of the "
                           "last renewal (lease duration + margin)",
                           move is not None and move.seconds <= k.lease_limit_s,
                           f"{move.new_holder} after {move.seconds:.1f}s" if move
                           else "none seen"))
    out.append(Verdict(f"a new Deployment {k.pods.name} Running on minions while {k.host} "
                       "is down", k.pods.seconds is not None,
                       (f"{k.pods.seconds:.1f}s after apply: " if k.pods.seconds is not None
                        else f"{k.pods.why}: ") + ", ".join(k.pods.placement)))
    calls = k.calls()
    answered = len(calls.acked())
    gap = calls.longest_gap()
    last_ok = bool(calls.writes) and calls.writes[-1].acked
    out.append(Verdict(f"kubectl {kubectl_via} keeps working (no gap over {KUBECTL_GAP_LIMIT}s)",
                       last_ok and gap <= KUBECTL_GAP_LIMIT,
                       f"{answered} of {len(calls.writes)} calls answered, longest gap "
                       f"{gap:.1f}s"))
    gaps = k.api_gaps()
    out.append(Verdict(f"every kubelet reached the API within its node lease ({NODE_LEASE_S}s "
                       "between renewals)",
                       all(g is not None and g <= NODE_LEASE_S for g in gaps.values()),
                       ", ".join(f"{m} {g:.1f}s" if g is not None else f"{m} never seen"
                                 for m, g in gaps.items())))
    return out


def judge_rejoin(report: demo.RejoinReport, after: list[str], masters: int) -> list[Verdict]:
    return [
        Verdict(f"{report.host} rejoined and caught up", report.rejoin_seconds is not None,
                f"{report.rejoin_seconds:.1f}s after boot" if report.rejoin_seconds is not None
                else f"not within {demo.REJOIN_TIMEOUT}s"),
        Verdict(f"{masters} healthy members again", not after, "; ".join(after) or "yes"),
    ]


def _target(plan: Plan, cluster: Cluster, kube: kubedemo.KubeProbe | None
            ) -> tuple[HostPlan | None, dict[str, str]]:
    """The master to halt: the etcd leader, or with the kube tier the controller-manager's lease
    holder, made etcd leader first so that one halt tests both elections."""
    leader = cluster.view().leader_name()
    if leader is None:
        ui.error("etcd has no single leader to halt; run `halab status`")
        return None, {}
    holders: dict[str, str] = {}
    name = leader
    if kube is not None:
        holders = kube.holders(plan.masters[0].name)
        name = holders.get("kube-controller-manager") or leader
        ui.info("  leases: " + ", ".join(f"{lease} held by {h or 'nobody'}"
                                         for lease, h in holders.items()))
        if name != leader:
            moved = cluster.move_leader(name)
            ui.info(f"  etcd leadership moved from {leader} to {name}" if moved else
                    f"  [yellow]could not move etcd leadership to {name}; {leader} keeps it[/]")
    return next(m for m in plan.masters if m.name == name), holders


def _kube_while_down(plan: Plan, kube: kubedemo.KubeProbe, target: HostPlan,
                     watcher: kubedemo.LeaseWatcher, holders: dict[str, str],
                     halt_started: float) -> KubeHalt:
    """After the etcd part: wait for the leases to move, then create a Deployment."""
    k = plan.kube
    assert k is not None
    limit = k.lease_duration_s + k.retry_period_s + LEASE_MARGIN
    report = KubeHalt(target.name, holders, halt_started, [], watcher.started, 0.0,
                      kubedemo.PodsReport(kubedemo.NEXT, None), limit,
                      tuple(m.name for m in plan.minions))

    def all_moved() -> bool:
        report.polls = watcher.snapshot()
        return all(report.moved().values())
    wait_until(all_moved, limit + 60, 1)
    for lease, move in report.moved().items():
        ui.info(f"  {lease}: " + (f"new holder {move.new_holder} {move.seconds:.1f}s after "
                                  f"{target.name}'s last renewal was seen" if move
                                  else "no new holder seen"))
    via = next(m.name for m in reversed(plan.masters) if m.name != target.name)
    with ui.step(f"create Deployment {kubedemo.NEXT} while {target.name} is down"):
        report.pods = kube.run_deployment(via, kubedemo.NEXT, len(plan.minions))
    for line in report.pods.placement:
        ui.info(f"  {line}")
    kube.delete(via, kubedemo.NEXT)
    report.polls = watcher.finish()
    report.polls_stopped = watcher.stopped
    gaps = report.api_gaps()
    ui.info("  API gap per minion (longest time between its kubelet's node-lease renewals, "
            "every 10s when all is well): " + ", ".join(
                f"{m} {g:.1f}s" if g is not None else f"{m} no renewal seen"
                for m, g in gaps.items()))
    return report


@dataclass
class FailoverRun:
    """What the failover recorded, start to end; `judge` turns it into verdicts."""

    masters: int
    halted: demo.HaltReport
    kube_on: bool = False  # the lab's kube tier runs: its verdicts are due
    kube: KubeHalt | None = None
    kube_error: str = ""  # why the kube tier could not be judged while the master was down
    kubectl_via: str = "through the LB"
    rejoined: demo.RejoinReport | None = None
    after: list[str] = field(default_factory=list)  # why not every member is healthy again
    apiserver_back: float | None = None  # seconds after the rejoin


def judge(r: FailoverRun) -> list[Verdict]:
    """The halt's verdicts, the kube tier's while the master was down, then the rejoin's."""
    out = judge_halt(r.halted, r.masters)
    if r.kube is not None:
        out += judge_kube_halt(r.kube, r.kubectl_via)
    elif r.kube_on:
        out.append(Verdict("the kube tier answered while a master was down", False,
                           r.kube_error))
    if r.rejoined is not None:
        out += judge_rejoin(r.rejoined, r.after, r.masters)
    if r.kube_on:
        out.append(Verdict(f"{r.halted.host}'s kube-apiserver ready again",
                           r.apiserver_back is not None, f"{r.apiserver_back:.1f}s after the "
                           "rejoin" if r.apiserver_back is not None
                           else f"not within {kubedemo.APISERVER_TIMEOUT}s"))
    return out


def figures(r: FailoverRun) -> dict[str, float]:
    nan = float("nan")
    halted, rejoined, k = r.halted, r.rejoined, r.kube
    out = {"new_leader_s": halted.change.seconds if halted.change and
           halted.change.seconds is not None else nan,
           "write_gap_s": halted.writes.longest_gap(),
           "rejoin_s": rejoined.rejoin_seconds if rejoined and rejoined.rejoin_seconds
           is not None else nan}
    if k is not None:
        moved = [move.seconds for move in k.moved().values() if move]
        out |= {"new_lease_holder_s": max(moved) if moved else nan,
                "web_next_running_s": k.pods.seconds or nan,
                "kubectl_gap_s": k.calls().longest_gap(),
                "node_api_gap_s": max((g for g in k.api_gaps().values() if g is not None),
                                      default=nan),
                "apiserver_back_s": r.apiserver_back if r.apiserver_back is not None else nan}
    return out


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Halt the leader, start it again, judge; whether every verdict held, and the figures."""
    cluster, kube = actions.etcd(), actions.kube()
    target, holders = _target(plan, cluster, kube)
    if target is None:
        return False, {}
    survivor = next(m.name for m in plan.masters if m.name != target.name)
    watcher = kubedemo.LeaseWatcher(kube, survivor) if kube else None
    halt_started = time.monotonic()

    def halt() -> None:
        nonlocal halt_started
        halt_started = time.monotonic()
        actions.halt([target.name], hard)

    with ui.step(f"scenario failover: halt {target.name} "
                 f"({'power off' if hard else 'graceful'})"):
        if watcher:
            watcher.start()
        try:
            halted = demo.halt_master(cluster, target, hard, halt)
        except BaseException:
            if watcher:
                watcher.finish()
            raise
    for line in halted.lines():
        ui.info(f"  {line}")
    r = FailoverRun(len(plan.masters), halted, kube_on=kube is not None)
    if kube and watcher:
        try:
            r.kube = _kube_while_down(plan, kube, target, watcher, holders, halt_started)
            r.kubectl_via = ("through the LB" if plan.kube and plan.kube.master_api_url ==
                             plan.kube.api_url else "on a running master")
        except HalabError as exc:  # still start the master again below
            watcher.finish()
            r.kube_error = exc.message.splitlines()[-1]
    with ui.step(f"start {target.name} again"):
        r.rejoined = demo.start_master(cluster, target, lambda: actions.start([target.name]))
    for line in r.rejoined.lines():
        ui.info(f"  {line}")
    r.after = cluster.problems_within(r.masters)
    if kube:
        r.apiserver_back = kube.wait_apiserver(survivor, target.name)
    return announce(judge(r)), figures(r)
