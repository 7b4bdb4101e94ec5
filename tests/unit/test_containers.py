"""The container provider's pure parts: names, guest files, kernel checks, the provider choice,
and the container variants of the rendered configs (no container is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labfiles import lab_plan

from halab import providers
from halab.config import plan
from halab.providers import inotify
from halab.providers.nspawn import checks, guest, machines, names
from halab.render import files as render
from halab.session import labdir

pytestmark = pytest.mark.unit


def seed(provider: str = "container") -> plan.Plan:
    accel = "native" if provider == "container" else "tcg"
    return lab_plan("seed", accel, provider)  # type: ignore[arg-type]


def test_bridge_names_fit_an_interface_name_and_differ_per_lab() -> None:
    labs = ["seed", "etcd-only", "etcd-only-s01", "etcd-only-s02", "a" * 60]
    got = [names.bridge(lab) for lab in labs]
    assert all(len(n) <= 15 and n.startswith("hlb") for n in got)
    assert len(set(got)) == len(labs)


def test_guest_files_give_the_host_its_name_address_and_no_gateway() -> None:
    p = seed()
    m1 = p.host("master1")
    files = {f.path: f for f in guest.files(m1, p)}
    assert files["etc/hostname"].text == "master1\n"
    nic = files["etc/network/interfaces"].text
    assert "iface host0 inet static" in nic and "address 192.168.33.21/24" in nic
    assert "gateway" not in nic
    assert files["etc/systemd/system/systemd-remount-fs.service"].symlink == "/dev/null"
    assert files[guest.INIT].mode == 0o755 and files[guest.INIT].text.endswith("exec /sbin/init\n")
    assert f"ExecStartPre=/{guest.KUBELET_CGROUPS} /halab-seed--master1" in \
        files[guest.KUBELET_DROPIN].text
    assert guest.init_command(m1) == [f"/{guest.INIT}"]


def test_supervisor_restarts_on_reboot_and_unmounts_when_the_guest_stops(tmp_path) -> None:
    script = machines.supervisor_script("halab-seed-minion1", tmp_path / "rootfs", "hlbx",
                                        "minion1", tmp_path / "c.log", ["/usr/local/sbin/x"])
    assert "--network-bridge=hlbx" in script and "--machine=halab-seed-minion1" in script
    assert "[ $rc -eq 133 ] || break" in script and "SYSTEMD_SECCOMP=0 systemd-nspawn" in script
    assert script.index("mount -t overlay") < script.index("systemd-nspawn") < \
        script.rindex("umount")
    assert script.rstrip().endswith("supervisor.pid")


def test_kernel_checks_name_what_is_missing() -> None:
    v1 = "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    v2 = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert checks.cgroup_layout(v1) == "v1" and checks.cgroup_layout(v2) == "v2"
    assert checks.kernel_problems("nodev\toverlay\n", v1) == []
    found = checks.kernel_problems("nodev\tproc\n", v2)
    assert any("overlayfs" in x for x in found) and any("cgroup v2" in x for x in found)


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
    assert "cgroupDriver: cgroupfs" in c[kubelet] and "cgroupRoot: /halab-seed--minion1" in \
        c[kubelet] and "failCgroupV1: false" in c[kubelet]
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
