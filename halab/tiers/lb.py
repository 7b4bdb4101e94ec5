"""The load-balancer tier: nginx, Pound or HAProxy on every LB host (and keepalived beside it
when they share a VIP), restarted one host at a time, then etcd checked through each."""

from __future__ import annotations

import time

from halab import ui
from halab.config import layout
from halab.config.plan import ETCD_CLIENT_PORT, Plan
from halab.facts import etcd
from halab.poll import Timeout, poll
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError
from halab.tiers.base import Tier, is_active

TIMEOUT = 90
SERVICES = {"nginx": (layout.NGINX_CONF,), "haproxy": (layout.HAPROXY_CONF,),
            "pound": (layout.POUND_CONF, layout.POUND_PKI + "/")}


def tier(plan: Plan) -> Tier:
    """The LB service on every LB host; with a VIP, keepalived beside it (started after it)."""
    return make(plan.lb_kind, vip=plan.vip is not None)


def make(kind: str, vip: bool = False) -> Tier:
    triggers = {kind: SERVICES[kind]}
    if vip:
        triggers["keepalived"] = (layout.KEEPALIVED_CONF,)
    return Tier("load balancer", "lb", tuple(triggers), triggers)


def apply(plan: Plan, remote: Remote, tier: Tier, changed: dict[str, list[str]]) -> int:
    """One host at a time, so a VIP pair keeps serving while the other restarts."""
    actions = 0
    for lb in plan.lbs:
        hit = tier.services_for(changed.get(lb.name, []))
        for service in tier.services:
            if service in hit or not is_active(remote, lb.name, service):
                ui.info(f"  (re)starting {service} on {lb.name}")
                remote.run(lb.name, f"systemctl enable {service} && systemctl restart {service}",
                           what=f"starting {service}")
                actions += 1
    wait(plan, remote, TIMEOUT)
    return actions


def wait(plan: Plan, remote: Remote, timeout: float) -> None:
    """Until etcd answers /health through every LB host's address, and then through the address
    clients use (the VIP, when the LBs share one); `timeout` bounds them all together."""
    targets = [(h.name, f"{plan.etcd.scheme}://{h.ip}:{ETCD_CLIENT_PORT}") for h in plan.lbs]
    if plan.vip:
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
