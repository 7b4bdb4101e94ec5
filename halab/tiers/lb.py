"""The load-balancer tier: nginx, Pound or HAProxy on every LB host (and keepalived beside it
when they share a VIP), started everywhere at once and restarted one host at a time (`roll`),
with etcd checked through each LB host (and then the VIP) after every step."""

from __future__ import annotations

import time

from halab import ui
from halab.config import layout
from halab.config.plan import ETCD_CLIENT_PORT, Plan
from halab.facts import etcd
from halab.poll import Timeout, poll
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError, parallel
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


# ── one master out of the apiserver's rotation, and back (`halab upgrade`) ──
ROTATION = {
    "haproxy": "HAProxy's runtime API (admin socket): the server is set to `drain`, so it gets "
               "no new connection and keeps its open ones; `ready` puts it back",
    "nginx": "nginx (open source) has no runtime API: its upstream line gets `down` and nginx "
             "reloads gracefully (old workers finish their connections); the line is restored "
             "and nginx reloads again",
    "pound": "poundctl on Pound's control socket disables the backend (no new requests; open "
             "sessions may still reach it) and enables it again",
}


def rotation_command(kind: str, master: str, index: int, out: bool) -> str:
    """The shell command that takes `master` (the `index`th backend) out of an LB host's
    kube-apiserver service, or with `out` False puts it back. Idempotent both ways."""
    if kind == "haproxy":
        state = "drain" if out else "ready"
        return (f"echo 'set server kube-apiserver/{master} state {state}' | "
                f"socat stdio /run/haproxy/admin.sock")
    if kind == "nginx":
        back = f"s/ down;  # {master}$/;  # {master}/"
        sed = f"{back}; s/;  # {master}$/ down;  # {master}/" if out else back
        return (f"sed -i '/upstream kube-apiserver {{/,/}}/ {{ {sed} }}' {layout.NGINX_CONF} "
                f"&& nginx -t -q && systemctl reload nginx")
    if kind == "pound":
        return (f"poundctl -s /run/poundctl.socket {'disable' if out else 'enable'} "
                f"/kube-apiserver/0/{index}")
    raise ValueError(f"no rotation for LB kind {kind!r}")


def apiserver_fronts(plan: Plan) -> list[str]:
    """The hosts whose LB sends clients to the apiservers: the LB hosts (not Pound's, which
    forward etcd only), or with lb.mode per-node every minion's own proxy."""
    if plan.node_proxies:
        return [h.name for h in plan.node_proxies]
    return [h.name for h in plan.lbs] if plan.kube and plan.lb_kind != "pound" else []


def rotate(plan: Plan, remote: Remote, master: str, out: bool) -> list[str]:
    """Take `master` out of (or put it back in) every LB's apiserver rotation, at once; the
    hosts that did it."""
    index = [m.name for m in plan.masters].index(master)
    command = rotation_command(plan.lb_kind, master, index, out)
    hosts = apiserver_fronts(plan)
    what = (f"{'taking' if out else 'putting'} {master} {'out of' if out else 'back in'} "
            f"{plan.lb_kind}'s rotation")

    def one(host: str) -> None:
        said = remote.run(host, command, what=what).stdout.strip()
        if said:  # HAProxy's runtime API answers nothing when it did it, and exits 0 anyway
            raise RemoteError(host, what, said, f"`halab ssh {host}` and look at its "
                                                f"{plan.lb_kind} config")
    parallel(hosts, one)
    return hosts
