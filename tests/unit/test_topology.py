"""Topology loading and validation: the ready labs load; every invalid fixture fails precisely."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from labfiles import lab_file, topology

from halab.config.topology import TopologyError, load, loads

pytestmark = pytest.mark.unit

INVALID = sorted((Path(__file__).parent / "testdata" / "invalid").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+) (.*)$")


@pytest.mark.parametrize("lab", ["seed", "zones", "etcd-only", "lb-pair"])
def test_ready_labs_are_valid(lab: str) -> None:
    loaded = load(lab_file(lab))
    assert loaded.topology.name == lab
    assert loaded.warnings == []


def test_seed_lab_matches_the_seeds() -> None:
    topo = topology("seed")
    ips = {h.name: str(h.ip) for h in topo.hosts}
    assert ips == {"lb1": "192.168.33.11", "master1": "192.168.33.21",
                   "master2": "192.168.33.22", "master3": "192.168.33.23",
                   "minion1": "192.168.33.31", "minion2": "192.168.33.32"}
    assert topo.lb.kind == "nginx" and topo.kubernetes.enabled


def test_etcd_only_lab_has_no_kube_tier() -> None:
    topo = topology("etcd-only")
    assert not topo.kubernetes.enabled
    assert [h.role for h in topo.hosts] == ["lb", "master", "master", "master"]


def test_zones_lab_spreads_masters_over_three_zones() -> None:
    topo = topology("zones")
    assert {h.zone for h in topo.by_role("master")} == {"a", "b", "c"}
    assert {h.zone for h in topo.by_role("minion")} == {"a", "b", "c"}


@pytest.mark.parametrize("fixture", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_is_rejected_with_file_line_and_field(fixture: Path) -> None:
    first = fixture.read_text().splitlines()[0]
    m = EXPECT.match(first)
    assert m, f"{fixture.name}: first line must be '# expect: LINE FIELD: MESSAGE'"
    line, rest = int(m.group(1)), m.group(2)
    field, _, message = rest.partition(": ")
    with pytest.raises(TopologyError) as info:
        load(fixture)
    problems = info.value.problems
    assert any(p.line == line and p.field == field and message in p.message for p in problems), (
        f"expected line {line} field {field!r} message containing {message!r}; got:\n"
        + "\n".join(str(p) for p in problems))
    # The rendered message names the file and the line.
    assert f"{fixture}:{line}:" in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    text = """\
name: many
network: {subnet: 192.168.33.0/24}
kubernetes: {enabled: false}
hosts:
  - {name: lb1, role: lb, ip: 192.168.33.11}
  - {name: master1, role: master, ip: 192.168.99.21}
  - {name: master1, role: master, ip: 192.168.33.11}
"""
    with pytest.raises(TopologyError) as info:
        loads(text, "many.yaml")
    text_of = str(info.value)
    assert "many.yaml:6: hosts[1].ip: 192.168.99.21 is outside" in text_of
    assert "many.yaml:7: hosts[2].name: duplicate host name 'master1'" in text_of
    assert "many.yaml:7: hosts[2].ip: duplicate ip 192.168.33.11" in text_of
    assert "losing either one loses quorum" in text_of


def test_even_master_count_above_two_warns() -> None:
    hosts = "\n".join(f"  - {{name: master{i}, role: master, ip: 192.168.33.{20 + i}}}"
                      for i in range(1, 5))
    text = ("name: four\nnetwork: {subnet: 192.168.33.0/24}\nkubernetes: {enabled: false}\n"
            f"hosts:\n  - {{name: lb1, role: lb, ip: 192.168.33.11}}\n{hosts}\n")
    loaded = loads(text, "four.yaml")
    assert len(loaded.warnings) == 1 and "4 masters" in loaded.warnings[0]


POUND_KUBE = ("name: pk\nnetwork: {subnet: 192.168.33.0/24}\nlb: {kind: pound}\nhosts:\n"
              "  - {name: lb1, role: lb, ip: 192.168.33.11}\n"
              "  - {name: master1, role: master, ip: 192.168.33.21}\n"
              "  - {name: master2, role: master, ip: 192.168.33.22}\n"
              "  - {name: master3, role: master, ip: 192.168.33.23}\n"
              "  - {name: minion1, role: minion, ip: 192.168.33.31}\n")


def test_a_central_pound_in_front_of_a_kube_lab_is_refused_with_the_way_out() -> None:
    with pytest.raises(TopologyError) as exc:
        loads(POUND_KUBE, "pk.yaml")
    [problem] = exc.value.problems
    assert (problem.line, problem.field) == (3, "lb.kind")
    assert "lb.mode: per-node" in problem.message and "Pound terminates TLS" in problem.message
    off = loads(POUND_KUBE.replace("hosts:", "kubernetes: {enabled: false}\nhosts:"), "pk.yaml")
    assert not any("Pound" in w for w in off.warnings)


def test_per_node_pound_is_accepted_and_the_default_mode_is_central() -> None:
    loaded = loads(POUND_KUBE.replace("{kind: pound}", "{kind: pound, mode: per-node}"))
    assert loaded.topology.lb.mode == "per-node" and loaded.warnings == []
    assert loads(POUND_KUBE.replace("pound", "nginx")).topology.lb.mode == "central"


def test_per_node_needs_the_kube_tier() -> None:
    text = POUND_KUBE.replace("{kind: pound}", "{kind: nginx, mode: per-node}").replace(
        "hosts:", "kubernetes: {enabled: false}\nhosts:")
    with pytest.raises(TopologyError) as exc:
        loads(text, "pn.yaml")
    assert any(p.field == "lb.mode" and "kubernetes.enabled: false" in p.message
               for p in exc.value.problems)


def test_per_node_with_one_master_warns_that_it_adds_only_a_hop() -> None:
    text = ("name: one\nnetwork: {subnet: 192.168.33.0/24}\nlb: {mode: per-node}\nhosts:\n"
            "  - {name: master1, role: master, ip: 192.168.33.21}\n"
            "  - {name: minion1, role: minion, ip: 192.168.33.31}\n")
    [warning] = loads(text, "one.yaml").warnings
    assert "one.yaml:3" in warning and "no failover" in warning


def test_an_unknown_lb_mode_names_the_choices() -> None:
    with pytest.raises(TopologyError) as exc:
        loads(POUND_KUBE.replace("{kind: pound}", "{kind: nginx, mode: local}"), "m.yaml")
    [problem] = exc.value.problems
    assert problem.field == "lb.mode" and "per-node" in problem.message


def test_a_minion_with_the_kube_tier_off_warns_with_its_line() -> None:
    text = ("name: idle\nnetwork: {subnet: 192.168.33.0/24}\nkubernetes: {enabled: false}\n"
            "hosts:\n"
            "  - {name: lb1, role: lb, ip: 192.168.33.11}\n"
            "  - {name: master1, role: master, ip: 192.168.33.21}\n"
            "  - {name: minion1, role: minion, ip: 192.168.33.31}\n"
            "  - {name: minion2, role: minion, ip: 192.168.33.32}\n")
    loaded = loads(text, "idle.yaml")
    assert loaded.warnings == [
        "idle.yaml:7: hosts[2].role: minions minion1, minion2 will boot and run nothing: the "
        "kube tier is off (kubernetes.enabled: false); set it to true, or remove the minions"]
    on = loads(text.replace("enabled: false", "enabled: true"), "idle.yaml")
    assert on.warnings == []
    none = loads("\n".join(text.splitlines()[:-2]) + "\n", "idle.yaml")
    assert none.warnings == []


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    text = ("name: x1\nnetwork: {subnet: 192.168.33.0/24}\nkubernetes: {enabled: false}\n"
            "hosts:\n  - {name: m1, role: master, ip: 192.168.33.21, qqqq: 1}\n")
    with pytest.raises(TopologyError, match="known keys: cpus, ip, memory, name, role, zone"):
        loads(text, "x.yaml")


def test_missing_file_says_where_the_ready_labs_are(tmp_path: Path) -> None:
    from halab.errors import HalabError
    with pytest.raises(HalabError) as info:
        load(tmp_path / "nope.yaml")
    assert "labs/" in str(info.value)


def _laughs(levels: int) -> str:
    """"Billion laughs": each level is ten aliases of the one before, 10**levels items."""
    lines = ["name: laughs", "l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_at_the_first_one_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(TopologyError) as info:
        loads(_laughs(6), "laughs.yaml")
    assert time.monotonic() - started < 2
    assert [str(p) for p in info.value.problems] == [
        "laughs.yaml:3: aliases (*l0) are not allowed in a topology: write the value out where "
        "it is used"]


def test_a_public_subnet_loads_when_the_topology_says_why() -> None:
    text = ("name: public\nnetwork:\n  subnet: 198.51.100.0/24\n  public_subnet_reason: the "
            "course's routed range\nkubernetes: {enabled: false}\n"
            "hosts:\n  - {name: m1, role: master, ip: 198.51.100.21}\n")
    loaded = loads(text, "public.yaml")
    assert loaded.topology.network.public_subnet_reason == "the course's routed range"
    assert loaded.warnings == []


def test_a_reason_for_private_networks_is_said_to_be_useless() -> None:
    text = ("name: private\nnetwork:\n  subnet: 100.64.3.0/24\n  public_subnet_reason: why not\n"
            "kubernetes: {enabled: false}\nhosts:\n  - {name: m1, role: master, ip: 100.64.3.21}\n")
    assert loads(text, "p.yaml").warnings == [
        "p.yaml:4: network.public_subnet_reason: is given but both networks are private; "
        "remove it"]


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"name: latin\n\ndescription: caf\xe9\n")
    with pytest.raises(TopologyError) as info:
        load(bad)
    assert str(info.value.problems[0]) == (f"{bad}:3: not UTF-8 text (byte 0xe9); save the file "
                                           "as UTF-8")


@pytest.mark.parametrize("what", ["directory", "missing", "not utf-8", "alias"])
def test_validate_exits_2_for_every_bad_topology(tmp_path: Path, what: str) -> None:
    from halab.cli.app import main

    path = tmp_path / "lab.yaml"
    if what == "directory":
        path = tmp_path
    elif what == "not utf-8":
        path.write_bytes(b"name: caf\xe9\n")
    elif what == "alias":
        path.write_text("name: loop\nhosts: &a [*a]\n")
    assert main(["validate", str(path)]) == 2
