"""`halab verify --scenario lb`: halt the LB host that holds the VIP while writing through it.

With `lb: {replicas: 2, vip: ...}` two LB hosts share the clients' address with keepalived. The
scenario writes numbered keys through the VIP, halts whichever LB holds it (a guest shutdown,
or with --hard the plug pulled), and measures: the time until another LB holds the VIP, the
client error window (the longest gap between acknowledged writes), and acknowledged writes
lost. It then boots the LB again and checks that exactly one LB holds the VIP.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll, wait_until
from halab.verify import demo
from halab.verify.figures import WriteLog
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce

# VRRP with a 1 s advert declares the holder dead after ~3 s; a guest shutdown stops keepalived,
# which hands the address over at once. Software emulation adds seconds of scheduling delay.
VIP_MOVE_LIMIT = 15.0
CLIENT_GAP_LIMIT = 20.0  # seconds without an acknowledged write through the VIP
MOVE_TIMEOUT = 120
HOLD_POLL = 0.5


@dataclass
class LBHalt:
    holder: str
    hard: bool
    moved_to: str | None = None
    move_s: float | None = None
    halt_s: float = 0.0
    writes: WriteLog = field(default_factory=lambda: WriteLog(started=0.0))
    found: list[int] = field(default_factory=list)
    readback_error: str = ""
    holders_after: list[str] = field(default_factory=list)


def judge(r: LBHalt) -> list[Verdict]:
    acked = r.writes.acked()
    lost = r.writes.lost(r.found)
    gap = r.writes.longest_gap()
    return [
        Verdict(f"the VIP moved to another LB within {VIP_MOVE_LIMIT:.0f}s",
                r.move_s is not None and r.move_s <= VIP_MOVE_LIMIT,
                f"{r.moved_to} holds it {r.move_s:.1f}s after the halt began"
                if r.move_s is not None else f"no other LB took it within {MOVE_TIMEOUT}s"),
        Verdict(f"clients through the VIP: error window ≤ {CLIENT_GAP_LIMIT:.0f}s",
                bool(acked) and gap <= CLIENT_GAP_LIMIT,
                f"longest gap between acknowledged writes {gap:.1f}s"),
        Verdict("no acknowledged write lost", bool(acked) and not lost and not r.readback_error,
                f"{len(acked)} acknowledged, {len(lost)} lost"
                + (f"; read-back failed: {r.readback_error}" if r.readback_error else "")),
        Verdict(f"{r.holder} back: exactly one LB holds the VIP", len(r.holders_after) == 1,
                f"held by {', '.join(r.holders_after) or 'none'}"),
    ]


def _wait_new_holder(actions: LabActions, others: list[str], since: float
                     ) -> tuple[str | None, float | None]:
    """Poll the other LB hosts until one holds the VIP (bounded by MOVE_TIMEOUT from `since`)."""
    def holder(why: Reason) -> tuple[str, float] | None:
        found = actions.vip_holders(others)
        return (found[0], time.monotonic() - since) if found else None
    try:
        return poll(holder, timeout=since + MOVE_TIMEOUT - time.monotonic(), interval=HOLD_POLL,
                    what="another LB to hold the VIP")
    except Timeout:
        return None, None


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Halt the VIP's holder while writing, judge; whether every verdict held, the figures."""
    cluster = actions.etcd()
    names = [h.name for h in plan.lbs]  # two or more, with a VIP: its needs (VIP_PAIR)
    holders = actions.vip_holders(names)
    if len(holders) != 1:
        raise HalabError(f"the VIP {plan.vip} is held by {holders or 'no LB host'}, not by one",
                         "`halab up` again starts keepalived; `halab status` shows the holder")
    r = LBHalt(holders[0], hard)
    others = [n for n in names if n != r.holder]
    how = "power off" if hard else "graceful shutdown"
    prefix = f"/halab/lb-failover/{time.strftime('%Y%m%d-%H%M%S')}/"
    writer = demo.Writer(cluster.gateway(plan.etcd.client_url), prefix)
    with ui.step(f"scenario lb: halt {r.holder}, which holds {plan.vip} ({how})"):
        ui.info(f"  writing numbered keys through {plan.etcd.client_url} every "
                f"{demo.WRITE_INTERVAL:.1f}s")
        writer.start()
        try:
            time.sleep(2)  # a baseline of acknowledged writes
            started = time.monotonic()
            halting = threading.Thread(target=actions.halt, args=([r.holder], hard), daemon=True)
            halting.start()
            r.moved_to, r.move_s = _wait_new_holder(actions, others, started)
            halting.join(timeout=600)
            r.halt_s = time.monotonic() - started
            settle = time.monotonic()
            wait_until(lambda: time.monotonic() - settle >= demo.SETTLE
                       and writer.acked_since(settle) >= 3, 60, 0.2)
        finally:
            r.writes = writer.finish()
    r.found, r.readback_error = demo.read_back(cluster, prefix)
    acked = r.writes.acked()
    ui.info(f"  {r.moved_to or 'no LB'} took the VIP"
            + (f" {r.move_s:.1f}s after the halt began" if r.move_s is not None else "")
            + f"; {r.holder} was off after {r.halt_s:.0f}s")
    ui.info(f"  writes: {len(r.writes.writes)} sent, {len(acked)} acknowledged, longest gap "
            f"{r.writes.longest_gap():.1f}s, {len(r.writes.lost(r.found))} lost")
    with ui.step(f"start {r.holder} again"):
        actions.start([r.holder])

        def one_holder() -> bool:  # keepalived settles who holds it within a few adverts
            r.holders_after = actions.vip_holders(names)
            return len(r.holders_after) == 1
        wait_until(one_holder, 60, 2)
        ui.info(f"  the VIP is held by {', '.join(r.holders_after) or 'no LB host'}")
    ok = announce(judge(r))
    nan = float("nan")
    return ok, {"vip_move_s": r.move_s if r.move_s is not None else nan,
                "client_gap_s": r.writes.longest_gap(),
                "lost": float(len(r.writes.lost(r.found)))}
