"""etcd as a master sees it (`etcdctl` over SSH), and the one wait for a healthy cluster.

The wait is shared: the etcd tier asks it over SSH, `halab start`, the restore and the
scenarios over HTTP from this host (`halab.probes.etcdclient`); only where the view comes from
differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts import etcd
from halab.poll import Reason, Timeout, poll, reason_of
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError

# A new cluster, or every member restarted: under TCG the last member can take minutes to
# answer. `halab start`, the restore and the etcd tier give it this long.
HEALTH_TIMEOUT = 240

def view(plan: Plan, remote: Remote, via: str | None = None) -> etcd.ClusterView:
    """Members and per-member status, asked from one reachable master."""
    via = via or plan.masters[0].name
    members = etcd.parse_member_list(remote.run(
        via, etcd.etcdctl(plan, "member list -w json"), what="etcdctl member list").stdout)
    statuses = etcd.parse_endpoint_status(remote.run(
        via, etcd.etcdctl(plan, "endpoint status -w json"), check=False,
        what="etcdctl endpoint status").stdout or "[]")
    return etcd.ClusterView(tuple(members), tuple(statuses))


SPLIT = "--- halab: endpoint status ---"


def quick_view(plan: Plan, remote: Remote, via: str, timeout: int) -> etcd.ClusterView:
    """`view` in one SSH call bounded by `timeout` in all: for a page that must not wait on a
    master that stops mid-call (every call to it then waits out its whole timeout)."""
    out = remote.run(via, f"{etcd.etcdctl(plan, 'member list -w json')}; echo '{SPLIT}'; "
                          f"{etcd.etcdctl(plan, 'endpoint status -w json')}; true",
                     what="etcdctl member list and endpoint status", timeout=timeout).stdout
    members, _, statuses = out.partition(SPLIT)
    return etcd.ClusterView(tuple(etcd.parse_member_list(members)),
                            tuple(etcd.parse_endpoint_status(statuses.strip() or "[]")))


def first_view(plan: Plan, remote: Remote, masters: list[str],
               timeout: int | None = None) -> etcd.ClusterView | None:
    """The view from the first of `masters` that answers (None: none did); with `timeout`,
    each master is asked in one call bounded by it (`quick_view`)."""
    for m in masters:
        try:
            return (quick_view(plan, remote, m, timeout) if timeout is not None
                    else view(plan, remote, via=m))
        except (RemoteError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class ClusterHealth:
    """How a wait for a healthy cluster ended: the last view that answered (None: none did)
    and what was wrong last (empty: healthy)."""

    view: etcd.ClusterView | None
    problems: list[str]


def wait_healthy(ask: Callable[[], etcd.ClusterView],
                 problems: Callable[[etcd.ClusterView], list[str]], *,
                 timeout: float, interval: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> ClusterHealth:
    """Ask `ask()` for etcd's view until `problems(view)` finds none, or `timeout` passes.
    A view that cannot be had (no member answers, an answer that does not parse) is a problem
    of its own, asked again: right after a start, or under load, a member misses a poll."""
    last: list[etcd.ClusterView | None] = [None]
    wrong: list[str] = []

    def healthy(why: Reason) -> etcd.ClusterView | None:
        try:
            found = ask()
        except (HalabError, ValueError) as exc:
            wrong[:] = [reason_of(exc)]
        else:
            last[0] = found
            wrong[:] = problems(found)
        if wrong:
            why("; ".join(wrong))
            return None
        return found
    try:
        found = poll(healthy, timeout=timeout, interval=interval, what="a healthy etcd",
                     clock=clock, sleep=sleep)
    except Timeout:
        return ClusterHealth(last[0], list(wrong))
    return ClusterHealth(found, [])
