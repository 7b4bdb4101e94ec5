"""Machine and network names that no two labs share, and ownership by record, never by prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halab.config import owned, plan
from halab.config.topology import HOST_NAME_RE, LAB_NAME_RE, TopologyError, loads
from halab.lab import status
from halab.providers.incus.provider import Incus
from halab.providers.vagrant_libvirt.provider import VagrantLibvirt
from halab.session import labdir
from halab.session.context import Lab

pytestmark = pytest.mark.unit


def topology(lab: str, *hosts: str, subnet: str = "10.199.1.0/24") -> str:
    """A small lab: the first host a master, the others LBs."""
    net = subnet.rsplit(".", 1)[0]
    rows = "\n".join(f"  - {{name: {h}, role: {'master' if i == 0 else 'lb'}, ip: {net}.{11 + i}}}"
                     for i, h in enumerate(hosts))
    return (f"name: {lab}\nnetwork: {{subnet: {subnet}, management: 10.198.1.0/24}}\n"
            f"lb: {{kind: nginx}}\nkubernetes: {{enabled: false}}\nhosts:\n{rows}\n")


def built(lab: str, *hosts: str, provider: plan.ProviderName = "container") -> plan.Plan:
    return plan.build(loads(topology(lab, *hosts)).topology, "native", provider=provider)


def test_lab_aa_host_bb_m1_and_lab_aa_bb_host_m1_are_different_machines() -> None:
    """The collision seen in issue 29: both were halab-aa-bb-m1."""
    first, second = built("aa", "bb-m1", "lb1"), built("aa-bb", "m1", "lb1")
    assert first.host("bb-m1").domain != second.host("m1").domain
    assert not {h.domain for h in first.hosts} & {h.domain for h in second.hosts}


@settings(max_examples=300, deadline=None)
@given(st.from_regex(LAB_NAME_RE, fullmatch=True), st.from_regex(HOST_NAME_RE, fullmatch=True))
def test_a_machine_name_has_one_reading(lab: str, host: str) -> None:
    """Reading a name back gives its lab and host, so no two pairs share a name."""
    name = plan.machine_name(lab.strip(), host.strip())
    assert name.removeprefix("halab-").split(plan.NAME_SEP, 1) == [lab.strip(), host.strip()]


def test_the_longest_names_fit_a_machine_name() -> None:
    """Incus instance names are host names: 63 characters at most."""
    assert len(plan.machine_name("a" * 24, "b" * 31)) == 63
    assert LAB_NAME_RE.match("a" * 24) and HOST_NAME_RE.match("b" * 31)
    assert not HOST_NAME_RE.match("b" * 32)


@pytest.mark.parametrize("lab,host,field", [("aa--bb", "m1", "name"), ("aa", "bb--m1", "hosts[0]")])
def test_a_double_dash_in_a_lab_or_host_name_is_refused(lab: str, host: str, field: str) -> None:
    with pytest.raises(TopologyError) as info:
        loads(topology(lab, host, "lb1"), "t.yaml")
    assert "'--' joins lab and host" in str(info.value) and field in str(info.value)


def test_a_labs_management_network_is_no_other_labs_network() -> None:
    """Lab xy's management network and lab xy-mgmt's private network were both halab-xy-mgmt."""
    x, x_mgmt = built("xy", "m1", provider="vm"), built("xy-mgmt", "m1", provider="vm")
    assert x.management_network_name == "halab-xy--mgmt"
    assert {x.network_name, x.management_network_name}.isdisjoint(
        {x_mgmt.network_name, x_mgmt.management_network_name})


@pytest.mark.parametrize("provider", [Incus, VagrantLibvirt])
def test_a_student_lab_shares_no_object_with_the_lab_its_name_extends(
        provider: type, tmp_path: Path) -> None:
    """`down etcd-only` took etcd-only-s01's VMs by prefix; now each removes its own record."""
    base = built("etcd-only", "master1", "lb1", provider="vm")
    student = built("etcd-only-s01", "master1", "lb1", provider="vm")
    ours = provider(tmp_path, base).objects(base)
    theirs = provider(tmp_path, student).objects(student)
    for kind in ours:
        assert set(ours[kind]).isdisjoint(theirs[kind]), kind


def test_objects_that_exist_but_are_not_recorded_are_refused_with_the_fix() -> None:
    present = {"container": ["halab-aa--m1"], "bridge": ["hlb0123"]}
    assert owned.foreign_problems("aa", "/x/state.json", present, present) == []
    lines = owned.foreign_problems("aa", "/x/state.json", present, {"bridge": ["hlb0123"]})
    assert len(lines) == 1 and "container 'halab-aa--m1' already exists" in lines[0]
    assert "bridge" not in lines[0]
    both = owned.foreign_problems("aa", "/x/state.json", present, {})
    assert len(both) == 1 and "container 'halab-aa--m1', bridge 'hlb0123' already exist" in both[0]
    assert "/x/state.json" in lines[0] and "`halab down aa`" in lines[0]


def test_the_record_only_grows_and_keeps_its_order() -> None:
    rec = owned.merged({"container": ["b", "a"]}, {"container": ["a", "c"], "bridge": ["x"]})
    assert rec == {"container": ["b", "a", "c"], "bridge": ["x"]}
    assert owned.describe(rec) == "3 containers, 1 bridge"
    assert owned.machines({**rec, "domain": ["d"]}) == {"a", "b", "c", "d"}


def test_a_lab_from_before_names_were_joined_keeps_its_names(tmp_path: Path) -> None:
    """A state file without `naming` is from before: its containers are still found, by the
    exact old names of its topology, and new labs are recorded with the new scheme."""
    (tmp_path / "state.json").write_text(json.dumps({"topology": "t.yaml"}))
    old = labdir.read_state(tmp_path)
    assert old is not None and old.naming == 1 and old.objects == {}
    assert labdir.State(topology="t.yaml").naming == labdir.NAMING == 2
    loaded = loads(topology("aa", "bb-m1", "lb1"))
    p = plan.build(loaded.topology, "native", provider="container", legacy_names=True)
    lab = Lab("t.yaml", loaded, p, tmp_path, old)
    assert lab.recorded()["container"] == ["halab-aa-bb-m1", "halab-aa-lb1"]


def test_status_all_counts_only_the_hosts_the_lab_recorded(tmp_path: Path) -> None:
    loaded = loads(topology("aa", "m1", "lb1"))
    p = plan.build(loaded.topology, "native", provider="container")
    state = labdir.State(topology="t.yaml", objects={"container": ["halab-aa--m1"]})
    lab = Lab("t.yaml", loaded, p, tmp_path, state)
    seen = status.mine_only(lab, {"m1": "running", "lb1": "running"})
    assert seen == {"m1": "running", "lb1": status.NOT_MINE}
