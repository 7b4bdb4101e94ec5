"""The load-balancer tier: nginx, Pound or HAProxy on every LB host (and keepalived beside it
when they share a VIP), started everywhere at once and restarted one host at a time (`roll`),
with etcd checked through each LB host (and then the VIP) after every step."""

from __future__ import annotations

import time

from halab import ui
from halab.config.plan import ETCD_CLIENT_PORT, Plan
from halab.facts import etcd
from halab.poll import Timeout, poll
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError
from halab.render import tierfiles
from halab.tiers.base import Tier, roll

TIMEOUT = 90


def tier(plan: Plan) -> Tier:
    """The LB service on every LB host; with a VIP, keepalived beside it (started after it)."""
    return Tier(tierfiles.LB, (plan.lb_kind,) + (("keepalived",) if plan.vip else ()))


def apply(plan: Plan, remote: Remote, tier: Tier, changed: dict[str, list[str]]) -> int:
    """Each service in turn: started where it is stopped (at once, blocking, so a bad config
    fails here), then restarted where its files changed one host at a time, so a VIP pair
    keeps serving. The VIP is waited for only once keepalived is up."""
    actions = 0
    for service in tier.services:
        actions += roll(remote, [h.name for h in plan.lbs], service,
                        lambda h, svc=service: svc in tier.services_for(changed.get(h, [])),
                        lambda svc=service: wait(plan, remote, TIMEOUT, vip=svc == "keepalived"),
                        block=True)
    return actions


def wait(plan: Plan, remote: Remote, timeout: float, vip: bool = True) -> None:
    """Until etcd answers /health through every LB host's address, and then (with `vip`)
    through the address clients use (the VIP, when the LBs share one); `timeout` bounds them
    all together."""
    targets = [(h.name, f"{plan.etcd.scheme}://{h.ip}:{ETCD_CLIENT_PORT}") for h in plan.lbs]
    if plan.vip and vip:
        targets.append((plan.lbs[0].name, plan.etcd.client_url))
    left = Deadline(timeout)
    for name, url in targets:
        def healthy(why, name: str = name, url: str = url) -> bool | None:
            r = remote.run(name, etcd.curl_health(plan, url), check=False)
            if r.ok and '"health":"true"' in r.stdout.replace(" ", ""):
                return True
            why(r.stdout + r.stderr)
            return None
        try:
            poll(healthy, timeout=left(), interval=2, what=f"etcd through {url}")
        except Timeout as exc:
            raise RemoteError(name, f"waiting {timeout:.0f}s for etcd through {url}", exc.last,
                              f"look at `journalctl -u {plan.lb_kind}`"
                              + (" and `journalctl -u keepalived`" if plan.vip else "")
                              + f" on {name}") from None
        ui.info(f"  etcd answers through {plan.lb_kind} at {url}")


class Deadline:
    """Seconds left of one budget shared by several waits (never below zero)."""

    def __init__(self, timeout: float):
        self._end = time.monotonic() + timeout

    def __call__(self) -> float:
        return max(0.0, self._end - time.monotonic())
