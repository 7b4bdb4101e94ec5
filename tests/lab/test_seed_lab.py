"""The seeds' lab: labs/seed.yaml, 3 masters with the kube tier, 2 minions, on system
containers (PROVIDER=vm: VMs).

Marked `kube` (`make kube-test`) and `lab`: on containers it takes about 6 minutes, so `make
test` (CI) runs it. On VMs under emulation it takes over 30 minutes: `make test PROVIDER=vm`
then deselects it with `-m 'not kube'`. It needs the Kubernetes binaries (`make binaries`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from labcli import ROOT, halab, host, lab_objects

from halab.facts import kube
from halab.home import labs_dir

pytestmark = [pytest.mark.kube, pytest.mark.lab]

TOPOLOGY = ROOT / "labs" / "seed.yaml"
LAB = "seed"


@pytest.fixture(scope="module")
def lab_up() -> dict[str, object]:
    started = time.monotonic()
    proc = halab("up", str(TOPOLOGY), timeout=3600)
    yield {"proc": proc, "seconds": time.monotonic() - started}
    if lab_objects(LAB):  # the teardown test did not run or failed
        halab("down", LAB, "--yes")


def test_up_brings_up_every_tier(lab_up: dict) -> None:
    proc = lab_up["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "etcd: 3 members healthy" in proc.stdout
    assert "kube-apiserver ready through https://192.168.33.11:6443" in proc.stdout
    assert re.search(r"leases: kube-controller-manager held by master\d, "
                     r"kube-scheduler held by master\d", proc.stdout)
    assert "nodes Ready: minion1, minion2" in proc.stdout
    print(f"cold up took {lab_up['seconds']:.0f}s")


def test_kubectl_on_a_master_reaches_the_api_through_the_lb(lab_up: dict) -> None:
    r = host(LAB, "master2").run(kube.kubectl("get nodes -o json"))
    assert r.rc == 0, r.stderr
    nodes = kube.parse_nodes(r.stdout)
    assert kube.node_problems(nodes, ["minion1", "minion2"]) == []
    nginx = host(LAB, "lb1").socket("tcp://0.0.0.0:6443")
    assert nginx.is_listening


def test_verify_passes_with_the_kube_checks(lab_up: dict, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    proc = halab("verify", LAB, "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout
    for check in (r"✓ kube\s+every minion is registered and Ready",
                  r"✓ kube\s+.*a Deployment of the web image gets its pods Running",
                  r"✓ kube\s+.*the web Service answers a client pod",
                  r"✓ kube\s+.*kube-controller-manager and kube-scheduler leases are held"):
        assert re.search(check, proc.stdout), check
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"


@pytest.mark.parametrize("hard", [False, True], ids=["graceful", "power-off"])
def test_failover_scenario_moves_the_leases_and_schedules_pods(lab_up: dict, hard: bool
                                                               ) -> None:
    """The seeds' story: halt the master holding the leases, a new holder in time, `web-next`
    scheduled and Running while it is down, kubectl through nginx all along, then it is back."""
    proc = halab("verify", LAB, "--scenario", "failover", *(["--hard"] if hard else []),
                 timeout=3600)
    assert proc.returncode == 0, proc.stdout
    m = re.search(r"(\d+) of (\d+) verdicts hold", proc.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 9, proc.stdout
    assert re.search(r"✓ a new kube-controller-manager lease holder within \d+s .*— master\d "
                     r"after [\d.]+s", proc.stdout)
    assert re.search(r"✓ a new Deployment web-next Running on minions while master\d is down",
                     proc.stdout)
    assert re.search(r"✓ kubectl through the LB keeps working", proc.stdout)


def test_cold_restart_brings_every_tier_back(lab_up: dict) -> None:
    """Every host off at once, then `halab up`: etcd, the LB, the control plane and the nodes
    come back, and `halab verify` passes with the kube checks."""
    proc = halab("verify", LAB, "--scenario", "cold-restart", timeout=3600)
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"✓ every host was off \(guest shutdown\)\W+6 hosts off in", proc.stdout)
    assert re.search(r"✓ `halab verify` passes afterwards\W+28 passed, 0 failed", proc.stdout)
    assert "6 of 6 verdicts hold" in proc.stdout


def test_add_master_joins_etcd_the_lb_and_the_control_plane(lab_up: dict) -> None:
    """A fourth master joins etcd, the LB's backends and the kube control plane; verify then
    checks its apiserver, controller-manager and scheduler with the others."""
    proc = halab("add-master", "--lab", LAB, "--name", "master4", "--ip", "192.168.33.24",
                 timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kube-controller-manager: started on master4" in proc.stdout
    m4 = host(LAB, "master4")
    for unit in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert m4.service(unit).is_running, unit
    assert "192.168.33.24" in host(LAB, "lb1").file("/etc/nginx/nginx.conf").content_string
    verify = halab("verify", LAB, timeout=1800)
    assert verify.returncode == 0, verify.stdout
    assert re.search(r"\d+ passed, 0 failed", verify.stdout)


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
