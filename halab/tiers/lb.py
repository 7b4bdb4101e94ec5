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
from halab.remote.runner import RemoteError, parallel
from halab.render import tierfiles
from halab.render.files import lb_services
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


def reach(plan: Plan, remote: Remote, lb: str) -> list[str] | None:
    """The masters LB host `lb` reaches on every forwarded port (None: it could not be asked)."""
    by_port = reach_by_service(plan, remote, lb)
    if by_port is None:
        return None
    return [m.name for m in plan.masters if all(m.name in got for got in by_port.values())]


def reach_by_service(plan: Plan, remote: Remote, lb: str) -> dict[str, list[str]] | None:
    """Per forwarded service (etcd, kube-apiserver), the masters whose port LB host `lb` opens
    a TCP connection to (None: it could not be asked)."""
    services = lb_services(plan)
    out = open_ports(remote, lb, [(f"{m.name}:{s.port}", m.ip, s.port)
                                  for m in plan.masters for s in services])
    if out is None:
        return None
    return {s.name: [m.name for m in plan.masters if f"{m.name}:{s.port}" in out]
            for s in services}


def open_ports(remote: Remote, host: str, targets: list[tuple[str, str, int]]) -> set[str] | None:
    """The labels of the (label, ip, port) targets `host` opens a TCP connection to, each tried
    for 2 s (None: the host could not be asked)."""
    probes = " ; ".join(f"timeout 2 bash -c '</dev/tcp/{ip}/{port}' 2>/dev/null && echo {label}"
                        for label, ip, port in targets)
    try:
        return set(remote.run(host, probes + " ; true", sudo=False, timeout=60).stdout.split())
    except RemoteError:
        return None


def vip_holders(plan: Plan, remote: Remote, running: list[str]) -> list[str]:
    """The running LB hosts that hold the VIP on their private NIC (one, when all is well)."""
    if not plan.vip:
        return []
    command = (f"ip -o -4 addr show dev {plan.nic} | grep -q ' {plan.vip}/' "
               "&& echo holds")

    def holds(name: str) -> bool:
        try:
            return "holds" in remote.run(name, command + " ; true", sudo=False,
                                         timeout=30).stdout
        except RemoteError:
            return False
    found = parallel([h.name for h in plan.lbs if h.name in running], holds)
    return [name for name, yes in found.items() if yes]
