"""Planning add-master, remove-master and replace: the new master's name, address and zone, the
refusals, the lab's own topology copy (it reads back valid), and etcd's initial-cluster-state."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from labfiles import lab_file, topology

from halab.config import layout, plan, replicas
from halab.config.topology import Topology, loads
from halab.errors import HalabError
from halab.render import files as render

pytestmark = pytest.mark.unit


def reads_back(t: Topology) -> Topology:
    return loads(replicas.lab_copy_text(t, "labs/x.yaml", ["add-master master4"]), "copy.yaml"
                 ).topology


def test_the_next_master_follows_the_others_in_the_emptiest_zone() -> None:
    new = replicas.new_master(topology("etcd-only"))
    assert (new.name, str(new.ip), new.zone) == ("master4", "192.168.43.24", "a")
    zoned = replicas.new_master(topology("zones"))
    assert zoned.name == "master1" and str(zoned.ip) == "192.168.53.24" and zoned.zone == "a"


def test_given_fields_are_kept_and_checked() -> None:
    t = topology("etcd-only")
    new = replicas.new_master(t, "m9", "192.168.43.40", "b")
    assert (new.name, str(new.ip), new.zone) == ("m9", "192.168.43.40", "b")
    for args, said in [(("master2", None, None), "already has a host 'master2'"),
                       ((None, "192.168.43.22", None), "is taken"),
                       ((None, "10.0.0.5", None), "outside"),
                       ((None, "nope", None), "not an IPv4 address"),
                       (("Bad_Name", None, None), "not a valid host name")]:
        with pytest.raises(HalabError, match=said):
            replicas.new_master(t, *args)


def test_the_next_address_skips_taken_ones_and_the_vip() -> None:
    t = topology("lb-pair")
    t = t.model_copy(update={"lb": t.lb.model_copy(update={"vip": IPv4Address("192.168.47.24")})})
    assert str(replicas.new_master(t).ip) == "192.168.47.25"


def test_adding_a_fourth_master_lists_it_after_the_masters_and_reads_back() -> None:
    t = replicas.with_master(topology("seed"), replicas.new_master(topology("seed")))
    assert [h.name for h in t.hosts] == ["lb1", "master1", "master2", "master3", "master4",
                                         "minion1", "minion2"]
    back = reads_back(t)
    assert back == t


def test_removing_down_to_two_needs_force_and_is_then_accepted_with_a_warning() -> None:
    with pytest.raises(HalabError, match="would leave 2 masters") as exc:
        replicas.without_master(topology("etcd-only"), "master2")
    assert "--force" in exc.value.message and "`halab replace`" in exc.value.message
    two = replicas.without_master(topology("etcd-only"), "master2", force=True)
    assert [h.name for h in two.by_role("master")] == ["master1", "master3"]
    loaded = loads(replicas.lab_copy_text(two, "labs/etcd-only.yaml", []), "copy.yaml")
    assert loaded.topology.etcd.accept_two_members
    assert any("2 masters" in w for w in loaded.warnings)
    three = replicas.with_master(two, replicas.new_master(two))
    assert not three.etcd.accept_two_members and reads_back(three) == three


def test_four_to_three_needs_no_force_and_the_last_master_is_never_removed() -> None:
    four = replicas.with_master(topology("etcd-only"), replicas.new_master(topology("etcd-only")))
    assert len(replicas.without_master(four, "master4").by_role("master")) == 3
    one = topology("etcd-only").model_copy(update={"hosts": [topology("etcd-only").hosts[1]]})
    with pytest.raises(HalabError, match="only master"):
        replicas.without_master(one, "master1", force=True)
    with pytest.raises(HalabError, match="no master 'lb1'") as exc:
        replicas.without_master(topology("etcd-only"), "lb1")
    assert exc.value.hint == "masters: master1, master2, master3"


def test_two_masters_in_a_file_are_still_refused_without_the_flag() -> None:
    text = lab_file("etcd-only").read_text().replace(
        "  - {name: master3, role: master, ip: 192.168.43.23, zone: c}\n", "")
    with pytest.raises(HalabError, match="exactly 2 masters is refused"):
        loads(text, "two.yaml")


def test_the_copy_says_where_it_came_from_and_what_changed() -> None:
    text = replicas.lab_copy_text(topology("etcd-only"), "labs/etcd-only.yaml",
                                  ["2026-11-22 12:00 add-master master4 (192.168.43.24, zone a)"])
    assert text.startswith("# Lab etcd-only as changed by halab, from labs/etcd-only.yaml.")
    assert "#   2026-11-22 12:00 add-master master4" in text


def test_a_joining_member_starts_with_initial_cluster_state_existing() -> None:
    t = replicas.with_master(topology("etcd-only"), replicas.new_master(topology("etcd-only")))
    p = plan.build(t, "tcg", joining=("master4",))
    files = render.render(p).hosts
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in files["master4"][layout.ETCD_ENV]
    assert 'ETCD_INITIAL_CLUSTER_STATE="new"' in files["master1"][layout.ETCD_ENV]
    assert "master4=https://192.168.43.24:2380" in files["master1"][layout.ETCD_ENV]
    nginx = files["lb1"][layout.NGINX_CONF]
    assert "192.168.43.24:2379" in nginx
