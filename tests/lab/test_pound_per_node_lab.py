"""Seed 001's layout, labs/pound-per-node.yaml: Pound on every minion as its local API proxy
in front of the three apiservers, the kubelets and kube-proxy authenticating with bearer
tokens through it, and no LB host on the nodes' path (lb1 forwards etcd only).

Marked `kube` and `lab`, like the seed lab: on containers a few minutes, so `make test` (CI)
runs it; on VMs under emulation `make test PROVIDER=vm` deselects it.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from labcli import (
    assert_down_leaves_nothing,
    assert_up_changes_nothing,
    halab,
    host,
    lab_objects,
    status_row,
)
from labfiles import lab_file

from halab.config.layout import KUBE_PKI
from halab.facts import kube
from halab.home import labs_dir

pytestmark = [pytest.mark.kube, pytest.mark.lab]

TOPOLOGY = lab_file("pound-per-node")
LAB = "pound-per-node"
MASTERS = ("192.168.35.21", "192.168.35.22", "192.168.35.23")
KUBE_CA = f"{KUBE_PKI}/ca.crt"


@pytest.fixture(scope="module")
def lab_up() -> dict[str, object]:
    started = time.monotonic()
    proc = halab("up", str(TOPOLOGY), timeout=3600)
    yield {"proc": proc, "seconds": time.monotonic() - started}
    if lab_objects(LAB):  # the teardown test did not run or failed
        halab("down", LAB, "--yes")


def test_up_puts_pound_on_each_minion_and_no_lb_host_on_their_path(lab_up: dict) -> None:
    proc = lab_up["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "nodes Ready: minion1, minion2" in proc.stdout
    print(f"cold up took {lab_up['seconds']:.0f}s")
    for name in ("minion1", "minion2"):
        minion = host(LAB, name)
        assert minion.service("pound").is_running
        assert minion.socket("tcp://127.0.0.1:6443").is_listening
        assert not minion.socket("tcp://0.0.0.0:6443").is_listening
        for kubeconfig in ("/var/lib/kubelet/kubeconfig", "/var/lib/kube-proxy/kubeconfig"):
            text = minion.file(kubeconfig).content_string
            assert "server: https://127.0.0.1:6443" in text and "token: " in text, kubeconfig
            assert "client-certificate-data" not in text
        # Pound's backends are the three apiservers, and the node reaches each of them.
        conf = minion.file("/etc/pound.cfg").content_string
        assert sorted(re.findall(r"Address (192\.168\.35\.\d+)", conf)) == list(MASTERS)
    lb1 = host(LAB, "lb1").file("/etc/pound.cfg").content_string
    assert "6443" not in lb1 and "2379" in lb1


def test_verify_passes_with_no_kube_check_skipped(lab_up: dict, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    proc = halab("verify", LAB, "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout
    for check in (r"✓ kube\s+every minion is registered and Ready",
                  r"✓ kube\s+.*the web Service answers a client pod",
                  r"✓ proxy\s+.*reaches an apiserver as the node itself.*\n?.*"
                  r"system:node:minion1 \(bearer token through Pound",
                  r"✓ proxy\s+minion1\s+a call without credentials through the node.s proxy "
                  r"is refused"):
        assert re.search(check, proc.stdout), check
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert all("vip" in (name or "").lower() for name in skipped), skipped


def test_status_shows_what_each_minions_own_pound_reaches(lab_up: dict) -> None:
    """The last column is each minion's own Pound: the masters it can forward to, and "not
    listening" while it is stopped (the minion's kubelet is then cut off from the API)."""
    status = halab("status", LAB)
    assert "own pound → apiservers" in status.stdout, status.stdout
    for name in ("minion1", "minion2"):
        assert status_row(status.stdout, name)[-1] == "master1, master2, master3", status.stdout
    minion1 = host(LAB, "minion1")
    minion1.run("systemctl stop pound")
    try:
        stopped = halab("status", LAB)
        assert status_row(stopped.stdout, "minion1")[-1] == "not listening", stopped.stdout
        assert status_row(stopped.stdout, "minion2")[-1] == "master1, master2, master3"
    finally:
        assert minion1.run("systemctl start pound").rc == 0
    for _ in range(30):  # Pound listens within a second or two of its start
        if minion1.socket("tcp://127.0.0.1:6443").is_listening:
            break
        time.sleep(1)
    assert minion1.socket("tcp://127.0.0.1:6443").is_listening


def test_failover_through_the_node_proxies_keeps_every_kubelet_on_the_api(lab_up: dict
                                                                           ) -> None:
    """Power off the master holding the leases: each minion's Pound stops using it, and no
    kubelet goes longer than its 40 s node lease without reaching the API."""
    proc = halab("verify", LAB, "--scenario", "failover", "--hard", timeout=3600)
    assert proc.returncode == 0, proc.stdout
    m = re.search(r"(\d+) of (\d+) verdicts hold", proc.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 10, proc.stdout
    gaps = re.search(r"API gap per minion .*: minion1 ([\d.]+)s, minion2 ([\d.]+)s", proc.stdout)
    assert gaps, proc.stdout
    print(f"API gap per minion: minion1 {gaps.group(1)}s, minion2 {gaps.group(2)}s")
    assert re.search(r"✓ every kubelet reached the API within its node lease", proc.stdout)


PROBE = """
set -e
K="kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig -n halab-verify"
$K create namespace halab-verify --dry-run=client -o yaml | $K apply -f - >/dev/null
$K create sa probe --dry-run=client -o yaml | $K apply -f - >/dev/null
$K create role probe --verb=create,get --resource=pods,pods/exec,pods/portforward \
  --dry-run=client -o yaml | $K apply -f - >/dev/null
$K create rolebinding probe --role=probe --serviceaccount=halab-verify:probe \
  --dry-run=client -o yaml | $K apply -f - >/dev/null
$K create token probe --duration=10m
"""


def test_what_passes_pound_websocket_exec_and_port_forward_but_not_spdy(lab_up: dict) -> None:
    """The seeds report `kubectl exec` failing through Pound (SPDY). With Pound 4 and kubectl
    1.36, exec and port-forward speak WebSocket by default, and that passes; SPDY (the
    kubectl_*_WEBSOCKETS=false fallback) still does not. A user with a token (a service
    account allowed to exec) runs kubectl on minion1 through its Pound."""
    from halab.artifacts.binaries import binaries_dir
    from halab.facts import workloads

    m1, minion = host(LAB, "master1"), host(LAB, "minion1")
    assert m1.run(kube.kubectl_stdin("apply -f -", workloads.namespace() + "---\n"
                                     + workloads.web())).rc == 0
    assert m1.run(kube.kubectl(f"-n {workloads.NAMESPACE} rollout status deploy/web "
                               "--timeout=180s", "200s")).rc == 0
    pod = m1.run(kube.kubectl(f"-n {workloads.NAMESPACE} get pods -l app=web -o name")
                 ).stdout.split()[0].removeprefix("pod/")
    token = m1.run(PROBE).stdout.strip()
    assert token, "no token for the probe service account"
    ssh_config = labs_dir() / LAB / "ssh_config"
    subprocess.run(["scp", "-q", "-F", str(ssh_config), str(binaries_dir() / "kubectl"),
                    "minion1:/tmp/kubectl"], check=True, timeout=120)
    kubeconfig = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "l",
        "clusters": [{"name": "l", "cluster": {"server": "https://127.0.0.1:6443",
                                               "certificate-authority": KUBE_CA}}],
        "users": [{"name": "probe", "user": {"token": token}}],
        "contexts": [{"name": "l", "context": {"cluster": "l", "user": "probe",
                                               "namespace": workloads.NAMESPACE}}]})
    minion.run(f"install -m 600 /dev/null /tmp/probe.kubeconfig && cat > /tmp/probe.kubeconfig "
               f"<<'EOF'\n{kubeconfig}EOF")
    kubectl = "timeout 20 /tmp/kubectl --kubeconfig /tmp/probe.kubeconfig"

    def exec_(websockets: bool) -> bool:
        r = minion.run(f"KUBECTL_REMOTE_COMMAND_WEBSOCKETS={str(websockets).lower()} {kubectl} "
                       f"exec {pod} -- /bin/busybox echo through-pound")
        return r.rc == 0 and "through-pound" in r.stdout

    def port_forward(websockets: bool) -> bool:
        """kubectl port-forward in the background (it ends itself within 20 s), one curl."""
        port = 18080 if websockets else 18081
        r = minion.run(f"(KUBECTL_PORT_FORWARD_WEBSOCKETS={str(websockets).lower()} {kubectl} "
                       f"port-forward {pod} {port}:80 >/dev/null 2>&1 &) ; sleep 4 ; "
                       f"curl -s --max-time 5 http://127.0.0.1:{port}/ ; true")
        return "Welcome to halab" in r.stdout

    try:
        found = {"exec websocket": exec_(True), "exec spdy": exec_(False),
                 "port-forward websocket": port_forward(True),
                 "port-forward spdy": port_forward(False)}
    finally:
        minion.run("rm -f /tmp/kubectl /tmp/probe.kubeconfig")
        m1.run(kube.kubectl(f"delete namespace {workloads.NAMESPACE} --wait=false"))
    print(f"through Pound: {found}")
    assert found == {"exec websocket": True, "exec spdy": False,
                     "port-forward websocket": True, "port-forward spdy": False}, found


def test_second_up_changes_nothing(lab_up: dict) -> None:
    assert_up_changes_nothing(TOPOLOGY)


def test_down_leaves_nothing_of_the_lab(lab_up: dict) -> None:
    assert_down_leaves_nothing(LAB)
