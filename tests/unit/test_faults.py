"""The drills' rule sets for a topology (exact rules per host), the snapshot commands, and the
partition, slow-zone and quorum-loss judges (pure; no VMs)."""

from __future__ import annotations

import pytest
from labfiles import lab_plan

from halab.config import plan
from halab.config.topology import loads
from halab.errors import HalabError
from halab.facts import faults, snapshots
from halab.facts.etcd import EndpointStatus
from halab.verify.figures import Write, WriteLog
from halab.verify.scenarios import partition, quorumloss, slowzone

pytestmark = pytest.mark.unit


# ── partition ───────────────────────────────────────────────────────────────────────────────


def test_the_leader_cut_off_from_the_other_masters_keeps_the_lb_path() -> None:
    part = faults.split(lab_plan(), ["master1"], ["master2", "master3"])
    assert part.blocks == {"master1": ("192.168.43.22", "192.168.43.23"),
                           "master2": ("192.168.43.21",), "master3": ("192.168.43.21",)}
    assert "lb1" not in part.blocks
    assert part.summary() == "master1 cut off from master2, master3"


def test_a_zone_is_cut_off_from_every_other_host_both_ways() -> None:
    part = faults.split(lab_plan(), None, zone="b")
    assert part.cut == ("master2",) and part.others == ("lb1", "master1", "master3")
    assert part.blocks["master2"] == ("192.168.43.11", "192.168.43.21", "192.168.43.23")
    assert {h: part.blocks[h] for h in part.others} == {
        h: ("192.168.43.22",) for h in ("lb1", "master1", "master3")}


def test_the_vip_is_blocked_on_the_side_without_the_lbs() -> None:
    p = lab_plan("lb-pair")
    part = faults.split(p, ["master1"])
    assert p.vip in part.blocks["master1"]
    assert all(p.vip not in part.blocks[h] for h in part.others)


def test_the_partition_script_adds_only_halabs_chain_and_skips_what_is_there() -> None:
    script = faults.partition_script(("192.168.43.22",))
    assert script.splitlines() == [
        "iptables -w -N HALAB-PARTITION 2>/dev/null || true",
        "iptables -w -C INPUT -m comment --comment halab -j HALAB-PARTITION 2>/dev/null || "
        "iptables -w -I INPUT 1 -m comment --comment halab -j HALAB-PARTITION",
        "iptables -w -C OUTPUT -m comment --comment halab -j HALAB-PARTITION 2>/dev/null || "
        "iptables -w -I OUTPUT 1 -m comment --comment halab -j HALAB-PARTITION",
        "iptables -w -C HALAB-PARTITION -s 192.168.43.22/32 -m comment --comment 'halab "
        "partition' -j DROP 2>/dev/null || iptables -w -A HALAB-PARTITION -s 192.168.43.22/32 "
        "-m comment --comment 'halab partition' -j DROP",
        "iptables -w -C HALAB-PARTITION -d 192.168.43.22/32 -m comment --comment 'halab "
        "partition' -j DROP 2>/dev/null || iptables -w -A HALAB-PARTITION -d 192.168.43.22/32 "
        "-m comment --comment 'halab partition' -j DROP"]
    heal = faults.heal_script()
    assert "-D INPUT -m comment --comment halab -j HALAB-PARTITION" in heal
    assert "-X HALAB-PARTITION" in heal and "-F INPUT" not in heal and "-F OUTPUT" not in heal


def test_blocked_addresses_are_read_back_from_iptables_and_named() -> None:
    drop = '-m comment --comment "halab partition" -j DROP'
    rules = (f"-N HALAB-PARTITION\n-A HALAB-PARTITION -s 192.168.43.22/32 {drop}\n"
             f"-A HALAB-PARTITION -d 192.168.43.22/32 {drop}\n"
             f"-A HALAB-PARTITION -s 192.168.43.10/32 {drop}\n")
    assert faults.blocked(rules) == ["192.168.43.22", "192.168.43.10"]
    assert faults.cut_off_from(lab_plan(), faults.blocked(rules)) == ["master2", "192.168.43.10"]
    assert faults.blocked("") == []


@pytest.mark.parametrize("cut, others, zone, message", [
    (None, None, None, "say which hosts"),
    (["master9"], None, None, "no host 'master9'"),
    (["master1"], ["master1"], None, "both sides"),
    (["master1"], None, "b", "not both"),
    (None, None, "z", "no host in zone 'z'"),
    (["lb1", "master1", "master2", "master3"], None, None, "nothing is left"),
])
def test_a_partition_that_makes_no_sense_is_refused(cut, others, zone, message) -> None:
    with pytest.raises(HalabError, match=message):
        faults.split(lab_plan(), cut, others, zone)


# ── netem ───────────────────────────────────────────────────────────────────────────────────


def test_zone_b_is_shaped_against_the_other_zones_only() -> None:
    s = faults.shaping(lab_plan(), "b", False, 100, 20, 1.0)
    assert s.to == {"master1": ("192.168.43.22",), "master2": ("192.168.43.21", "192.168.43.23"),
                    "master3": ("192.168.43.22",)}  # lb1 has no zone: not shaped
    assert s.netem_args() == "delay 100ms 20ms loss 1%"
    script = faults.netem_script(s, s.to["master2"]).splitlines()
    assert script[1:] == [
        "tc qdisc add dev eth1 root handle 1a1a: prio bands 4 priomap "
        "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1",
        "tc qdisc add dev eth1 parent 1a1a:4 handle 1a1b: netem delay 100ms 20ms loss 1%",
        "tc filter add dev eth1 parent 1a1a: protocol ip prio 1 u32 match ip dst "
        "192.168.43.21/32 flowid 1a1a:4",
        "tc filter add dev eth1 parent 1a1a: protocol ip prio 1 u32 match ip dst "
        "192.168.43.23/32 flowid 1a1a:4"]
    assert script[0] == faults.clear_script()
    assert "grep -q '^qdisc prio 1a1a: '" in script[0]  # only halab's root qdisc is removed


def test_between_zones_shapes_every_pair_of_zones() -> None:
    s = faults.shaping(lab_plan("zones"), None, True, 50)
    p = lab_plan("zones")
    for h in p.hosts:
        if h.zone:
            assert set(s.to[h.name]) == {x.ip for x in p.hosts if x.zone and x.zone != h.zone}
    assert s.netem_args() == "delay 50ms"


@pytest.mark.parametrize("kwargs, message", [
    ({"zone": "b", "between_zones": True, "delay_ms": 100}, "--zone Z or --between-zones"),
    ({"zone": None, "between_zones": False, "delay_ms": 100}, "--zone Z or --between-zones"),
    ({"zone": "q", "between_zones": False, "delay_ms": 100}, "no zone 'q'"),
    ({"zone": "b", "between_zones": False, "delay_ms": 0}, "nothing to shape"),
    ({"zone": "b", "between_zones": False, "delay_ms": 10, "loss_pct": 101}, "loss 0–100"),
])
def test_shaping_that_makes_no_sense_is_refused(kwargs, message) -> None:
    with pytest.raises(HalabError, match=message):
        faults.shaping(lab_plan(), **kwargs)


# ── snapshots ───────────────────────────────────────────────────────────────────────────────


def test_a_restore_makes_a_new_cluster_of_every_master_and_keeps_the_old_data() -> None:
    p = lab_plan()
    script = snapshots.restore_script(p, p.host("master2"), "20261201-2000")
    assert ("etcdutl snapshot restore /var/tmp/halab-snapshot.db --name master2 "
            f"--initial-cluster {p.etcd.initial_cluster} ") in script
    assert "--initial-advertise-peer-urls https://192.168.43.22:2380" in script
    assert "mv /var/lib/etcd/halab /var/lib/etcd/halab.before-restore-20261201-2000" in script
    assert "rm -rf /var/lib/etcd/halab\n" not in script + "\n"  # the old data is never removed
    assert snapshots.units_to_stop(p) == ("etcd",)
    assert snapshots.units_to_stop(lab_plan("seed"))[-1] == "etcd"


def test_snapshot_status_and_what_a_restore_loses() -> None:
    status = snapshots.parse_status('{"hash":305419896,"revision":42,"totalKey":17,'
                                    '"totalSize":20480,"version":"3.5.0"}\n')
    assert status == snapshots.SnapshotStatus(305419896, 42, 17, 20480)
    assert status.summary() == "revision 42, 17 keys, 20 KiB"
    assert "the 8 revisions after it are lost" in snapshots.what_is_lost(50, 42)
    assert "nothing is lost" in snapshots.what_is_lost(42, 42)
    assert "unknown" in snapshots.what_is_lost(None, 42)


# ── judges ──────────────────────────────────────────────────────────────────────────────────


def st(member: int, leader: int, term: int, index: int = 100) -> EndpointStatus:
    return EndpointStatus(f"https://192.168.43.2{member}:2379", member, leader, term, index, "")


def a_partition(**change) -> partition.PartitionRun:
    """master1 (id 1) led at term 4 and was cut off at t=10; master2 won term 5 at t=15."""
    log = WriteLog(0.0, 40.0, [Write(n, n, n + 0.05, True) for n in range(30)])
    r = partition.PartitionRun("master1", 1, 5000, started=10.0, healed=30.0,
                               answers=[(8.8, "master1", st(1, 1, 4)),
                                        (9.0, "master1", st(1, 1, 4)),
                                        (9.0, "master2", st(2, 1, 4)),
                                        (14.0, "master1", st(1, 1, 4)),
                                        (15.0, "master2", st(2, 2, 5)),
                                        (15.2, "master2", st(2, 2, 5)),
                                        (16.0, "master1", st(1, 0, 4))],
                               writes=log, found=list(range(30)), leader_index_at_heal=120,
                               caught_up_at=31.5)
    for k, v in change.items():
        setattr(r, k, v)
    return r


def test_a_clean_partition_passes_every_verdict() -> None:
    verdicts = partition.judge(a_partition())
    assert [v.ok for v in verdicts] == [True] * 5
    assert verdicts[0].detail == "5.00s after the cut"
    assert verdicts[1].detail == "a follower 6.00s after the cut"
    assert verdicts[4].detail == "index 120 reached 1.50s after heal"


@pytest.mark.parametrize("change, failed", [
    ({"answers": [(9.0, "master1", st(1, 1, 4)), (14.0, "master1", st(1, 1, 4))]},
     "the majority elects"),
    ({"answers": [(12.0, "master1", st(1, 1, 4)), (21.0, "master2", st(2, 2, 5)),
                  (22.0, "master1", st(1, 0, 5))]}, "the majority elects"),
    ({"answers": [(15.0, "master2", st(2, 2, 5)), (16.0, "master1", st(1, 1, 4))]},
     "the isolated master1 stops"),
    ({"found": list(range(29))}, "every acknowledged write"),
    ({"caught_up_at": None}, "after heal"),
])
def test_each_partition_failure_fails_its_verdict(change: dict, failed: str) -> None:
    bad = [v.title for v in partition.judge(a_partition(**change)) if not v.ok]
    assert bad and bad[0].startswith(failed)


def test_two_leaders_in_one_term_fail_the_partition() -> None:
    r = a_partition()
    r.answers = [*r.answers, (17.0, "master3", st(3, 3, 5)),
                 (17.2, "master3", st(3, 3, 5))]  # master3 also claims term 5, twice
    bad = [v for v in partition.judge(r) if not v.ok]
    assert [v.title.split(" (")[0] for v in bad] == ["no raft term has two leaders"]
    assert bad[0].detail.endswith("leaders by term: 4: master1, 5: master2+master3")


def test_a_follower_naming_the_old_leader_with_the_new_term_is_not_a_second_leader() -> None:
    r = a_partition()
    r.answers = [*r.answers, (15.1, "master3", st(3, 1, 5)),  # a follower's torn answer
                 (14.9, "master2", st(2, 2, 4))]  # master2 as leader with the old term, once
    verdict = partition.judge(r)[2]
    assert verdict.ok and verdict.detail.endswith("leaders by term: 4: master1, 5: master2")


def test_the_client_error_window_spans_the_failed_writes_after_the_cut() -> None:
    log = WriteLog(0.0, 30.0, [Write(1, 5, 5.1, False), Write(2, 11, 16, False),
                               Write(3, 16, 17.5, False), Write(4, 18, 18.1, True)])
    assert partition.error_window(log, 10.0) == (6.5, 2)
    assert partition.error_window(WriteLog(0.0), 10.0) == (0.0, 0)


def test_slow_zone_percentiles_leader_changes_and_quorum() -> None:
    assert slowzone.percentile([0.1, 0.2, 0.3, 0.4], 50) == 0.2
    assert slowzone.percentile([0.1, 0.2, 0.3, 0.4], 99) == 0.4
    assert slowzone.percentile([], 50) is None
    log = WriteLog(0.0, 10.0, [Write(n, n, n + 0.2, True) for n in range(10)])
    phase = slowzone.Phase("with +100 ms", log, [(1.0, "master1", st(1, 1, 4)),
                                                 (2.0, "master2", st(2, 1, 4)),
                                                 (3.0, "master2", st(2, 2, 5))])
    assert phase.leader_changes() == 1 and phase.leaders() == ["master1", "master2"]
    assert slowzone.line(phase).endswith("; leader master1, master2")
    assert slowzone.figures(phase)["p50_ms"] == pytest.approx(200)
    assert [v.ok for v in slowzone.judge(slowzone.SlowZone(5000, [phase]))] == [True]
    stalled = slowzone.Phase("without", WriteLog(0.0, 30.0, [Write(1, 0, 0.1, True),
                                                             Write(2, 1, 29, True)]), [])
    assert [v.ok for v in slowzone.judge(slowzone.SlowZone(5000, [stalled]))] == [False]


def a_quorum_loss(**change) -> quorumloss.QuorumLoss:
    r = quorumloss.QuorumLoss(masters=3, halted=["master2", "master3"], before=list(range(20)),
                              after=list(range(10)), snapshot_revision=40, halt_at=100.0,
                              writes=WriteLog(98.0, 110.0, [Write(1, 98, 98.1, True),
                                                            Write(2, 100.5, 105.5, False)]),
                              restore_s=12.0, found_before=list(range(20)), found_after=[],
                              members=3, checks={"passed": 12, "failed": 0, "skipped": 3})
    for k, v in change.items():
        setattr(r, k, v)
    return r


def test_a_quorum_loss_recovered_from_backup_passes_every_verdict() -> None:
    verdicts = quorumloss.judge(a_quorum_loss())
    assert [v.ok for v in verdicts] == [True] * 6
    assert verdicts[0].detail == "the first failed 5.5s after the power-off"
    assert verdicts[3].title == "the 10 keys written after it are gone (snapshot revision 40)"


@pytest.mark.parametrize("change, failed", [
    ({"writes": WriteLog(98.0, 110.0, [Write(1, 101, 101.1, True)])}, "writes fail"),
    ({"restore_error": "etcd did not come back"}, "`halab restore`"),
    ({"found_before": list(range(19))}, "the 20 keys written before"),
    ({"found_after": [3]}, "the 10 keys written after"),
    ({"etcd_problems": ["2 of 3 members answered"]}, "etcd has quorum"),
    ({"checks": {"passed": 11, "failed": 1}}, "`halab verify`"),
])
def test_each_quorum_loss_failure_fails_its_verdict(change: dict, failed: str) -> None:
    bad = [v.title for v in quorumloss.judge(a_quorum_loss(**change)) if not v.ok]
    assert bad and bad[0].startswith(failed)


def test_a_majority_of_the_masters_is_powered_off() -> None:
    assert quorumloss.majority(lab_plan()) == ["master2", "master3"]
    hosts = "\n".join(f"  - {{name: m{i}, role: master, ip: 192.168.33.{20 + i}}}"
                      for i in range(1, 6))
    five = plan.build(loads("name: five\nnetwork: {subnet: 192.168.33.0/24}\n"
                            "kubernetes: {enabled: false}\nhosts:\n"
                            f"  - {{name: lb1, role: lb, ip: 192.168.33.11}}\n{hosts}\n").topology)
    assert quorumloss.majority(five) == ["m3", "m4", "m5"]  # 2 of 5 left: no quorum


# ── after a restore (issue 29, item 8) ──────────────────────────────────────────────────────


def test_a_kube_restore_restarts_the_minions_components_once_the_api_answers() -> None:
    """The control plane starts first; only once /readyz answers do the minions' flanneld,
    kubelet and kube-proxy restart (their caches are newer than the restored etcd), and the
    restore waits for the nodes to be Ready again."""
    import json

    from halab.lab import drills
    from halab.remote.fake import RecordingRemote
    from halab.remote.protocol import Result

    p = lab_plan("seed")
    nodes = {"items": [{"metadata": {"name": m.name},
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
                       for m in p.minions]}
    remote = RecordingRemote([(None, r"/readyz", Result("ok\n", "", 0)),
                              (None, r"get nodes", Result(json.dumps(nodes), "", 0))])
    drills.restart_kube(p, remote, snapshots.units_to_stop(p))
    order = [(c[0], c[1]) for c in remote.calls if len(c) == 2 and c[0] != "note"]
    starts = [i for i, (_, c) in enumerate(order) if "systemctl start" in c]
    ready = next(i for i, (_, c) in enumerate(order) if "/readyz" in c)
    restarts = [(h, c) for h, c in order if "systemctl restart" in c]
    assert {order[i][0] for i in starts} == {m.name for m in p.masters}
    assert all(i < ready for i in starts)
    assert sorted(h for h, _ in restarts) == sorted(m.name for m in p.minions)
    assert all(c.endswith("restart flanneld kubelet kube-proxy") for _, c in restarts)
    assert ready < min(order.index(r) for r in restarts)
    assert "get nodes" in order[-1][1]
