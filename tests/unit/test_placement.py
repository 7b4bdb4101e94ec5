"""Placement on an Incus cluster (pure): zones stay whole on their member, the rest goes where
the most memory is free, and a bad map or a full cluster is refused before anything exists."""

from __future__ import annotations

import pytest
from labfiles import lab_file

from halab.config.placement import Guest, PlacementError, Room, place
from halab.config.topology import TopologyError, load, loads

pytestmark = pytest.mark.unit

ROOMS = [Room("member1", "Online", 8200), Room("member2", "Online", 6200),
         Room("member3", "Online", 7200)]  # counted as 8192, 6144 and 7168


def zones_guests() -> list[Guest]:
    topo = load(lab_file("zones")).topology
    return [Guest(h.name, h.zone, h.memory or topo.defaults.memory) for h in topo.hosts]


def test_each_named_zone_goes_to_its_member() -> None:
    p = place(zones_guests(), {"a": "member1", "b": "member2", "c": "member3"}, ROOMS)
    assert p.where["master-b"] == p.where["minion-b1"] == "member2"
    assert p.where["master-a"] == "member1" and p.where["master-c"] == "member3"
    assert p.why["master-b"] == "zone b: incus.zones"
    # lb1 has no zone: the most free memory once the zones are counted (8192-2048 on member1,
    # 6144-2048 on member2, 7168-2048 on member3).
    assert p.where["lb1"] == "member1"
    assert p.members() == ["member1", "member2", "member3"]


def test_an_unnamed_zone_stays_whole_on_one_member() -> None:
    p = place(zones_guests(), {}, ROOMS)
    for zone in "abc":
        assert len({p.where[f"master-{zone}"], p.where[f"minion-{zone}1"]}) == 1
    # Zones of 2048 MiB each, to the most free: a (8192), then b (7168 on member3), then c
    # (6144 on member1 and member2 alike: the first by name).
    assert [p.where[f"master-{z}"] for z in "abc"] == ["member1", "member3", "member1"]


def test_a_lab_without_zones_is_placed_whole() -> None:
    lab = [Guest("lb1", None, 512), Guest("master1", None, 1024), Guest("master2", None, 1024)]
    p = place(lab, {}, ROOMS)
    assert set(p.where.values()) == {"member1"}
    assert p.lines()[0] == "lb1 → member1 (most free memory (8192 MiB))"


def test_labs_one_after_another_spread_by_what_is_left() -> None:
    """A class: each student's lab placed once the ones before it are counted (Incus reports
    their instances' memory as promised on their member)."""
    rooms = {r.member: r.free_mib for r in ROOMS}
    chosen = []
    for i in range(1, 7):
        p = place([Guest(f"s{i:02d}-master1", None, 1536)], {},
                  [Room(m, "Online", f) for m, f in rooms.items()])
        member = p.where[f"s{i:02d}-master1"]
        rooms[member] -= 1536
        chosen.append(member[-1])
    # Free: 8192, 6144, 7168; each lab takes 1536 from the member with the most left.
    assert chosen == list("131231")


def test_memory_promised_to_instances_counts_per_member() -> None:
    from halab.providers.incus import cluster

    mib = 1 << 20
    instances = [{"location": "member1", "expanded_config": {"limits.memory": "1024MiB"}},
                 {"location": "member1", "expanded_config": {"limits.memory": "512MiB"}},
                 {"location": "member2", "expanded_config": {}}]
    assert cluster._promised(instances) == {"member1": 1536 * mib}


def test_members_of_equal_room_fill_in_name_order() -> None:
    """The simulation's members are one machine: a few MiB of noise must not pick."""
    rooms = [Room("member1", "Online", 23010), Room("member2", "Online", 23014),
             Room("member3", "Online", 23012)]
    p = place(zones_guests(), {}, rooms)
    assert [p.where[f"master-{z}"] for z in "abc"] == ["member1", "member2", "member3"]


def test_a_named_member_that_is_missing_or_offline_is_refused() -> None:
    rooms = [*ROOMS[:2], Room("member3", "Offline", 7000)]
    with pytest.raises(PlacementError) as exc:
        place(zones_guests(), {"a": "member9", "c": "member3"}, rooms)
    text = str(exc.value)
    assert "incus.zones.a: 'member9' is not a member" in text
    assert "incus.zones.c: member member3 is Offline" in text
    assert "nothing was created" in text


def test_an_offline_member_gets_nothing_unnamed() -> None:
    rooms = [ROOMS[0], Room("member2", "Offline", 99000), ROOMS[2]]
    p = place(zones_guests(), {}, rooms)
    assert "member2" not in p.members()


def test_too_little_memory_is_refused_with_the_shortfall() -> None:
    with pytest.raises(PlacementError, match="member2 lacks 880 MiB"):
        place([Guest("big", "b", 3000), Guest("big2", "b", 3000)], {"b": "member2"},
              [Room("member2", "Online", 5200)])


BASE = """
name: cl
provider: {provider}
network: {{subnet: 192.168.60.0/24}}
kubernetes: {{enabled: false}}
incus: {incus}
hosts:
  - {{name: m1, role: master, ip: 192.168.60.21, zone: a}}
"""


def test_the_incus_section_loads() -> None:
    loaded = loads(BASE.format(provider="auto", incus="{remote: halab-sim, zones: {a: member1}}"))
    assert loaded.topology.incus is not None
    assert loaded.topology.incus.zones == {"a": "member1"}


@pytest.mark.parametrize(("provider", "incus", "field"), [
    ("vm", "{remote: halab-sim}", "incus: an Incus cluster runs the hosts as containers"),
    ("auto", "{remote: 'bad name'}", "incus.remote: 'bad name' is not an Incus remote"),
    ("auto", "{remote: r, zones: {b: member2}}", "incus.zones.b: no host is in zone 'b'"),
])
def test_the_incus_section_is_checked(provider: str, incus: str, field: str) -> None:
    with pytest.raises(TopologyError, match=field):
        loads(BASE.format(provider=provider, incus=incus))
