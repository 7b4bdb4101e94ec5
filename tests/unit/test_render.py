"""Rendering: golden files for the seed lab, determinism, and checks by the real programs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from labfiles import lab_plan, topology

from halab.config import plan
from halab.providers.vagrant_libvirt import vagrantfile
from halab.render import files as render

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden"
LABS = ["seed", "zones", "etcd-only"]


def rendered(lab: str, accel: plan.Accel = "tcg") -> render.Rendered:
    p = lab_plan(lab, accel)
    return render.render(p, vagrantfile.lab_files(p))


@pytest.mark.parametrize("lab", ["seed", "etcd-only"])
def test_matches_golden_files(lab: str) -> None:
    """Any change to the output shows up here; regenerate with UPDATE_GOLDEN=1 and review."""
    files = rendered(lab).files()
    golden = GOLDEN / lab
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for rel, text in files.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_text(text)
    on_disk = {str(p.relative_to(golden)): p.read_text()
               for p in sorted(golden.rglob("*")) if p.is_file()}
    assert sorted(on_disk) == sorted(files)
    for rel, text in files.items():
        assert text == on_disk[rel], f"{rel} differs from tests/unit/golden/{lab}/{rel}"


@pytest.mark.parametrize("lab", LABS)
def test_output_is_byte_identical_across_runs(lab: str, tmp_path: Path) -> None:
    first, second = rendered(lab), rendered(lab)
    assert first.files() == second.files()
    render.write(first, tmp_path)
    assert render.write(second, tmp_path) == []


def test_write_replaces_hosts_tree_and_keeps_vagrant_state(tmp_path: Path) -> None:
    (tmp_path / ".vagrant").mkdir()
    (tmp_path / ".vagrant" / "state").write_text("keep me")
    (tmp_path / "hosts" / "ghost" / "etc").mkdir(parents=True)
    (tmp_path / "hosts" / "ghost" / "etc" / "hosts").write_text("old host")
    changed = render.write(rendered("etcd-only"), tmp_path)
    assert (tmp_path / ".vagrant" / "state").read_text() == "keep me"
    assert not (tmp_path / "hosts" / "ghost").exists()
    assert "ghost/etc/hosts" in changed
    assert (tmp_path / "Vagrantfile").read_text().startswith("# -*- mode: ruby -*-")


def test_etcd_initial_cluster_and_tls() -> None:
    files = rendered("seed").hosts
    env = files["master2"]["/etc/default/etcd"]
    assert ('ETCD_INITIAL_CLUSTER="master1=https://192.168.33.21:2380,'
            'master2=https://192.168.33.22:2380,master3=https://192.168.33.23:2380"') in env
    assert 'ETCD_NAME="master2"' in env
    assert 'ETCD_CLIENT_CERT_AUTH="true"' in env and 'ETCD_PEER_CLIENT_CERT_AUTH="true"' in env
    assert 'ETCD_ADVERTISE_CLIENT_URLS="https://192.168.33.22:2379"' in env


def test_etcd_timings_follow_the_accelerator() -> None:
    tcg = rendered("etcd-only", "tcg").hosts["master1"]["/etc/default/etcd"]
    kvm = rendered("etcd-only", "kvm").hosts["master1"]["/etc/default/etcd"]
    assert 'ETCD_HEARTBEAT_INTERVAL="500"' in tcg and 'ETCD_ELECTION_TIMEOUT="5000"' in tcg
    assert 'ETCD_HEARTBEAT_INTERVAL="100"' in kvm and 'ETCD_ELECTION_TIMEOUT="1000"' in kvm


def test_etcd_without_tls_has_no_certificate_settings() -> None:
    topo = topology("etcd-only")
    topo = topo.model_copy(update={"etcd": topo.etcd.model_copy(update={"tls": False})})
    env = render.render(plan.build(topo)).hosts["master1"]["/etc/default/etcd"]
    assert "http://192.168.43.21:2380" in env and "CERT" not in env


def with_etcd_servers(mode: str) -> render.Rendered:
    topo = topology("seed")
    topo = topo.model_copy(update={"kubernetes": topo.kubernetes.model_copy(
        update={"etcd_servers": mode})})
    return render.render(plan.build(topo))


def test_control_plane_is_leader_elected_and_uses_its_own_etcd_member_by_default() -> None:
    m = rendered("seed").hosts["master1"]
    api = m["/etc/systemd/system/kube-apiserver.service"]
    assert "--etcd-servers=https://127.0.0.1:2379 " in api and "BindsTo=etcd.service" in api
    assert "--shutdown-watch-termination-grace-period=5s" in api
    every = with_etcd_servers("all").hosts["master1"]["/etc/systemd/system/kube-apiserver.service"]
    assert ("--etcd-servers=https://192.168.33.21:2379,https://192.168.33.22:2379,"
            "https://192.168.33.23:2379") in every
    assert "BindsTo" not in every and "After=network-online.target etcd.service" in every
    assert every.rstrip().endswith("WantedBy=multi-user.target")
    assert "--insecure" not in api and "--client-ca-file=" in api
    cm = m["/etc/systemd/system/kube-controller-manager.service"]
    assert "--leader-elect=true" in cm and "--leader-elect-lease-duration=60s" in cm
    sched = yaml.safe_load(m["/etc/kubernetes/kube-scheduler.yaml"])
    # The same timings as the controller manager's (relaxed under TCG, like etcd's).
    assert sched["leaderElection"] == {"leaderElect": True, "resourceNamespace": "kube-system",
                                       "resourceName": "kube-scheduler", "leaseDuration": "60s",
                                       "renewDeadline": "40s", "retryPeriod": "8s"}
    kvm = rendered("seed", "kvm").hosts["master1"]
    assert "--leader-elect-lease-duration=15s" in kvm[
        "/etc/systemd/system/kube-controller-manager.service"]


def test_etcd_servers_local_uses_the_masters_own_member_and_stops_with_it() -> None:
    api = with_etcd_servers("local").hosts["master1"][
        "/etc/systemd/system/kube-apiserver.service"]
    assert "--etcd-servers=https://127.0.0.1:2379 \\" in api
    assert "--etcd-certfile=/etc/halab/pki/etcd-client.crt" in api  # loopback keeps mTLS
    # It stops with its etcd member (its port closes for every LB kind) and starts with it,
    # and is not ordered after it (etcd's shutdown does not wait for its drain).
    assert "BindsTo=etcd.service" in api and "WantedBy=multi-user.target etcd.service" in api
    assert "After=network-online.target\n" in api


def test_haproxy_sends_clients_only_to_ready_apiservers() -> None:
    cfg = rendered("zones").hosts["lb1"]["/etc/haproxy/haproxy.cfg"]
    api = cfg[cfg.index("backend kube-apiserver"):]
    assert "http-check send meth GET uri /readyz" in api and "check-ssl" in api
    etcd = cfg[cfg.index("backend etcd"):cfg.index("frontend kube-apiserver")]
    assert "httpchk" not in etcd and "check-ssl" not in etcd  # a TCP check: no handshake


def test_minion_configs_parse_and_point_at_the_lb() -> None:
    m = rendered("seed").hosts["minion1"]
    kubelet = yaml.safe_load(m["/var/lib/kubelet/kubelet-config.yaml"])
    assert kubelet["kind"] == "KubeletConfiguration" and kubelet["clusterDNS"] == ["10.32.0.10"]
    proxy = yaml.safe_load(m["/var/lib/kube-proxy/kube-proxy-config.yaml"])
    assert proxy["clusterCIDR"] == "10.200.0.0/16"
    assert "--node-ip=192.168.33.31" in m["/etc/systemd/system/kubelet.service"]
    assert "https://192.168.33.11:6443" in m["/etc/systemd/system/kubelet.service"]
    assert "--etcd-endpoints=https://192.168.33.11:2379" in m["/etc/default/flanneld"]
    json.loads(m["/etc/cni/net.d/10-flannel.conflist"])
    net = json.loads(rendered("seed").hosts["master1"]["/etc/halab/flannel-network.json"])
    assert net == {"Network": "10.200.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan"}}


def test_etcd_only_lab_renders_no_kube_files() -> None:
    files = rendered("etcd-only").files()
    assert not [f for f in files if "kube" in f or "flannel" in f or "kubelet" in f]
    nginx = rendered("etcd-only").hosts["lb1"]["/etc/nginx/nginx.conf"]
    assert "6443" not in nginx and "listen 2379;" in nginx


def test_lb_backends_are_exactly_the_masters() -> None:
    nginx = rendered("seed").hosts["lb1"]["/etc/nginx/nginx.conf"]
    for port in (2379, 6443):
        servers = [ln.split()[1] for ln in nginx.splitlines() if ln.strip().startswith("server ")
                   and f":{port} " in ln]
        assert servers == [f"192.168.33.2{i}:{port}" for i in (1, 2, 3)]


def test_vagrantfile_names_every_host_with_its_ip_and_lab_networks() -> None:
    vf = rendered("seed").lab_files["Vagrantfile"]
    for name, ip in [("lb1", "11"), ("master1", "21"), ("minion2", "32")]:
        assert f'config.vm.define "{name}"' in vf and f'ip: "192.168.33.{ip}"' in vf
    assert 'lv.default_prefix = "halab-seed--"' in vf
    assert 'libvirt__network_name: "halab-seed"' in vf
    assert 'lv.management_network_name = "halab-seed--mgmt"' in vf
    assert "config.ssh.insert_key = false" in vf


# --- checks by the real programs that read these files (installed by `make deps`) ---

def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    assert shutil.which(cmd[0]), f"{cmd[0]} is not installed; run `make deps`"
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("lab", LABS)
def test_vagrantfile_is_valid_ruby(lab: str, tmp_path: Path) -> None:
    (tmp_path / "Vagrantfile").write_text(rendered(lab).lab_files["Vagrantfile"])
    result = _run(["ruby", "-c", str(tmp_path / "Vagrantfile")])
    assert result.returncode == 0 and "Syntax OK" in result.stdout, result.stderr


@pytest.mark.parametrize("lab", ["seed", "etcd-only"])
def test_nginx_accepts_the_config(lab: str, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(rendered(lab).hosts["lb1"]["/etc/nginx/nginx.conf"])
    result = _run(["nginx", "-t", "-c", str(conf)])
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: the same call refuses a config with a typo."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(rendered("seed").hosts["lb1"]["/etc/nginx/nginx.conf"]
                    .replace("proxy_pass", "proxy_passs", 1))
    assert _run(["nginx", "-t", "-c", str(conf)]).returncode != 0


def test_haproxy_accepts_the_config(tmp_path: Path) -> None:
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(rendered("zones").hosts["lb1"]["/etc/haproxy/haproxy.cfg"])
    result = _run(["haproxy", "-c", "-f", str(conf)])
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.cfg"
    broken.write_text(conf.read_text().replace("default_backend", "default_backendd", 1))
    assert _run(["haproxy", "-c", "-f", str(broken)]).returncode != 0
