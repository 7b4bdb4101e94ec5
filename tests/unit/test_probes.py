"""halab.probes without a host: the one etcd health wait, the etcd tier's wait through it, the
LB probes' commands and answers, the lease holders, and the one place the etcd client is made."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from labfiles import topology

from halab.config import plan
from halab.errors import HalabError
from halab.facts import etcd
from halab.poll import wait_until
from halab.probes import etcd as etcd_probe
from halab.probes import etcdclient, lb, leases
from halab.remote.fake import RecordingRemote
from halab.remote.protocol import Result
from halab.remote.runner import RemoteError
from halab.tiers import etcd as etcd_tier

pytestmark = pytest.mark.unit
def member(n: int) -> etcd.Member:
    return etcd.Member(n, f"master{n}", (f"https://192.168.43.2{n}:2380",),
                       (f"https://192.168.43.2{n}:2379",))


def view(answering: int, leader: int = 1, of: int = 3) -> etcd.ClusterView:
    return etcd.ClusterView(
        tuple(member(n) for n in range(1, of + 1)),
        tuple(etcd.EndpointStatus(f"e{n}", n, leader, 4, 100, "3.5") for n in
              range(1, answering + 1)))


def wait(answers: list[etcd.ClusterView | Exception], timeout: float = 0.05
         ) -> tuple[etcd_probe.ClusterHealth, int]:
    """The wait over `answers` (the last one repeated), 10 ms apart; its outcome and how many
    times it asked."""
    asked = [0]

    def ask() -> etcd.ClusterView:
        got = answers[min(asked[0], len(answers) - 1)]
        asked[0] += 1
        if isinstance(got, Exception):
            raise got
        return got
    health = etcd_probe.wait_healthy(ask, lambda v: v.problems(3), timeout=timeout,
                                     interval=0.01)
    return health, asked[0]


# ── the one health wait ─────────────────────────────────────────────────────────────────────


def test_the_health_wait_asks_again_through_silence_and_problems_until_healthy() -> None:
    healthy = view(3)
    got, asked = wait([HalabError("no etcd member answered the member list", "a hint"),
                       view(2), healthy], timeout=10)
    assert got.problems == [] and got.view is healthy
    assert asked == 3


def test_a_health_wait_that_runs_out_says_what_was_wrong_last_and_keeps_the_last_view() -> None:
    two = view(2)
    got, asked = wait([two])
    assert got.problems == ["2 of 3 members answered"] and got.view is two and asked > 1
    got, _ = wait([two, ValueError("not JSON")])
    assert got.problems == ["not JSON"] and got.view is two  # the last view that answered


def test_a_health_wait_where_nothing_ever_answered_has_no_view() -> None:
    got, _ = wait([RemoteError("master1", "etcdctl member list", "connection refused")])
    assert got.view is None
    assert got.problems == ["master1: etcdctl member list failed; last output: | connection "
                            "refused"]


def test_an_unexpected_exception_is_not_waited_out() -> None:
    with pytest.raises(KeyError):
        wait([KeyError("header")])


# ── the etcd tier's wait goes through it, over SSH ──────────────────────────────────────────


def etcdctl_answers(p: plan.Plan, answering: int) -> list:
    members = {"members": [{"ID": n, "name": m.name, "peerURLs": [], "clientURLs": []}
                           for n, m in enumerate(p.masters, 1)]}
    statuses = [{"Endpoint": f"e{n}", "Status": {"header": {"member_id": n}, "leader": 1,
                                                 "raftTerm": 4, "raftIndex": 9}}
                for n in range(1, answering + 1)]
    return [(None, "member list", Result(json.dumps(members), "", 0)),
            (None, "endpoint status", Result(json.dumps(statuses), "", 0))]


def test_the_etcd_tier_waits_for_a_healthy_cluster_over_ssh() -> None:
    p = plan.build(topology("etcd-only"))
    r = RecordingRemote(etcdctl_answers(p, 3))
    found = etcd_tier.wait(p, r, 0)
    assert found.leader_name() == "master1"
    assert r.commands("master1", "member list") and r.commands("master1", "endpoint status")


def test_the_etcd_tier_names_the_last_problem_when_the_wait_runs_out() -> None:
    p = plan.build(topology("etcd-only"))
    with pytest.raises(RemoteError) as caught:
        etcd_tier.wait(p, RecordingRemote(etcdctl_answers(p, 2)), 0)
    assert "waiting 0s for etcd quorum" in caught.value.message
    assert "2 of 3 members answered" in caught.value.message


# ── the HTTP client: made in one place, its waits through the same one ──────────────────────


@dataclass
class FakeLab:
    plan: plan.Plan
    dir: Path


def test_the_client_is_made_from_the_labs_plan_and_its_pki(tmp_path: Path) -> None:
    p = plan.build(topology("etcd-only"))
    client = etcdclient.for_lab(FakeLab(p, tmp_path))
    assert client.plan is p and client.pki_dir == tmp_path / "pki"
    assert list(client.member_urls()) == [m.name for m in p.masters]


def test_the_clients_problems_within_asks_its_view_until_healthy(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    client = etcdclient.for_lab(FakeLab(plan.build(topology("etcd-only")), tmp_path))
    monkeypatch.setattr(client, "view", lambda: view(3, leader=0))
    assert client.problems_within(3, timeout=0) == ["members name 0 leaders"]
    monkeypatch.setattr(client, "view", lambda: view(3))
    assert client.problems_within(3, timeout=0) == []


def test_listed_problems_count_the_members_of_the_last_list(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    client = etcdclient.for_lab(FakeLab(plan.build(topology("etcd-only")), tmp_path))
    monkeypatch.setattr(client, "listed_view", lambda: view(3, of=4))
    listed, problems = client.listed_problems_within(timeout=0)
    assert listed == 4 and "3 of 4 members answered (silent: master4)" in problems


def test_wait_until_says_whether_the_condition_held() -> None:
    assert wait_until(lambda: True, 0, 1) is True
    assert wait_until(lambda: False, 0, 0.01) is False


# ── the LB probes ───────────────────────────────────────────────────────────────────────────


def test_reach_lists_the_masters_an_lb_opens_every_forwarded_port_to() -> None:
    p = plan.build(topology("seed"))
    open_ = "master1:2379\nmaster1:6443\nmaster2:2379\nmaster3:2379\nmaster3:6443\n"
    r = RecordingRemote([("lb1", "dev/tcp", Result(open_, "", 0))])
    assert lb.reach_by_service(p, r, "lb1") == {"etcd": ["master1", "master2", "master3"],
                                                "kube-apiserver": ["master1", "master3"]}
    assert lb.reach(p, r, "lb1") == ["master1", "master3"]
    assert all("timeout 2 bash -c '</dev/tcp/" in c for c in r.as_login)  # no sudo needed


def test_a_host_that_cannot_be_asked_answers_none() -> None:
    p = plan.build(topology("seed"))
    r = RecordingRemote([("lb1", "dev/tcp", Result("", "ssh: connect refused", 255))])
    assert lb.reach(p, r, "lb1") is None
    assert lb.proxy_reach(p, r, "lb1") is None


def test_a_node_proxy_says_whether_it_listens_and_which_apiservers_it_reaches() -> None:
    p = plan.build(topology("seed"))
    r = RecordingRemote([("minion1", "dev/tcp", Result("self\nmaster2\n", "", 0))])
    assert lb.proxy_reach(p, r, "minion1") == (True, ["master2"])
    assert "/dev/tcp/127.0.0.1/6443" in r.commands("minion1")[0]


def test_vip_holders_asks_only_the_running_lbs_and_none_without_a_vip() -> None:
    p = plan.build(topology("lb-pair"))
    assert p.vip
    r = RecordingRemote([(p.lbs[0].name, "ip -o -4 addr", Result("holds\n", "", 0))])
    names = [h.name for h in p.lbs]
    assert lb.vip_holders(p, r, names) == [names[0]]
    assert lb.vip_holders(p, r, names[1:]) == []
    assert not [c for c in r.calls if c[0] not in names]
    assert lb.vip_holders(plan.build(topology("seed")), r, ["lb1"]) == []


def test_lease_holders_are_asked_on_the_first_master_by_default() -> None:
    p = plan.build(topology("seed"))
    answer = {"items": [{"metadata": {"name": "kube-scheduler"},
                         "spec": {"holderIdentity": "master2_abc"}}]}
    r = RecordingRemote([(None, "get leases", Result(json.dumps(answer), "", 0))])
    assert leases.holders(p, r) == {"kube-scheduler": "master2_abc"}
    assert r.commands("master1", "get leases")
    leases.holders(p, r, via="master3")
    assert r.commands("master3", "get leases")
