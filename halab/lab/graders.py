"""The graders of `halab exercise check`: each asks the lab itself whether a fix holds (the cause,
not the symptom), and answers (passed, what it saw). Named in config.exercises.GRADERS.

What `start` recorded before the break (`Before`) is what the fix is held to: the marks it wrote
through the LB, and each member's ID then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from halab.probes.etcdclient import Cluster
from halab.probes.gateway import GatewayError
from halab.session.context import Lab

MARKS = 10  # keys `start` writes through the LB before the break
LB_TRIES = 4  # new connections per master through the LB (round robin reaches each)


@dataclass
class Before:
    """The lab as `start` found it, before the break (kept in exercise.json)."""

    prefix: str = ""
    marks: list[str] = field(default_factory=list)
    member_ids: dict[str, int] = field(default_factory=dict)


Verdict = tuple[bool, str]


def record(cluster: Cluster, prefix: str) -> Before:
    """Write the marks through the LB and note each member's ID."""
    gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=5.0)
    try:
        marks = [f"{prefix}{n:03d}" for n in range(MARKS)]
        for key in marks:
            gw.put(key, "written before the exercise broke the lab")
        ids = {m.name: m.id for m in gw.members()}
    finally:
        gw.close()
    return Before(prefix, marks, ids)


def forget(cluster: Cluster, before: Before) -> None:
    """Delete the marks (reset), if etcd answers."""
    gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=5.0)
    try:
        gw.delete_prefix(before.prefix)
    except GatewayError:
        pass
    finally:
        gw.close()


def etcd_healthy(lab: Lab, cluster: Cluster, before: Before, host: str | None) -> Verdict:
    members, problems = cluster.listed_problems_within(timeout=15)
    if problems:
        return False, "; ".join(problems)
    return True, f"{members} members, all healthy, one leader"


def _marks_at(cluster: Cluster, url: str, before: Before) -> tuple[list[str], str]:
    """The marks missing when read at `url`, or why it could not be read."""
    gw = cluster.gateway(url, timeout=5.0)
    try:
        have = set(gw.keys(before.prefix))
    except GatewayError as exc:
        return before.marks, str(exc).splitlines()[0]
    finally:
        gw.close()
    return [k for k in before.marks if k not in have], ""


def etcd_marks_kept(lab: Lab, cluster: Cluster, before: Before, host: str | None) -> Verdict:
    missing, error = _marks_at(cluster, cluster.plan.etcd.client_url, before)
    if error:
        return False, f"etcd does not answer through the LB: {error}"
    if missing:
        return False, (f"{len(missing)} of the {len(before.marks)} keys written before the "
                       "break are gone: was the cluster recreated instead of restored?")
    return True, f"all {len(before.marks)} keys written before the break are there"


def etcd_member_replaced(lab: Lab, cluster: Cluster, before: Before, host: str | None
                         ) -> Verdict:
    assert host is not None
    try:
        members = {m.name: m for m in cluster.members([m.name for m in lab.plan.masters])}
    except Exception as exc:  # noqa: BLE001 - HalabError or a gateway error: the verdict says it
        return False, f"no member answers the member list: {exc}"
    now = members.get(host)
    if now is None:
        return False, f"{host} is not a member of the cluster"
    if now.id == before.member_ids.get(host):
        return False, (f"{host} still has its old member ID {now.hex_id}: it was never removed "
                       "and added back")
    url = cluster.member_urls()[host]
    missing, error = _marks_at(cluster, url, before)
    if error or missing:
        return False, (f"{host} (member {now.hex_id}) does not serve the cluster's data: "
                       + (error or f"{len(missing)} keys missing"))
    return True, f"{host} is member {now.hex_id} (was {before.member_ids.get(host, 0):x}) " \
                 "and serves every key"


def lb_sends_to_every_master(lab: Lab, cluster: Cluster, before: Before, host: str | None
                             ) -> Verdict:
    """Through the LB, each request on a new connection: the member that answered it."""
    ids = {}
    for _ in range(LB_TRIES * len(lab.plan.masters)):
        gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=3.0)
        try:
            ids[gw.status().member_id] = True
        except GatewayError:
            pass
        finally:
            gw.close()
    try:
        names = {m.id: m.name for m in cluster.members([m.name for m in lab.plan.masters])}
    except Exception as exc:  # noqa: BLE001
        return False, f"no member answers the member list: {exc}"
    seen = sorted(names.get(i, f"{i:x}") for i in ids)
    missing = [m.name for m in lab.plan.masters if m.name not in seen]
    if missing:
        return False, f"through the LB only {', '.join(seen) or 'no master'} answered; never " \
                      f"{', '.join(missing)}"
    return True, f"{', '.join(seen)} all answered through the LB"


GRADERS: dict[str, Callable[[Lab, Cluster, Before, str | None], Verdict]] = {
    "etcd-healthy": etcd_healthy,
    "etcd-member-replaced": etcd_member_replaced,
    "etcd-marks-kept": etcd_marks_kept,
    "lb-sends-to-every-master": lb_sends_to_every_master,
}
