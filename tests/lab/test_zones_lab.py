"""Losing a whole zone on labs/zones.yaml with real VMs: 3 masters and 3 minions over zones a, b,
c behind HAProxy, with the kube tier. Zone b is powered off; etcd keeps quorum, kubectl through
the LB keeps answering, and a new Deployment runs on the minions of zones a and c. Then zone b
comes back and `halab verify` passes; last, a cold restart (`--scenario cold-restart --hard`).

Marked `zones`: 7 VMs with the kube tier take 30–60 minutes with KVM or 4+ cores, so it runs
under `make zones-test`, not `make test`. It needs the Kubernetes binaries (`make binaries`).
"""

from __future__ import annotations

import re
import time

import pytest
from labcli import halab, lab_objects
from labfiles import lab_file

from halab.facts import etcd, kube
from halab.remote.runner import RemoteError
from halab.session.context import Lab
from halab.verify.kubedemo import KubeProbe

pytestmark = pytest.mark.zones

TOPOLOGY = lab_file("zones")
LAB = "zones"
NOT_READY_WITHIN = 300  # the node controller's grace period, under emulation


@pytest.fixture(scope="module")
def lab_up():  # noqa: ANN201
    proc = halab("up", str(TOPOLOGY), timeout=3600)
    yield proc
    if lab_objects(LAB):
        halab("down", LAB, "--yes")


def nodes(lab: Lab, via: str, tries: int = 3) -> dict[str, kube.Node]:
    """The nodes as kubectl through the LB sees them. Right after a power cut one connection
    can be handed to the dead master before the LB's check marks it down, and kubectl does not
    retry ("TLS handshake timeout"): a client tries again, a bounded number of times."""
    for attempt in range(tries):
        try:
            out = lab.runner.run(via, kube.kubectl("get nodes -o json"), timeout=60).stdout
            return {n.name: n for n in kube.parse_nodes(out)}
        except RemoteError:
            if attempt == tries - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def test_up_brings_every_zone_up(lab_up) -> None:  # noqa: ANN001
    assert lab_up.returncode == 0, lab_up.stdout[-3000:] + lab_up.stderr
    assert "nodes Ready: minion-a1, minion-b1, minion-c1" in lab_up.stdout


def test_haproxy_drops_an_apiserver_whose_etcd_member_hangs(lab_up) -> None:  # noqa: ANN001
    """etcd frozen (SIGSTOP) on master-a: its unit stays active, so its apiserver keeps its
    port open but is not ready. HAProxy's /readyz check marks it down, and kubectl through the
    LB keeps answering; after SIGCONT it is marked up again."""
    with Lab.existing(LAB) as lab:
        def state() -> str:
            out = lab.runner.run("lb1", "echo 'show servers state kube-apiserver' | "
                                 "socat stdio /run/haproxy/admin.sock").stdout
            row = next(x for x in out.splitlines() if " master-a " in f" {x} ")
            return row.split()[5]  # srv_op_state: 0 down, 2 up
        lab.runner.run("master-a", "systemctl kill -s SIGSTOP etcd")
        try:
            deadline = time.monotonic() + 60
            while state() != "0" and time.monotonic() < deadline:
                time.sleep(1)
            assert state() == "0", "HAProxy still sends clients to master-a's apiserver"
            for _ in range(6):
                assert "minion-a1" in nodes(lab, "master-b", tries=1)
        finally:
            lab.runner.run("master-a", "systemctl kill -s SIGCONT etcd")
        deadline = time.monotonic() + 120
        while state() != "2" and time.monotonic() < deadline:
            time.sleep(2)
        assert state() == "2"


def test_losing_zone_b_keeps_etcd_the_api_and_scheduling(lab_up) -> None:  # noqa: ANN001
    proc = halab("halt", "--lab", LAB, "--zone", "b", "--hard")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd keeps 2 of 3 members (quorum 2)" in proc.stdout
    assert "2 members healthy without the halted ones" in proc.stdout, proc.stdout
    lab = Lab.existing(LAB)
    try:
        p = lab.plan
        put = lab.runner.run("master-a", etcd.etcdctl(p, "put /halab/zone-test b-is-down",
                                                      endpoints=p.etcd.client_url))
        assert put.ok, put.stderr
        deadline = time.monotonic() + NOT_READY_WITHIN
        while nodes(lab, "master-a")["minion-b1"].ready and time.monotonic() < deadline:
            time.sleep(5)
        seen = nodes(lab, "master-c")
        assert not seen["minion-b1"].ready, f"minion-b1 still Ready after {NOT_READY_WITHIN}s"
        assert seen["minion-a1"].ready and seen["minion-c1"].ready
        probe = KubeProbe(p, lab.runner)
        report = probe.run_deployment("master-c", "zone-web", 2)
        probe.delete("master-c", "zone-web")
        assert report.seconds is not None, f"{report.why}: {report.placement}"
        used = {line.split(" on ")[1].split(" ")[0] for line in report.placement}
        assert used <= {"minion-a1", "minion-c1"}, report.placement
        print(f"zone-web Running on {sorted(used)} {report.seconds:.0f}s after apply")
    finally:
        lab.close()
    back = halab("start", "--lab", LAB, "--zone", "b", timeout=1800)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "etcd: 3 members healthy" in back.stdout


def test_verify_passes_once_zone_b_is_back(lab_up) -> None:  # noqa: ANN001
    lab = Lab.existing(LAB)
    try:
        deadline = time.monotonic() + NOT_READY_WITHIN
        while not nodes(lab, "master-a")["minion-b1"].ready and time.monotonic() < deadline:
            time.sleep(5)
    finally:
        lab.close()
    proc = halab("verify", LAB, timeout=1800)
    assert proc.returncode == 0, proc.stdout


def test_cold_restart_brings_etcd_the_lb_and_the_nodes_back(lab_up) -> None:  # noqa: ANN001
    """Every VM of the kube lab powered off at once, then `halab up`: `halab verify` (nodes
    Ready, pods scheduled, leases held) passes again and no key written before is lost."""
    proc = halab("verify", LAB, "--scenario", "cold-restart", "--hard", timeout=3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 of 6 verdicts hold" in proc.stdout
    assert "20 written, 20 read back" in proc.stdout
    assert re.search(r"✓ kube\s+every minion is registered and Ready", proc.stdout), proc.stdout
    m = re.search(r"`halab up` brought the lab back — (\d+)s", proc.stdout)
    print(f"cold restart of the kube lab: up took {m.group(1) if m else '?'} s")


def test_down_leaves_nothing(lab_up) -> None:  # noqa: ANN001
    assert halab("down", LAB, "--yes").returncode == 0
    assert lab_objects(LAB) == []
