"""Property tests: any valid topology renders; any mutated one is rejected with a located error."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halab.config import plan
from halab.config.topology import TopologyError, loads
from halab.providers.vagrant_libvirt import vagrantfile
from halab.render import files as render

pytestmark = pytest.mark.unit
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, Any]:
    third = draw(st.integers(10, 99))
    masters = draw(st.sampled_from([1, 3, 5]))
    kube = draw(st.booleans())
    minions = draw(st.integers(1 if kube else 0, 3))
    with_lb = masters > 1 or draw(st.booleans())
    ips = draw(st.lists(st.integers(2, 254), min_size=masters + minions + 1,
                        max_size=masters + minions + 1, unique=True))
    zones = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=len(ips),
                          max_size=len(ips)))
    hosts = []
    if with_lb:
        hosts.append({"name": "lb1", "role": "lb", "ip": f"192.168.{third}.{ips[0]}"})
    for i in range(masters):
        hosts.append({"name": f"master{i + 1}", "role": "master",
                      "ip": f"192.168.{third}.{ips[1 + i]}", "zone": zones[1 + i]})
    for i in range(minions):
        hosts.append({"name": f"minion{i + 1}", "role": "minion",
                      "ip": f"192.168.{third}.{ips[1 + masters + i]}",
                      "memory": draw(st.sampled_from([512, 1024, 2048]))})
    return {
        "name": draw(st.from_regex(r"[a-z](?:-?[a-z0-9]){1,10}", fullmatch=True)),
        "network": {"subnet": f"192.168.{third}.0/24",
                    "management": f"192.168.{third + 100}.0/24"},
        "lb": _lb(draw(st.sampled_from(["nginx", "pound", "haproxy"])), kube,
                  draw(st.booleans())),
        "etcd": {"tls": draw(st.booleans())},
        "kubernetes": {"enabled": kube,
                       "flannel_backend": draw(st.sampled_from(["vxlan", "host-gw"]))},
        "hosts": hosts,
    }


def _lb(kind: str, kube: bool, per_node: bool) -> dict[str, str]:
    """A valid lb section: Pound in front of a kube lab is per-node (a central one is refused),
    and per-node needs the kube tier."""
    if kube and (per_node or kind == "pound"):
        return {"kind": kind, "mode": "per-node"}
    return {"kind": kind}


def _mutations(topo: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def mutate(label: str, fn: Any) -> None:
        t = copy.deepcopy(topo)
        fn(t)
        out.append((label, t))

    mutate("drop name", lambda t: t.pop("name"))
    mutate("drop hosts", lambda t: t.pop("hosts"))
    mutate("drop network", lambda t: t.pop("network"))
    mutate("unknown top key", lambda t: t.update(hostz=[]))
    mutate("unknown host key", lambda t: t["hosts"][0].update(colour="red"))
    mutate("ip outside", lambda t: t["hosts"][-1].update(ip="10.99.99.99"))
    mutate("ip broadcast", lambda t: t["hosts"][-1].update(
        ip=t["network"]["subnet"].replace("0/24", "255")))
    mutate("duplicate name", lambda t: t["hosts"].append(
        {**t["hosts"][-1], "ip": t["network"]["subnet"].replace("0/24", "1")[:-1] + "253"}))
    mutate("duplicate ip", lambda t: t["hosts"].append(
        {**t["hosts"][-1], "name": "copycat"}))
    mutate("wrong type", lambda t: t["hosts"][0].update(memory="lots"))
    mutate("bad role", lambda t: t["hosts"][0].update(role="boss"))
    mutate("bad lb kind", lambda t: t["lb"].update(kind="f5"))
    mutate("unsafe name", lambda t: t.update(name="Lab With Spaces"))
    mutate("hosts not a list", lambda t: t.update(hosts={"a": 1}))
    return out


@SETTINGS
@given(topologies())
def test_any_valid_topology_renders_deterministically(topo: dict[str, Any]) -> None:
    text = yaml.safe_dump(topo, sort_keys=False)
    loaded = loads(text, "gen.yaml")
    p = plan.build(loaded.topology)
    first = render.render(p, vagrantfile.lab_files(p))
    assert first.files() == render.render(p, vagrantfile.lab_files(p)).files()
    assert sorted(first.hosts) == sorted(h["name"] for h in topo["hosts"])
    for h in topo["hosts"]:
        assert f'config.vm.define "{h["name"]}"' in first.lab_files["Vagrantfile"]
    n_masters = sum(1 for h in topo["hosts"] if h["role"] == "master")
    assert p.etcd.initial_cluster.count("=") == n_masters


@SETTINGS
@given(topologies(), st.data())
def test_any_mutated_topology_is_rejected_cleanly(topo: dict[str, Any], data: st.DataObject
                                                  ) -> None:
    label, bad = data.draw(st.sampled_from(_mutations(topo)))
    with pytest.raises(TopologyError) as info:
        loads(yaml.safe_dump(bad, sort_keys=False), "gen.yaml")
    assert info.value.problems, label
    for problem in info.value.problems:
        assert problem.line is not None, f"{label}: {problem} has no line"
        assert str(problem).startswith("gen.yaml:"), label


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        loads(text, "junk.yaml")
    except TopologyError as exc:
        assert exc.problems
