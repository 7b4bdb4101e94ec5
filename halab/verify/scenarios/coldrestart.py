"""`halab verify --scenario cold-restart`: every VM off at once, then `halab up`, then judge.

Users of HA lab tools report clusters that never come back after every VM was powered off. This
scenario writes keys through the LB, halts the whole lab (a guest shutdown, or with --hard the
plug pulled), brings it up again with `halab up`, and holds it to: every tier healthy (etcd
quorum with one leader, the LB reaching every master, the checks of `halab verify` passing,
kube nodes Ready among them) and every key written before the halt still there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.probes.etcdclient import Cluster
from halab.probes.gateway import GatewayError
from halab.verify import demo
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce

MARKS = 20  # keys written through the LB before the halt


@dataclass
class ColdRestart:
    """What happened, as measured; `judge` turns it into verdicts."""

    hard: bool
    masters: int  # as the topology counts them
    lb: bool  # the lab has a load balancer: its backends are judged
    written: list[int] = field(default_factory=list)
    halt_s: float = 0.0
    forced: list[str] = field(default_factory=list)
    vms: int = 0  # the lab's VMs as the provider lists them after the halt
    still_on: list[str] = field(default_factory=list)
    up_s: float = 0.0
    up_error: str = ""
    found: list[int] = field(default_factory=list)
    readback_error: str = ""
    members: int = 0  # as etcd's own member list counts them
    etcd_problems: list[str] = field(default_factory=list)
    backends_missing: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)


OFF = ("shut off", "not created")


def still_on(states: dict[str, str]) -> list[str]:
    """The VMs of a provider's listing that are not off."""
    return sorted(name for name, state in states.items() if state not in OFF)


def judge(r: ColdRestart) -> list[Verdict]:
    """The verdicts, from what the provider and etcd reported rather than from the topology, so
    a host the topology left out fails them instead of being skipped."""
    lost = sorted(set(r.written) - set(r.found))
    members = r.members or r.masters
    out = [
        Verdict(f"every host was off ({'power off' if r.hard else 'guest shutdown'})",
                r.vms > 0 and not r.still_on,
                f"{r.vms} hosts off in {r.halt_s:.0f}s"
                + (f"; forced off: {', '.join(r.forced)}" if r.forced else "")
                if not r.still_on else f"still on: {', '.join(r.still_on)}"),
        Verdict("`halab up` brought the lab back", not r.up_error,
                f"{r.up_s:.0f}s" if not r.up_error else r.up_error),
        Verdict(f"etcd has quorum: {members} healthy members and one leader",
                not r.up_error and r.members > 0 and not r.etcd_problems,
                "; ".join(r.etcd_problems) or f"{r.members} in etcd's member list, all healthy"
                if not r.up_error else "not asked"),
        Verdict("every key written before the halt is there",
                bool(r.written) and not lost and not r.readback_error,
                f"{len(r.written)} written, {len(r.found)} read back"
                + (f", lost {lost[:10]}" if lost else "")
                + (f"; {r.readback_error}" if r.readback_error else "")),
    ]
    if r.lb:
        out.append(Verdict("the load balancer reaches every master",
                           not r.up_error and not r.backends_missing,
                           f"missing: {', '.join(r.backends_missing)}" if r.backends_missing
                           else "yes" if not r.up_error else "not asked"))
    totals = r.checks
    out.append(Verdict("`halab verify` passes afterwards",
                       totals.get("failed", 1) == 0 and totals.get("passed", 0) > 0,
                       f"{totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed, "
                       f"{totals.get('skipped', 0)} skipped" if totals else "not run"))
    return out


def write_marks(cluster: Cluster, prefix: str, count: int = MARKS) -> list[int]:
    """Write `count` numbered keys through the LB; returns the numbers acknowledged."""
    gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=5.0)
    acked = []
    try:
        for seq in range(count):
            try:
                gw.put(f"{prefix}{seq:06d}", "written before the cold restart")
                acked.append(seq)
            except GatewayError as exc:
                ui.warn(f"  write {seq} not acknowledged: {exc}")
    finally:
        gw.close()
    return acked


def backends_missing(actions: LabActions, plan: Plan) -> list[str]:
    """`lb: master` for each master an LB host does not reach."""
    reached = {h.name: actions.lb_reach(h.name) for h in plan.lbs}
    return [f"{name}: {m.name}" for name, names in reached.items() for m in plan.masters
            if m.name not in names]


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Write, halt every host, `halab up`, judge; whether every verdict held, the figures."""
    r = ColdRestart(hard, len(plan.masters), plan.lb is not None)
    cluster = actions.etcd()
    prefix = f"/halab/cold-restart/{time.strftime('%Y%m%d-%H%M%S')}/"
    with ui.step(f"write {MARKS} keys through {plan.etcd.client_url}"):
        r.written = write_marks(cluster, prefix)
    how, hosts = "power off" if hard else "guest shutdown", len(actions.machines())
    with ui.step(f"scenario cold-restart: halt all {hosts} hosts at once ({how})"):
        t0 = time.monotonic()
        r.forced = actions.halt_all(hard)
        r.halt_s = time.monotonic() - t0
        states = actions.machines()
        r.vms, r.still_on = len(states), still_on(states)
    # `halab up` even when a host stayed on: that verdict fails, and the lab is left running
    # rather than half off (a CI run's next tests found it so)
    t0 = time.monotonic()
    try:
        actions.up()
    except HalabError as exc:
        r.up_error = exc.message.splitlines()[0]
        ui.error(exc.message)
    r.up_s = time.monotonic() - t0
    if not r.up_error:
        with ui.step("etcd, the keys written before, the LB's backends"):
            r.members, r.etcd_problems = cluster.listed_problems_within(60)
            r.found, r.readback_error = demo.read_back(cluster, prefix)
            r.backends_missing = backends_missing(actions, plan) if plan.lb else []
        with ui.step("halab verify"):
            r.checks = actions.checks()
    ok = announce(judge(r))
    return ok, {"halt_s": r.halt_s, "up_s": r.up_s,
                "keys_lost": float(len(set(r.written) - set(r.found)))}
