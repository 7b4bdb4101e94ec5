"""A lab on an Incus cluster, the pure parts: the plan's cluster, a lab's remote kept once
created, `--member`'s hosts, and the lab's network settings and names on the cluster."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest
from labfiles import topology

from halab.config import groups, plan
from halab.errors import HalabError
from halab.providers.incus import config, names
from halab.session import choice
from halab.session.choice import Asked

pytestmark = pytest.mark.unit


def test_a_lab_is_on_this_machine_unless_a_remote_is_given() -> None:
    assert plan.build(topology("zones"), provider="container").cluster is None
    p = plan.build(topology("zones"), provider="container", remote="halab-sim")
    assert p.cluster == plan.ClusterPlan("halab-sim")


def test_a_lab_keeps_the_machines_it_was_created_on() -> None:
    asked = Asked(incus_remote="halab-sim", creating=True)
    assert choice.remote(None, None, asked, "zones") == "halab-sim"  # created now
    assert choice.remote(None, "halab-sim", Asked(), "zones") == "halab-sim"  # later commands
    assert choice.remote("other", "", Asked(), "zones") is None  # created on this machine
    with pytest.raises(HalabError, match="this machine, not on the cluster of remote halab-sim"):
        choice.remote(None, "", asked, "zones")


def test_an_incus_remote_means_containers() -> None:
    asked = Asked(incus_remote="halab-sim", creating=True)
    assert choice.decide("auto", None, None, asked, "zones", "labs/zones.yaml").provider == \
        "container"


def test_member_selects_the_hosts_incus_placed_there() -> None:
    p = plan.build(topology("zones"), provider="container", remote="halab-sim")
    placed = {"lb1": "member1", "master-a": "member1", "minion-a1": "member1",
              "master-b": "member2", "minion-b1": "member2"}
    chosen = groups.on_member(p, placed, "member2", others=False)
    assert [h.name for h in chosen.hosts] == ["master-b", "minion-b1"]
    assert chosen.args == "--member member2"
    with pytest.raises(HalabError, match="its members: member1, member2"):
        groups.on_member(p, placed, "member3", others=False)
    with pytest.raises(HalabError, match="no HOST, --zone or --all"):
        groups.on_member(p, placed, "member2", others=True)
    local = plan.build(topology("zones"), provider="container")
    with pytest.raises(HalabError, match="not on an Incus cluster"):
        groups.on_member(local, placed, "member2", others=False)


def test_the_cluster_network_has_no_address_and_a_vxlan_tunnel() -> None:
    c = config.cluster_network("zones", "192.168.53.0/24", "v", 4242, "239.1.2.3", "eth0")
    assert c["ipv4.address"] == "none" and c["ipv4.nat"] == "false"
    assert c["tunnel.v.protocol"] == "vxlan" and c["tunnel.v.group"] == "239.1.2.3"
    assert c["tunnel.v.interface"] == "eth0" and c["tunnel.v.port"] == "4789"
    assert c["bridge.mtu"] == "1450" and c[names.SUBNET_KEY] == "192.168.53.0/24"
    assert "tunnel.v.interface" not in config.cluster_network("z", "10.0.0.0/24", "v", 1,
                                                              "239.1.1.1", None)
    assert config.gateway_address("192.168.53.0/24") == "192.168.53.1/24"


def test_cluster_names_fit_the_kernel() -> None:
    for lab in ("zones", "a-very-long-lab-name-s30"):
        tunnel = f"{names.cluster_bridge(lab)}-v"
        assert len(tunnel) <= names.IFNAMSIZ and len(names.gateway_link(lab)) <= names.IFNAMSIZ
    assert names.cluster_bridge("zones") != names.cluster_bridge("zones-s01")
    assert names.at("halab-sim", "x") == "halab-sim:x" and names.at(None, "x") == "x"
    assert names.scope(None) == [] and names.scope("r") == ["r:"]


def test_a_cluster_labs_subnet_is_on_its_tunnel_end(monkeypatch: pytest.MonkeyPatch) -> None:
    from halab.providers.incus import objects

    monkeypatch.setattr(objects, "networks", lambda remote=None: [
        {"name": names.cluster_bridge("zones"), "config": {
            names.LAB_KEY: "zones", "ipv4.address": "none",
            names.SUBNET_KEY: "192.168.53.0/24"}},
        {"name": names.bridge("seed"), "config": {names.LAB_KEY: "seed",
                                                   "ipv4.address": "192.168.33.1/24"}}])
    assert objects.lab_networks("halab-sim") == {
        "halab-zones": (IPv4Network("192.168.53.0/24"), names.gateway_link("zones")),
        "halab-seed": (IPv4Network("192.168.33.0/24"), names.bridge("seed"))}


def test_doctor_judges_the_cluster() -> None:
    from halab.config.placement import ClusterFacts, Guest, Room, place
    from halab.lab import doctor

    rooms = [Room("member1", "Online", 8192), Room("member2", "Offline", 0)]
    placed = place([Guest("m1", "a", 1024)], {}, rooms)
    found = doctor.cluster(ClusterFacts("halab-sim", rooms, None, placed))
    assert [(f.area, f.status) for f in found] == [
        ("cluster", doctor.BLOCK), ("image", doctor.WARN), ("placement", doctor.OK)]
    assert "member2 is Offline" in found[0].detail
    assert found[2].detail == "m1 → member1 (zone a: most free memory (8192 MiB))"
    bad = doctor.cluster(ClusterFacts("halab-sim", rooms[:1], "halab-trixie-x", None,
                                      "the lab cannot be placed\n  incus.zones.b: 'm9' is not"))
    assert (bad[1].status, bad[2].status) == (doctor.OK, doctor.BLOCK)
    assert bad[2].detail == "the lab cannot be placed" and "incus.zones.b" in bad[2].fix


def test_status_all_names_the_members_a_lab_uses(tmp_path) -> None:  # noqa: ANN001
    from labfiles import loaded

    from halab.lab import status
    from halab.session.context import Lab

    zones = loaded("zones")
    local = Lab("z.yaml", zones, plan.build(zones.topology, provider="container"), tmp_path,
                None)
    assert status.members_cell(local, {}) == "this machine"
    on = Lab("z.yaml", zones, plan.build(zones.topology, provider="container",
                                         remote="halab-sim"), tmp_path, None)
    assert status.members_cell(on, {"lb1": "member1", "master-b": "member2",
                                    "master-a": "member1"}) == "halab-sim: member1, member2"
    assert status.members_cell(on, {}) == "halab-sim: none yet"


def test_the_live_diagram_groups_hosts_by_member() -> None:
    from halab.workshop import diagram

    p = plan.build(topology("zones"), provider="container", remote="halab-sim")
    members = {h.name: f"member{'abc'.index(h.zone) + 1}" if h.zone else "member1"
               for h in p.hosts}
    dot = diagram.build(p, diagram.LiveState(members=members)).source
    block = dot[dot.index("subgraph cluster_member_member2"):]
    block = block[:block.index("subgraph cluster_member_member3")]
    assert "master-b" in block and "minion-b1" in block and "master-a" not in block
    assert "cluster_zone_b_member2" in block
    assert "cluster_member" not in diagram.build(p).source


def test_a_cluster_labs_hosts_bind_the_members_sysctl_copies(tmp_path) -> None:  # noqa: ANN001
    from halab.providers.incus.provider import Incus

    on = Incus(tmp_path, plan.build(topology("zones"), provider="container", remote="r"))
    assert on._sysctl_copies() == config.MEMBER_SYSCTL_DIR
    assert not (tmp_path / "incus-sysctl").exists()
    profile = config.profile("zones", "hlc1", "v1", str(config.MEMBER_SYSCTL_DIR))
    assert profile["devices"]["sysctl-kernel_panic"]["source"] == \
        "/var/lib/halab-sysctl/kernel_panic"
