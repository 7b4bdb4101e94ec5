"""Seed 001's layout, labs/pound-per-node.yaml: Pound on every minion as its local API proxy
in front of the three apiservers, the kubelets and kube-proxy authenticating with bearer
tokens through it, and no LB host on the nodes' path (lb1 forwards etcd only).

Marked `kube` and `lab`, like the seed lab: on containers a few minutes, so `make test` (CI)
runs it; on VMs under emulation `make test PROVIDER=vm` deselects it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from labcli import ROOT, halab, host, lab_objects

from halab.home import labs_dir

pytestmark = [pytest.mark.kube, pytest.mark.lab]

TOPOLOGY = ROOT / "labs" / "pound-per-node.yaml"
LAB = "pound-per-node"
MASTERS = ("192.168.35.21", "192.168.35.22", "192.168.35.23")


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
                  r"✓ proxy\s+.*an anonymous call"):
        assert re.search(check, proc.stdout), check
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert all("vip" in (name or "").lower() for name in skipped), skipped


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


def test_second_up_changes_nothing(lab_up: dict) -> None:
    proc = halab("up", str(TOPOLOGY))
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"is up\S* — (\d+) changes?", proc.stdout)
    assert m and m.group(1) == "0", proc.stdout


def test_down_leaves_nothing_of_the_lab(lab_up: dict) -> None:
    proc = halab("down", LAB, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lab_objects(LAB) == []
    assert not (labs_dir() / LAB).exists()
