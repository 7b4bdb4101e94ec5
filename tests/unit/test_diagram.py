"""`halab diagram`: the DOT source of the ready labs, and real pictures drawn by Graphviz."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from labfiles import lab_file, lab_plan

from halab.cli.app import main
from halab.config import plan
from halab.config.topology import loads
from halab.errors import HalabError
from halab.workshop import diagram

pytestmark = pytest.mark.unit

LABS = ["seed", "zones", "etcd-only"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Five masters (above the mesh limit), two zones, hosts with no zone: what the ready labs lack.
BIG = """
name: big
network: {subnet: 10.9.0.0/24, management: 10.8.0.0/24}
lb: {kind: haproxy}
hosts:
  - {name: lb1, role: lb, ip: 10.9.0.11}
  - {name: m1, role: master, ip: 10.9.0.21, zone: east}
  - {name: m2, role: master, ip: 10.9.0.22, zone: east}
  - {name: m3, role: master, ip: 10.9.0.23, zone: west}
  - {name: m4, role: master, ip: 10.9.0.24, zone: west}
  - {name: m5, role: master, ip: 10.9.0.25}
  - {name: w1, role: minion, ip: 10.9.0.31, zone: east}
  - {name: w2, role: minion, ip: 10.9.0.32}
"""
SOLO = """
name: solo
network: {subnet: 10.9.0.0/24, management: 10.8.0.0/24}
hosts:
  - {name: m1, role: master, ip: 10.9.0.21}
  - {name: w1, role: minion, ip: 10.9.0.31}
"""


def _name(host: str) -> str:
    return f'"?{re.escape(host)}"?'


def node_attrs(source: str, host: str) -> str:
    """The attribute list of a host's node statement in DOT source."""
    found = re.findall(rf"^\s*{_name(host)} \[(.*)\]$", source, re.M)
    assert len(found) == 1, f"{host}: {len(found)} node statements"
    return found[0]


def edges(source: str, tail: str, head: str) -> list[str]:
    """The attribute lists of every edge tail -> head."""
    return re.findall(rf"^\s*{_name(tail)} -> {_name(head)}(?: \[(.*)\])?$", source, re.M)


@pytest.mark.parametrize("lab", LABS)
def test_every_host_lb_arrow_and_etcd_peer_link(lab: str) -> None:
    p = lab_plan(lab)
    src = diagram.build(p).source
    for h in p.hosts:
        attrs = node_attrs(src, h.name)
        assert h.ip in attrs and diagram.ROLE_FILL[h.role] in attrs
    assert p.lb is not None
    for m in p.masters:
        assert [a for a in edges(src, p.lb.name, m.name) if "invis" not in a]
    for a, b in itertools.combinations(p.masters, 2):
        peer = edges(src, a.name, b.name)
        assert len(peer) == 1 and diagram.PEER_COLOR in peer[0] and "dir=none" in peer[0]


@pytest.mark.parametrize("lab", LABS)
def test_minions_reach_the_api_through_the_lb_when_the_kube_tier_is_on(lab: str) -> None:
    p = lab_plan(lab)
    src = diagram.build(p).source
    assert p.lb is not None
    for n in p.minions:
        api = edges(src, p.lb.name, n.name)
        assert len(api) == 1 and "dotted" in api[0] and "dir=back" in api[0]
    assert ("kubelet, kube-proxy" in src) == bool(p.kube and p.minions)


def test_one_cluster_per_zone() -> None:
    src = diagram.build(lab_plan("zones")).source
    assert re.findall(r"subgraph (cluster_zone_\w+)", src) == [
        "cluster_zone_a", "cluster_zone_b", "cluster_zone_c"]
    clusters = src.split("subgraph cluster_zone_")[1:]
    for zone, cluster in zip("abc", clusters, strict=True):
        nodes = set(re.findall(r'^\s*"?([\w-]+)"? \[', cluster, re.M))
        assert nodes == {f"master-{zone}", f"minion-{zone}1"}
    assert "cluster_zone" not in diagram.build(lab_plan("seed")).source


def test_live_state_colours_leader_halted_host_backend_down_and_lease_holders() -> None:
    p = lab_plan("seed")
    live = diagram.LiveState(
        leader="master2", halted=frozenset({"master3"}), backends_down=frozenset({"master3"}),
        lease_holders={"kube-controller-manager": "master1", "kube-scheduler": "master2"},
        notes=("kube leases: no answer",))
    src = diagram.build(p, live).source
    leader = node_attrs(src, "master2")
    assert f'fillcolor="{diagram.LEADER_FILL}"' in leader and "etcd leader" in leader
    halted = node_attrs(src, "master3")
    assert f'fillcolor="{diagram.HALTED_FILL}"' in halted and "dashed" in halted
    assert "halted" in halted
    holder = node_attrs(src, "master1")
    assert f'color="{diagram.LEASE_COLOR}"' in holder and "controller-manager" in holder
    assert f'fillcolor="{diagram.ROLE_FILL["master"]}"' in holder
    (down,) = edges(src, "lb1", "master3")
    assert f'color="{diagram.DOWN_COLOR}"' in down
    (up,) = edges(src, "lb1", "master1")
    assert diagram.DOWN_COLOR not in up
    assert "kube leases: no answer" in src and "holds the controller-manager" in src
    static = diagram.build(p).source
    for colour in (diagram.LEADER_FILL, diagram.HALTED_FILL, diagram.DOWN_COLOR):
        assert colour not in static


@pytest.mark.parametrize("lab", ["seed", "zones"])
def test_dot_draws_a_png_and_an_svg_with_every_host(lab: str, tmp_path: Path) -> None:
    p = lab_plan(lab)
    written = diagram.render_files(diagram.build(p), diagram.outputs(tmp_path / lab))
    assert written == [tmp_path / f"{lab}.svg", tmp_path / f"{lab}.png"]
    png = (tmp_path / f"{lab}.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    svg = (tmp_path / f"{lab}.svg").read_text()
    texts = {t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    assert {h.name for h in p.hosts} <= texts
    assert {h.ip for h in p.hosts} <= texts


@pytest.mark.parametrize("text", [BIG, SOLO])
def test_dot_draws_labs_unlike_the_ready_ones(text: str, tmp_path: Path) -> None:
    """Many masters over zones and hosts with none, or one master and no LB."""
    p = plan.build(loads(text).topology)
    live = diagram.LiveState(leader="m1", halted=frozenset({"w1"}))
    (png,) = diagram.render_files(diagram.build(p, live), [tmp_path / "lab.png"])
    assert png.read_bytes().startswith(PNG_MAGIC)
    src = diagram.build(p).source
    for h in p.hosts:
        node_attrs(src, h.name)
    if p.lb is None:
        assert edges(src, "m1", "w1") and "the LB" not in src


def test_out_suffix_picks_the_format(tmp_path: Path) -> None:
    assert diagram.outputs(tmp_path / "x.png") == [tmp_path / "x.png"]
    assert diagram.outputs(tmp_path / "x.SVG") == [tmp_path / "x.SVG"]
    assert diagram.outputs(tmp_path / "x") == [tmp_path / "x.svg", tmp_path / "x.png"]
    with pytest.raises(HalabError, match=r"\.pdf"):
        diagram.outputs(tmp_path / "x.pdf")


def test_cli_draws_a_lab_never_brought_up(tmp_path: Path) -> None:
    out = tmp_path / "pictures" / "etcd"
    assert main(["diagram", str(lab_file("etcd-only")), "--out", str(out)]) == 0
    assert (tmp_path / "pictures" / "etcd.png").read_bytes().startswith(PNG_MAGIC)
    assert "master3" in (tmp_path / "pictures" / "etcd.svg").read_text()
    assert main(["diagram", str(lab_file("seed")), "--out", str(out) + ".pdf"]) == 1


def test_missing_dot_says_how_to_install_it(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HalabError, match="`dot` is missing") as err:
        diagram.render_files(diagram.build(lab_plan("seed")), [tmp_path / "x.png"])
    assert "make deps" in str(err.value)


def test_live_state_marks_the_hosts_a_partition_cut_off() -> None:
    p = lab_plan("etcd-only")
    live = diagram.LiveState(cut_off={"master1": ("master2", "master3"),
                                      "master2": ("master1",), "master3": ("master1",)})
    src = diagram.build(p, live).source
    cut = node_attrs(src, "master1")
    assert "cut off from master2, master3" in cut and f'color="{diagram.DOWN_COLOR}"' in cut
    assert "cut off" not in node_attrs(src, "lb1")
    assert "cut off by `halab partition`" in src
    assert "cut off" not in diagram.build(p, diagram.LiveState()).source


def test_per_node_proxies_link_each_minion_to_every_master_and_not_to_the_lb() -> None:
    """Seed 001's layout: no LB host on a minion's API path, so none is drawn there."""
    p = lab_plan("pound-per-node")
    src = diagram.build(p).source
    assert p.lb is not None and p.node_proxies
    for n in p.minions:
        assert "pound on 127.0.0.1:6443" in node_attrs(src, n.name)
        assert not edges(src, p.lb.name, n.name)
        for m in p.masters:
            assert [a for a in edges(src, n.name, m.name) if "dotted" in a]
    assert "the minion's own pound" in src
    # Graphviz keeps the masters in the file's order, with every minion linked to each.
    svg = diagram.build(p).pipe(format="svg").decode()
    x = {m.name: float(re.search(rf"<title>{m.name}</title>.*?x=\"([\d.]+)\"", svg,
                                 re.S).group(1)) for m in p.masters}
    assert sorted(x, key=x.get) == [m.name for m in p.masters]
