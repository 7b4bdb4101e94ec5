"""The etcd tier on the masters: its files, a new cluster started at once, changed members
restarted one at a time (quorum is kept), and the wait for one agreed leader."""

from __future__ import annotations

from halab import ui
from halab.config import layout
from halab.config.plan import Plan
from halab.facts import etcd
from halab.poll import Timeout, poll
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError
from halab.tiers.base import Tier, roll

TIMEOUT = 240
TIER = Tier("etcd", "master", ("etcd",),
            {"etcd": (layout.ETCD_ENV, layout.ETCD_UNIT, layout.ETCD_PKI + "/")})


def tier(plan: Plan) -> Tier:
    return TIER


def apply(plan: Plan, remote: Remote, tier: Tier, changed: dict[str, list[str]]) -> int:
    """Start a new cluster all at once; restart changed members one at a time (keeps quorum)."""
    return roll(remote, [m.name for m in plan.masters], "etcd",
                lambda m: bool(tier.services_for(changed.get(m, []))),
                lambda: wait(plan, remote, TIMEOUT))


def view(plan: Plan, remote: Remote, via: str | None = None) -> etcd.ClusterView:
    """Members and per-member status, asked from one reachable master."""
    via = via or plan.masters[0].name
    members = etcd.parse_member_list(remote.run(
        via, etcd.etcdctl(plan, "member list -w json"), what="etcdctl member list").stdout)
    statuses = etcd.parse_endpoint_status(remote.run(
        via, etcd.etcdctl(plan, "endpoint status -w json"), check=False,
        what="etcdctl endpoint status").stdout or "[]")
    return etcd.ClusterView(tuple(members), tuple(statuses))


def first_view(plan: Plan, remote: Remote, masters: list[str]) -> etcd.ClusterView | None:
    """The view from the first of `masters` that answers (None: none did)."""
    for m in masters:
        try:
            return view(plan, remote, via=m)
        except (RemoteError, ValueError):
            continue
    return None


def wait(plan: Plan, remote: Remote, timeout: float) -> etcd.ClusterView:
    """Until every member answers and all agree on one leader (bounded by `timeout`)."""
    expected = len(plan.masters)

    def healthy(why) -> etcd.ClusterView | None:
        found = view(plan, remote)
        issues = found.problems(expected)
        if issues:
            why("; ".join(issues))
            return None
        return found
    try:
        found = poll(healthy, timeout=timeout, interval=3, what="etcd quorum",
                     retry_on=(RemoteError, ValueError))
    except Timeout as exc:
        raise RemoteError(plan.masters[0].name, f"waiting {timeout:.0f}s for etcd quorum",
                          exc.last or "no answer yet",
                          "look at `journalctl -u etcd` on the masters (`halab ssh master1`)"
                          ) from None
    ui.info(f"  etcd: {expected} members healthy, leader {found.leader_name()}, "
            f"term {max(found.terms())}")
    return found
