"""What every container host shares, whatever starts it: the provider choice, native timings, the
container variants of the rendered configs and the inotify limits (no container is started
here; the Incus provider's own parts are tests/unit/test_incus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labfiles import lab_plan

from halab import providers
from halab.config import plan
from halab.providers import inotify
from halab.render import files as render
from halab.session import labdir

pytestmark = pytest.mark.unit


def seed(provider: str = "container") -> plan.Plan:
    accel = "native" if provider == "container" else "tcg"
    return lab_plan("seed", accel, provider)  # type: ignore[arg-type]


def test_an_explicit_provider_is_taken_as_asked() -> None:
    assert providers.choose("vm")[0] == "vm"
    assert providers.choose("container")[0] == "container"


def test_a_lab_keeps_its_provider_and_old_labs_were_vms() -> None:
    assert labdir.State(topology="x").created_with == "vm"
    assert labdir.State(topology="x", provider="container").created_with == "container"


def test_containers_get_native_timings_and_their_nic() -> None:
    c, v = seed("container"), seed("vm")
    assert (c.etcd.heartbeat_ms, c.etcd.election_timeout_ms) == (100, 1000)
    assert (v.etcd.heartbeat_ms, v.etcd.election_timeout_ms) == (500, 5000)
    assert c.kube and (c.kube.lease_duration_s, c.kube.renew_deadline_s) == (15, 10)
    assert (c.nic, v.nic) == ("host0", "eth1")


def test_container_configs_use_cgroupfs_and_leave_the_hosts_conntrack_alone() -> None:
    c = render.render(seed("container"), {}).hosts["minion1"]
    v = render.render(seed("vm"), {}).hosts["minion1"]
    kubelet, containerd = "/var/lib/kubelet/kubelet-config.yaml", "/etc/containerd/config.toml"
    # No cgroupRoot of its own: the container's cgroup namespace is its root.
    assert "cgroupDriver: cgroupfs" in c[kubelet] and "cgroupRoot" not in c[kubelet] and \
        "failCgroupV1: false" in c[kubelet]
    assert "cgroupDriver: systemd" in v[kubelet] and "cgroupRoot" not in v[kubelet]
    assert "SystemdCgroup = false" in c[containerd] and "restrict_oom_score_adj = true" in \
        c[containerd]
    assert "SystemdCgroup = true" in v[containerd] and "restrict_oom" not in v[containerd]
    proxy = next(t for path, t in c.items() if path.endswith("kube-proxy-config.yaml"))
    assert "maxPerCore: 0" in proxy
    flannel = next(t for path, t in c.items() if "flanneld" in path and "--iface" in t)
    assert "--iface=host0" in flannel


def test_inotify_limits_are_raised_to_what_forty_containers_need_and_never_lowered(
        tmp_path: Path) -> None:
    assert inotify.to_raise({"max_user_instances": 128, "max_user_watches": 192530}) == \
        inotify.WANTED
    assert inotify.to_raise({"max_user_instances": 8192, "max_user_watches": 524288}) == {}
    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("1048576\n")
    said = inotify.ensure(tmp_path)
    assert (tmp_path / "max_user_instances").read_text() == "1024\n"
    assert (tmp_path / "max_user_watches").read_text() == "1048576\n"  # higher: kept
    assert len(said) == 1 and "max_user_instances from 128 to 1024" in said[0]
    assert inotify.ensure(tmp_path) == []  # a second boot says nothing
