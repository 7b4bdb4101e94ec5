"""Choosing the VMs of `halab halt|start` (HOST, --zone, --all), what a halt leaves of etcd's
quorum, the cold-restart verdicts, and Vagrant's machine argument for several VMs."""

from __future__ import annotations

import pytest
from labfiles import lab_plan

from halab.config import groups
from halab.errors import HalabError
from halab.facts import etcd
from halab.providers.vagrant_libvirt.vagrantlab import machines
from halab.verify.scenarios.coldrestart import ColdRestart, judge, still_on

pytestmark = pytest.mark.unit


def test_a_zone_selects_its_hosts_and_says_how_to_choose_them_again() -> None:
    chosen = groups.select(lab_plan("zones"), None, "b", False)
    assert [h.name for h in chosen.hosts] == ["master-b", "minion-b1"]
    assert chosen.what == "zone b (master-b, minion-b1)" and chosen.args == "--zone b"


def test_all_selects_every_host_and_one_host_itself() -> None:
    p = lab_plan("seed")
    assert len(groups.select(p, None, None, True).hosts) == 6
    assert groups.select(p, None, None, True).args == "--all"
    assert [h.name for h in groups.select(p, "master2", None, False).hosts] == ["master2"]


@pytest.mark.parametrize("host, zone, everything, said", [
    (None, None, False, "got nothing"),
    ("master1", "b", False, "got host 'master1' and --zone b"),
    ("master1", None, True, "got host 'master1' and --all"),
])
def test_exactly_one_way_of_choosing(host: str | None, zone: str | None, everything: bool,
                                     said: str) -> None:
    with pytest.raises(HalabError, match="takes one of HOST, --zone Z or --all") as exc:
        groups.select(lab_plan("seed"), host, zone, everything, "halt")
    assert said in exc.value.message


def test_an_unknown_zone_lists_the_zones_and_a_lab_without_zones_says_how_to_add_them() -> None:
    with pytest.raises(HalabError) as exc:
        groups.select(lab_plan("zones"), None, "d", False)
    assert "no zone 'd'" in exc.value.message and exc.value.hint == "zones: a, b, c"
    with pytest.raises(HalabError) as exc:
        groups.select(lab_plan("seed"), None, "a", False)
    assert "zone: a" in (exc.value.hint or "")


def test_an_unknown_host_lists_the_hosts() -> None:
    with pytest.raises(HalabError) as exc:
        groups.select(lab_plan("etcd-only"), "master9", None, False)
    assert exc.value.hint == "hosts: lb1, master1, master2, master3"


def test_losing_one_zone_of_three_keeps_quorum_losing_two_masters_does_not() -> None:
    p = lab_plan("zones")
    one = groups.quorum_left(p, ["master-b", "minion-b1"])
    assert (one.members, one.left, one.needed, one.kept) == (3, 2, 2, True)
    assert "keeps 2 of 3 members (quorum 2)" in one.line()
    two = groups.quorum_left(p, ["master-a", "master-b"])
    assert not two.kept and "no quorum" in two.line()
    assert groups.quorum_left(p, ["minion-a1"]).left == 3


def test_vagrant_gets_one_name_or_an_anchored_regex_for_several() -> None:
    assert machines(None) is None and machines([]) is None
    assert machines(["master1"]) == "master1"
    assert machines(["master-b", "minion-b1"]) == r"/^(master\-b|minion\-b1)$/"


def passing() -> ColdRestart:
    return ColdRestart(hard=True, masters=3, lb=True, written=list(range(20)), halt_s=3.0,
                       vms=4, up_s=300.0, found=list(range(20)), members=3,
                       checks={"passed": 20, "failed": 0, "skipped": 3})


def test_a_cold_restart_that_came_back_whole_passes_every_verdict() -> None:
    verdicts = judge(passing())
    assert [v.ok for v in verdicts] == [True] * 6
    assert verdicts[-1].detail == "20 passed, 0 failed, 3 skipped"


@pytest.mark.parametrize("change, failed", [
    ({"still_on": ["lb1"]}, "every host was off"),
    ({"vms": 0}, "every host was off"),
    ({"members": 0}, "etcd has quorum"),
    ({"up_error": "waiting 240s for etcd quorum"}, "`halab up` brought the lab back"),
    ({"etcd_problems": ["master2: unreachable"]}, "etcd has quorum"),
    ({"found": list(range(19))}, "every key written before the halt is there"),
    ({"written": [], "found": []}, "every key written before the halt is there"),
    ({"backends_missing": ["master3"]}, "the load balancer reaches every master"),
    ({"checks": {"passed": 19, "failed": 1, "skipped": 0}}, "`halab verify` passes"),
    ({"checks": {}}, "`halab verify` passes"),
])
def test_each_failure_of_a_cold_restart_fails_its_own_verdict(change: dict, failed: str) -> None:
    r = passing()
    for k, v in change.items():
        setattr(r, k, v)
    bad = [v.title for v in judge(r) if not v.ok]
    assert bad and bad[0].startswith(failed)
    if "up_error" not in change:
        assert len(bad) == 1


def test_a_lost_key_is_named() -> None:
    r = passing()
    r.found = [n for n in range(20) if n != 7]
    keys = next(v for v in judge(r) if v.title.startswith("every key"))
    assert "lost [7]" in keys.detail


# ── a cold restart judged from what the provider and etcd report ────────────────────────────
# The lab really has 5 VMs and 4 etcd members (add-master gave master4); the topology the
# scenario is given still has 3 masters, as labs/etcd-only.yaml does.


def member(n: int) -> etcd.Member:
    return etcd.Member(n, f"master{n}", (f"https://192.168.43.2{n}:2380",),
                       (f"https://192.168.43.2{n}:2379",))


def status(n: int, leader: int = 1) -> etcd.EndpointStatus:
    return etcd.EndpointStatus(f"https://192.168.43.2{n}:2379", n, leader, 4, 100, "3.5.16")


def test_a_vm_the_topology_left_out_fails_every_vm_was_off() -> None:
    p = lab_plan("etcd-only")
    listing = {h.domain: "shut off" for h in p.hosts}
    listing["halab-etcd-only-master4"] = "running"  # halted by nobody: not in the topology
    r = passing()
    r.vms, r.still_on = len(listing), still_on(listing)
    first = judge(r)[0]
    assert not first.ok and first.detail == "still on: halab-etcd-only-master4"
    listing["halab-etcd-only-master4"] = "shut off"
    r.vms, r.still_on = len(listing), still_on(listing)
    assert judge(r)[0].ok and judge(r)[0].detail.startswith("5 hosts off in")


def test_a_member_the_topology_left_out_fails_members_healthy() -> None:
    p = lab_plan("etcd-only")
    topology = [m.name for m in p.masters]
    everyone = etcd.ClusterView(tuple(member(n) for n in (1, 2, 3, 4)),
                                tuple(status(n) for n in (1, 2, 3, 4)))
    # counted the old way, from the topology, this looked like a healthy cluster of 3
    assert everyone.problems(len(p.masters)) == []
    found = everyone.listed_problems(topology)
    assert found == ["etcd lists master4, which the lab's topology does not have"]
    r = passing()
    r.members, r.etcd_problems = len(everyone.members), found
    verdict = next(v for v in judge(r) if v.title.startswith("etcd has quorum"))
    assert not verdict.ok and verdict.title.startswith("etcd has quorum: 4 healthy members")


def test_a_silent_member_is_named_and_a_whole_cluster_passes() -> None:
    listed = tuple(member(n) for n in (1, 2, 3, 4))
    silent = etcd.ClusterView(listed, tuple(status(n) for n in (1, 2, 3)))
    assert silent.listed_problems([m.name for m in listed]) == [
        "3 of 4 members answered (silent: master4)"]
    whole = etcd.ClusterView(listed, tuple(status(n) for n in (1, 2, 3, 4)))
    assert whole.listed_problems([m.name for m in listed]) == []
    gone = etcd.ClusterView(listed[:3], tuple(status(n) for n in (1, 2, 3)))
    assert gone.listed_problems([m.name for m in listed]) == [
        "master4 is in the lab's topology but not in etcd's member list"]
