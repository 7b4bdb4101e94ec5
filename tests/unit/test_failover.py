"""The failover figures (writes acknowledged/found/lost, write gap, time to a new leader) and the
parsing of real etcdctl and JSON-gateway output recorded from a lab (tests/unit/testdata/etcd/)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from labfiles import ROOT, lab_plan, topology

from halab.config import plan
from halab.facts import etcd, kube
from halab.render import files as render
from halab.render import lbconfig
from halab.verify import figures
from halab.verify import figures as failover
from halab.verify.figures import LeasePoll, Sample, Write, WriteLog

pytestmark = pytest.mark.unit
DATA = ROOT / "tests" / "unit" / "testdata" / "etcd"


def log(*writes: tuple[int, float, bool], start: float = 0.0, stop: float = 10.0) -> WriteLog:
    return WriteLog(started=start, stopped=stop,
                    writes=[Write(seq, t - 0.05, t, ok) for seq, t, ok in writes])


# ── writes ──────────────────────────────────────────────────────────────────────────────────


def test_every_acknowledged_write_found_means_none_lost() -> None:
    w = log((1, 1.0, True), (2, 2.0, True), (3, 3.0, False))
    assert w.acked() == [1, 2]
    assert w.lost([1, 2]) == []
    assert w.lost([1, 2, 3]) == []  # an unacknowledged write may have been applied
    assert w.unacked_but_applied([1, 2, 3]) == [3]


def test_an_acknowledged_write_that_is_missing_is_lost() -> None:
    w = log((1, 1.0, True), (2, 2.0, True), (3, 3.0, True))
    assert w.lost([1, 3]) == [2]


def test_the_longest_gap_is_between_acknowledgements_including_the_ends() -> None:
    w = log((1, 1.0, True), (2, 1.5, False), (3, 4.0, False), (4, 6.5, True), (5, 7.0, True),
            start=0.5, stop=8.0)
    assert w.longest_gap() == pytest.approx(5.5)  # 1.0 → 6.5
    tail = log((1, 1.0, True), (2, 2.0, False), start=0.0, stop=9.0)
    assert tail.longest_gap() == pytest.approx(8.0)  # nothing acknowledged after 1.0


def test_a_run_without_acknowledgements_is_one_gap() -> None:
    assert log((1, 1.0, False), start=0.0, stop=4.0).longest_gap() == pytest.approx(4.0)
    assert WriteLog(started=2.0, stopped=2.0).longest_gap() == 0.0


def test_key_numbers_come_back_from_the_writers_keys_only() -> None:
    prefix = "/halab/failover/20261122-053000/"
    assert failover.key_seq(prefix + "000042", prefix) == 42
    assert failover.key_seq("/halab/other/000042", prefix) is None
    assert failover.key_seq(prefix + "x1", prefix) is None


# ── leader change ───────────────────────────────────────────────────────────────────────────

OLD, NEW = 0xAAA, 0xBBB


def test_time_to_new_leader_runs_from_the_old_leader_going_silent() -> None:
    samples = [Sample(9.0, "m1", OLD), Sample(10.2, "m1", None), Sample(10.0, "m2", OLD),
               Sample(12.0, "m2", 0), Sample(16.7, "m3", NEW), Sample(17.0, "m2", NEW)]
    change = failover.leader_change(samples, "m1", OLD, halt_started=10.0)
    assert change.lost_at == 10.2 and change.new_leader == NEW
    assert change.seconds == pytest.approx(6.5)


def test_a_poll_that_timed_out_while_the_leader_still_ran_does_not_count() -> None:
    samples = [Sample(10.5, "m1", None), Sample(11.0, "m1", OLD), Sample(170.0, "m1", OLD),
               Sample(171.0, "m1", None), Sample(176.0, "m2", NEW)]
    change = failover.leader_change(samples, "m1", OLD, halt_started=10.0)
    assert change.lost_at == 171.0 and change.seconds == pytest.approx(5.0)


def test_a_handover_before_shutdown_counts_as_zero() -> None:
    samples = [Sample(10.1, "m2", NEW), Sample(11.0, "m1", NEW), Sample(12.0, "m1", None)]
    change = failover.leader_change(samples, "m1", OLD, halt_started=10.0)
    assert change.seconds == 0.0


def test_a_handover_seen_while_the_old_leader_still_answers_counts_as_zero() -> None:
    """A graceful halt that took 20 s to reach etcd (the apiserver stopping first), then etcd's
    ExecStop handed over: the new leader is seen before the old one ever stopped answering."""
    samples = [Sample(t, "m1", OLD) for t in range(10, 31)] + [Sample(30.5, "m2", NEW)]
    change = failover.leader_change(samples, "m1", OLD, halt_started=10.0)
    assert change.new_leader == NEW and change.seconds == 0.0


def test_no_new_leader_is_none_and_samples_before_the_halt_do_not_count() -> None:
    samples = [Sample(5.0, "m2", NEW), Sample(11.0, "m1", None), Sample(12.0, "m2", OLD)]
    change = failover.leader_change(samples, "m1", OLD, halt_started=10.0)
    assert change.new_at is None and change.seconds is None


def test_median() -> None:
    assert failover.median([3.0, 1.0, 2.0]) == 2.0
    assert failover.median([4.0, 1.0]) == 2.5
    with pytest.raises(ValueError):
        failover.median([])


# ── etcdctl and gateway output, as recorded from a lab ──────────────────────────────────────


def test_member_list_from_etcdctl_matches_the_topology() -> None:
    members = etcd.parse_member_list((DATA / "member-list.json").read_text())
    got = {m.name: (m.peer_urls, m.client_urls) for m in members}
    assert got == etcd.expected_members(lab_plan("etcd-only"))


def test_gateway_member_list_reads_like_etcdctls() -> None:
    ctl = etcd.parse_member_list((DATA / "member-list.json").read_text())
    gw = etcd.members_from(json.loads((DATA / "gateway-member-list.json").read_text()))
    assert sorted(m.id for m in gw) == sorted(m.id for m in ctl)


def test_endpoint_status_with_a_member_down_shows_two_agreeing_on_one_leader() -> None:
    statuses = etcd.parse_endpoint_status((DATA / "endpoint-status-one-down.json").read_text())
    view = etcd.ClusterView((), tuple(statuses))
    assert len(statuses) == 2 and view.problems(2) == []
    assert view.problems(3) == ["2 of 3 members answered"]
    assert sum(s.is_leader for s in statuses) == 1


def test_endpoint_health_lists_the_unreachable_member_as_unhealthy() -> None:
    health = etcd.parse_endpoint_health((DATA / "endpoint-health-one-down.json").read_text())
    assert [h.healthy for h in health] == [True, True, False]
    assert "deadline exceeded" in health[2].error


def test_gateway_status_has_string_ids_that_parse_to_the_same_member() -> None:
    st = etcd.status_from("https://m1:2379", json.loads((DATA / "gateway-status.json").read_text()))
    ctl = etcd.parse_endpoint_status((DATA / "endpoint-status-one-down.json").read_text())
    assert st.member_id == ctl[0].member_id and st.is_leader and st.raft_index > 0


def test_gateway_range_keys_are_decoded() -> None:
    keys = etcd.parse_range_keys(json.loads((DATA / "gateway-range.json").read_text()))
    assert keys == ["/halab/fixture/000001", "/halab/fixture/000002"]


def test_prefix_end_is_etcds_prefix_rule() -> None:
    import base64

    assert base64.b64decode(etcd.prefix_end("/a/")) == b"/a0"
    assert base64.b64decode(etcd.prefix_end("ab")) == b"ac"


# ── LB configs read back ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("kind", ["nginx", "pound", "haproxy"])
def test_lb_config_names_exactly_the_masters(kind: str) -> None:
    """A Pound LB host forwards etcd only (a kube lab with Pound is per-node); the others both
    ports. Each minion's own proxy (per-node) forwards the apiservers' port."""
    for mode in ("central", "per-node"):
        if kind == "pound" and mode == "central":
            continue  # refused with the kube tier (tests/unit/test_topology.py)
        topo = topology("seed")
        topo = topo.model_copy(update={"lb": topo.lb.model_copy(update={"kind": kind,
                                                                       "mode": mode})})
        p = plan.build(topo)
        rendered = render.render(p)
        assert p.lb is not None

        def config(host: str, rendered: render.Rendered = rendered) -> str:
            return next(c for path, c in rendered.hosts[host].items()
                        if path.endswith((".conf", ".cfg")) and kind[:3] in path)
        want = {(m.ip, s.port) for m in p.masters for s in render.lb_services(p)}
        assert len(want) == (3 if kind == "pound" else 6)
        assert lbconfig.backends(kind, config(p.lb.name)) == want
        assert len(p.node_proxies) == (2 if mode == "per-node" else 0)
        for node in p.node_proxies:
            assert lbconfig.backends(kind, config(node.name)) == {(m.ip, 6443) for m in p.masters}


# ── scenario verdicts ───────────────────────────────────────────────────────────────────────


def report(seconds: float | None, found: list[int], statuses: int = 2) -> object:
    from halab.verify import demo

    members = tuple(etcd.Member(i, f"m{i}", (), ()) for i in (1, 2, 3))
    sts = tuple(etcd.EndpointStatus(f"e{i}", i, 2, 7, 100, "3.5") for i in (2, 3)[:statuses])
    change = failover.LeaderChange(10.0, None if seconds is None else 10.0 + seconds,
                                   None if seconds is None else 2)
    return demo.HaltReport("m1", True, 5000, "m1", 1.0, change, "m2",
                           log((1, 1.0, True), (2, 2.0, True)), found,
                           etcd.ClusterView(members, sts))


def test_the_failover_verdicts_hold_for_a_good_run() -> None:
    from halab.verify.scenarios import failover as scenario

    verdicts = scenario.judge_halt(report(6.5, [1, 2]), masters=3)
    assert [v.ok for v in verdicts] == [True, True, True]
    assert verdicts[0].title.endswith("(10.0s, polled every 0.25s)")
    assert verdicts[0].detail == "6.50s"


def test_a_new_leader_is_judged_to_within_one_poll() -> None:
    """Polls 0.25 s apart cannot tell 10.0 s from 10.2 s; 10.3 s is late whatever the poll."""
    from halab.verify.scenarios import failover as scenario

    assert scenario.judge_halt(report(10.2, [1, 2]), masters=3)[0].ok
    late = scenario.judge_halt(report(10.3, [1, 2]), masters=3)[0]
    assert not late.ok and late.detail == "10.30s"


def test_the_failover_verdicts_catch_a_slow_election_a_lost_write_and_a_lone_member() -> None:
    from halab.verify.scenarios import failover as scenario

    slow = scenario.judge_halt(report(10.5, [1, 2]), masters=3)
    assert [v.ok for v in slow] == [False, True, True]
    lost = scenario.judge_halt(report(1.0, [1]), masters=3)
    assert [v.ok for v in lost] == [True, False, True] and "1 lost" in lost[1].detail
    lone = scenario.judge_halt(report(None, [1, 2], statuses=1), masters=3)
    assert [v.ok for v in lone] == [False, True, False]


def test_halting_a_follower_asks_only_that_the_leader_stays() -> None:
    from halab.verify import demo
    from halab.verify.scenarios import failover as scenario

    r = report(1.0, [1, 2])
    assert isinstance(r, demo.HaltReport)
    r.change, r.host = None, "m3"  # m1 leads; m2 and m3 answer, m2 named leader by both
    first = scenario.judge_halt(r, masters=3)[0]
    assert not first.ok and first.title == "etcd keeps its leader m1"
    r.old_leader = "m2"
    assert scenario.judge_halt(r, masters=3)[0].ok


# ── the kube tier while a master is down ────────────────────────────────────────────────────

CM, SCHED = "kube-controller-manager", "kube-scheduler"


def poll(t: float, cm: str | None, sched: str = "master2", took: float = 0.5,
         renewed: float | None = None) -> LeasePoll:
    """A poll at `t`; the controller-manager's lease was renewed at `renewed` (default: `t`,
    i.e. at every poll, as a live holder does)."""
    renew = f"{renewed if renewed is not None else t}"
    return LeasePoll(t, t + took, None if cm is None else {CM: (cm, renew), SCHED: (sched, "0")})


def test_a_new_holder_is_timed_from_the_old_holders_last_renewal_seen() -> None:
    polls = [poll(0, "master1"), poll(1, "master3"), poll(11, None), poll(12, "master1"),
             poll(20, "master1", renewed=12), poll(30, "master3"), poll(31, "master2")]
    move = failover.holder_moved(polls, CM, "master1", since=10)
    assert move == failover.LeaseMove(12.5, 30.5, "master3") and move.seconds == 18.0
    assert failover.holder_moved(polls, CM, "master1", since=40) is None
    assert failover.holder_moved(polls, SCHED, "master2", since=0) is None


def test_a_release_is_the_last_change_before_the_new_holder() -> None:
    polls = [poll(0, "master1"), poll(5, "", renewed=5), poll(9, "", renewed=5),
             poll(13, "master2")]
    move = failover.holder_moved(polls, CM, "master1", since=4)
    assert move is not None and move.seconds == pytest.approx(8.0)


def test_failed_kubectl_calls_make_the_gap() -> None:
    polls = [poll(0, "m1"), poll(1, None), poll(2, None), poll(9, "m2"), poll(10, "m2")]
    calls = failover.call_log(polls, started=0, stopped=11)
    assert calls.acked() == [1, 4, 5] and calls.longest_gap() == pytest.approx(9.0)


def kube_halt(polls: list[LeasePoll], pods_seconds: float | None = 40.0,
              minions: tuple[str, ...] = ()) -> object:
    from halab.verify import kubedemo
    from halab.verify.scenarios import failover as scenario

    pods = kubedemo.PodsReport("web-next", pods_seconds, ["web-next-a on minion1 (Running)"],
                               "" if pods_seconds else "0 of 2 pods Running and Ready")
    return scenario.KubeHalt("master1", {CM: "master1", SCHED: "master2"}, 10.0, polls,
                             0.0, polls[-1].finished + 1, pods, lease_limit_s=27,
                             minions=minions)


def test_the_kube_verdicts_hold_for_a_good_run() -> None:
    from halab.verify.scenarios import failover as scenario

    polls = [poll(t, "master1" if t < 30 else "master3", renewed=min(t, 12))
             for t in range(0, 60, 2)]
    verdicts = scenario.judge_kube_halt(kube_halt(polls))
    assert [v.ok for v in verdicts] == [True, True, True, True]
    assert verdicts[0].detail == "master3 after 18.0s"  # the scheduler's lease did not move
    assert "30 of 30 calls answered" in verdicts[2].detail


def test_the_kube_verdicts_catch_a_late_holder_no_pods_and_a_dead_kubectl() -> None:
    from halab.verify.scenarios import failover as scenario

    late = [poll(t, "master1" if t < 50 else "master3", renewed=min(t, 12))
            for t in range(0, 60, 2)]
    assert [v.ok for v in scenario.judge_kube_halt(kube_halt(late, None))] == \
        [False, False, True, True]
    dead = [poll(t, "master1" if t < 12 else None) for t in range(0, 60, 2)]
    verdicts = scenario.judge_kube_halt(kube_halt(dead))
    assert [v.ok for v in verdicts] == [False, True, False, True]
    assert verdicts[0].detail == "none seen" and "longest gap" in verdicts[2].detail


def test_verify_help_explains_the_checks_and_the_scenario(capsys: pytest.CaptureFixture) -> None:
    from halab.cli import app as cli

    with pytest.raises(SystemExit):
        cli.main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "--junit FILE" in out
    assert ("--scenario {failover,cold-restart,lb,partition,slow-zone,quorum-loss,cert-renew,"
            "upgrade}") in out
    assert "2 × the election" in out


# ── each kubelet's API gap, from its node lease's renewals ─────────────────────────────────

T0 = 1_800_000_000.0  # a wall-clock time


def node_poll(t: float, renewals: dict[str, float] | None) -> LeasePoll:
    """A poll at T0 + t seeing each minion's last node-lease renewal at T0 + renewals[m]."""
    def rfc3339(x: float) -> str:
        return dt.datetime.fromtimestamp(T0 + x, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    leases = None if renewals is None else {
        kube.node_lease(m): (m, rfc3339(r)) for m, r in renewals.items()}
    return LeasePoll(t, t + 0.5, leases, T0 + t + 0.5)


def test_a_kubelets_api_gap_is_the_longest_time_between_renewals_seen() -> None:
    # minion1 renews every 10 s but misses two; minion2 never misses. A failed poll sees nothing.
    polls = [node_poll(t, {"minion1": r1, "minion2": (t // 10) * 10})
             for t, r1 in [(1, 0), (5, 0), (11, 10), (25, 10), (31, 10), (41, 40), (52, 50)]]
    polls.insert(3, node_poll(20, None))
    assert figures.renewal_gap(polls, kube.node_lease("minion1")) == pytest.approx(30.0)
    assert figures.renewal_gap(polls, kube.node_lease("minion2")) == pytest.approx(10.0)
    assert figures.renewal_gap(polls, kube.node_lease("minion3")) is None


def test_a_kubelet_that_stopped_renewing_counts_until_the_last_poll() -> None:
    polls = [node_poll(t, {"minion1": min(t // 10 * 10, 10)}) for t in range(0, 70, 5)]
    assert figures.renewal_gap(polls, kube.node_lease("minion1")) == pytest.approx(55.5)


def test_the_api_gap_verdict_fails_past_the_node_lease() -> None:
    from halab.verify.scenarios import failover as scenario

    polls = [poll(t, "master1" if t < 30 else "master3", renewed=min(t, 12))
             for t in range(0, 60, 2)]
    ok = [node_poll(t, {"minion1": (t // 10) * 10}) for t in range(0, 60, 2)]
    late = [node_poll(t, {"minion1": 0 if t < 50 else 50}) for t in range(0, 60, 2)]
    for node_polls, passed in [(ok, True), (late, False)]:
        merged = [LeasePoll(p.started, p.finished, {**p.leases, **n.leases}, n.wall)
                  for p, n in zip(polls, node_polls, strict=True)]
        verdict = scenario.judge_kube_halt(kube_halt(merged, minions=("minion1",)))[-1]
        assert verdict.ok is passed and "node lease" in verdict.title
        assert verdict.detail == ("minion1 10.0s" if passed else "minion1 50.0s")
