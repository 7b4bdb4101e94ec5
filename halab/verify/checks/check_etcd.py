"""etcd on the masters: the service, the membership, health, one leader, TLS, replication."""

from __future__ import annotations

import time

import pytest

from halab.config import layout
from halab.facts import etcd
from halab.poll import Reason, Timeout, poll
from halab.session.context import Lab

LOCAL = "https://127.0.0.1:2379"
# One `endpoint health` can miss its 2 s dial timeout on a loaded, emulated host: ask again,
# 3 s apart, for up to 12 s (three or four tries) before calling a member unhealthy.
HEALTH_TIMEOUT = 12.0
HEALTH_RETRY_S = 3.0


def _local(lab: Lab) -> str:
    return LOCAL if lab.plan.etcd.tls else LOCAL.replace("https", "http")


def _ctl(master, lab: Lab, args: str, endpoints: list[str] | str | None = None) -> str:  # noqa: ANN001
    r = master.run(etcd.etcdctl(lab.plan, args, endpoints or _local(lab)))
    assert r.rc == 0, f"`etcdctl {args}` on {master.name}: {_last_line(r.stderr or r.stdout)}"
    return r.stdout


def _last_line(text: str) -> str:
    """etcdctl logs JSON warnings first; its last line says what went wrong."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def test_service_active_and_enabled(master) -> None:  # noqa: ANN001
    """etcd is active and enabled"""
    svc = master.host.service("etcd")
    assert svc.is_running, f"etcd is not running on {master.name} (`journalctl -u etcd`)"
    assert svc.is_enabled, f"etcd is not enabled on {master.name}: it would not start at boot"


def test_member_list_matches_the_topology(master, lab: Lab) -> None:  # noqa: ANN001
    """member list matches the topology (names, peer and client URLs)"""
    members = etcd.parse_member_list(_ctl(master, lab, "member list -w json"))
    got = {m.name: (m.peer_urls, m.client_urls) for m in members}
    assert got == etcd.expected_members(lab.plan)


def test_every_endpoint_is_healthy(master, lab: Lab) -> None:  # noqa: ANN001
    """every member endpoint is healthy"""
    last: dict[str, object] = {}

    def healthy(why: Reason) -> bool | None:
        r = master.run(etcd.etcdctl(lab.plan, "endpoint health -w json"))
        health = etcd.parse_endpoint_health(r.stdout)
        sick = [f"{h.endpoint}: {h.error}" for h in health if not h.healthy]
        last.update(stderr=r.stderr, health=health, sick=sick)
        return True if health and not sick else None
    try:
        poll(healthy, timeout=HEALTH_TIMEOUT, interval=HEALTH_RETRY_S,
             what=f"etcd endpoint health on {master.name}")
    except Timeout:
        pass  # the assertions below say what the last answer was
    health, sick = last["health"], last["sick"]
    assert health, f"`etcdctl endpoint health` on {master.name}: {_last_line(last['stderr'])}"
    assert not sick, "unhealthy: " + "; ".join(sick)
    assert len(health) == len(lab.plan.masters), f"{len(health)} endpoints answered"


def test_one_leader_and_one_term(master, lab: Lab) -> None:  # noqa: ANN001
    """exactly one leader, and every member agrees on the raft term"""
    statuses = etcd.parse_endpoint_status(_ctl(master, lab, "endpoint status -w json",
                                               list(lab.plan.etcd.member_client_urls)))
    problems = etcd.ClusterView((), tuple(statuses)).problems(len(lab.plan.masters))
    assert not problems, "; ".join(problems)
    assert sum(s.is_leader for s in statuses) == 1, "no member says it is the leader"


def test_a_client_without_a_certificate_is_refused(master, lab: Lab) -> None:  # noqa: ANN001
    """a client without a certificate is refused"""
    if not lab.plan.etcd.tls:
        pytest.skip("the topology turns etcd TLS off")
    r = master.run(f"curl -sS --max-time 5 --cacert {layout.CLIENT_PKI}/etcd-ca.crt "
                   f"{LOCAL}/health")
    assert r.rc != 0 and '"health"' not in r.stdout, r.stdout


def test_a_write_here_is_read_on_another_member(master, lab: Lab, node) -> None:  # noqa: ANN001
    """a write on this member is read on another one"""
    names = [m.name for m in lab.plan.masters]
    other = node(names[(names.index(master.name) + 1) % len(names)])
    key, value = f"/halab/verify/{master.name}", f"from-{master.name}-{time.time_ns()}"
    assert "OK" in _ctl(master, lab, f"put {key} {value}")
    got = _ctl(other, lab, f"get {key} --print-value-only").strip()
    _ctl(master, lab, f"del {key}")
    assert got == value, f"{other.name} read {got!r}, {master.name} wrote {value!r}"
