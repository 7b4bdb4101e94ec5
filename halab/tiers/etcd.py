"""The etcd tier on the masters: its files, a new cluster started at once, changed members
restarted one at a time (quorum is kept), and the wait for one agreed leader."""

from __future__ import annotations

import time
from collections.abc import Callable

from halab import ui
from halab.config.plan import ETCD_CLIENT_PORT, Plan
from halab.errors import HalabError
from halab.facts import etcd
from halab.poll import Timeout, poll
from halab.probes import etcd as etcd_probe
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError
from halab.render import tierfiles
from halab.tiers import kube_control
from halab.tiers.base import Tier, roll

# etcd's --strict-reconfig-check (its default) refuses a member add or remove until every member
# has been connected to the leader for 5 s (HealthInterval); these answers mean "not yet".
SETTLING = ("etcdserver: unhealthy cluster",
            "etcdserver: re-configuration failed due to not enough started members",
            "etcdserver: leader changed")
RECONFIGURE_TIMEOUT = 60
TIER = Tier(tierfiles.ETCD, ("etcd",))


def tier(plan: Plan) -> Tier:
    return TIER


def apply(plan: Plan, remote: Remote, tier: Tier, changed: dict[str, list[str]]) -> int:
    """Start a new cluster all at once; restart changed members one at a time (keeps quorum)."""
    def healthy() -> None:
        wait(plan, remote, etcd_probe.HEALTH_TIMEOUT)

    def settled(host: str) -> None:
        """A restarted member healthy; with `etcd_servers: local` its kube-apiserver stopped
        and started with it (BindsTo), so that one ready too before the next member."""
        healthy()
        if plan.kube is not None and plan.kube.etcd_servers_mode == "local" and remote.run(
                host, "systemctl is-enabled kube-apiserver", check=False).stdout.strip() \
                == "enabled":
            kube_control.wait_own_apiserver(plan, remote, host, kube_control.APISERVER_TIMEOUT)
    return roll(remote, [m.name for m in plan.masters], "etcd",
                lambda m: bool(tier.services_for(changed.get(m, []))), healthy,
                settled=settled)


def wait(plan: Plan, remote: Remote, timeout: float) -> etcd.ClusterView:
    """Until every member answers and all agree on one leader (bounded by `timeout`)."""
    expected = len(plan.masters)
    health = etcd_probe.wait_healthy(lambda: etcd_probe.view(plan, remote),
                                     lambda view: view.problems(expected),
                                     timeout=timeout, interval=3)
    found = health.view
    if health.problems or found is None:  # a wait that ran out has a reason: its last problem
        raise RemoteError(plan.masters[0].name, f"waiting {timeout:.0f}s for etcd quorum",
                          "; ".join(health.problems),
                          "look at `journalctl -u etcd` on the masters (`halab ssh master1`)")
    ui.info(f"  etcd: {expected} members healthy, leader {found.leader_name()}, "
            f"term {max(found.terms())}")
    return found


def local(plan: Plan, args: str) -> str:
    """etcdctl on a master, against its own member (a dead endpoint never slows it down)."""
    return etcd.etcdctl(plan, args,
                        endpoints=f"{plan.etcd.scheme}://127.0.0.1:{ETCD_CLIENT_PORT}")


def add_member(plan: Plan, remote: Remote, via: str, name: str, peer: str, **wait) -> None:
    """`etcdctl member add` on `via`, waiting out a young cluster's refusal (below)."""
    reconfigure(plan, remote, via, f"member add {name} --peer-urls={peer}", f"add {name}",
                **wait)


def remove_member(plan: Plan, remote: Remote, via: str, hex_id: str, name: str,
                  **wait) -> None:
    """`etcdctl member remove` on `via`: refused too while the cluster settles."""
    reconfigure(plan, remote, via, f"member remove {hex_id}", f"remove {name}", **wait)


def reconfigure(plan: Plan, remote: Remote, via: str, args: str, change: str, *,
                timeout: float = RECONFIGURE_TIMEOUT, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> None:
    """A membership change on `via`, waiting out etcd's refusal while a young cluster settles
    (right after `up` every add and remove is refused for a few seconds). Only the answers of
    SETTLING are retried; any other error fails at once with etcd's own words."""
    said = False

    def attempt(why) -> bool | None:
        nonlocal said
        result = remote.run(via, local(plan, args), check=False, what=f"etcdctl {args}")
        if result.ok:
            return True
        output = result.stdout + result.stderr
        settling = next((s for s in SETTLING if s in output), None)
        if settling is None:
            raise RemoteError(via, f"etcdctl member {change}", output)
        why(settling)
        if not said:
            ui.info(f"  etcd refused to {change} for now ({settling}); waiting: etcd accepts "
                    "membership changes once every member has been connected for a few seconds")
            said = True
        return None
    try:
        poll(attempt, timeout=timeout, interval=2, what=f"etcd to {change}",
             clock=clock, sleep=sleep)
    except Timeout as exc:
        raise HalabError(f"{via}: etcd still refused to {change} after {timeout:.0f}s; "
                         f"it answered: {exc.last}",
                         "nothing was changed; `halab status` shows etcd's members, and the "
                         "same command can be run again once every member is healthy") from None
