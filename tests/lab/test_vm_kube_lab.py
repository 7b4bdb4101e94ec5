"""Issue 35: the kube tier verified on VMs. labs/vm-kube.yaml (one master, one minion) is
small enough for two cores under software emulation, where the seed lab's three masters did
not fit. Always on VMs (the lab says `provider: vm`), whatever PROVIDER says.

Marked `vmkube` (`make vm-kube-test`; `make ha-test PROVIDER=vm` too) and `lab`; the default
addopts leave it out, so `make test` on containers does not boot VMs. It needs the Kubernetes
binaries (`make binaries`). Each phase's time is printed (`-s`, or the report's captured output).
"""

from __future__ import annotations

import re
import time

import pytest
from labcli import (
    PROVIDER,
    assert_down_leaves_nothing,
    halab,
    host,
    lab_objects,
    machine,
    machine_state,
)
from labfiles import lab_file

from halab.facts import kube
from halab.poll import poll

pytestmark = [pytest.mark.vmkube, pytest.mark.lab]

TOPOLOGY = lab_file("vm-kube")
LAB = "vmk-kube"
MASTER, MINION = "master1", "minion1"
MINION_IP = "192.168.71.31"
NODE_WAIT = 600  # seconds for the node to turn NotReady, then Ready, under emulation


@pytest.fixture(scope="module")
def lab_up() -> dict[str, object]:
    """`halab up` from nothing: the VMs, then every tier."""
    assert PROVIDER == "vm", "run it with PROVIDER=vm (`make vm-kube-test`): the lab is on VMs"
    assert lab_objects(LAB) == [], f"lab {LAB} is already there: `halab down {LAB} --yes`"
    started = time.monotonic()
    proc = halab("up", str(TOPOLOGY), "--provider", "vm", timeout=3000)
    yield {"proc": proc, "seconds": time.monotonic() - started}
    if lab_objects(LAB):  # the teardown test did not run or failed
        halab("down", LAB, "--yes")


def _phases(out: str) -> str:
    """`up`'s step lines with their times ("✓ boot 2 VMs (96.1s)"), for the report."""
    return "; ".join(f"{m.group(1)} {m.group(2)}s"
                     for m in re.finditer(r"✓ (.+?) \(([\d.]+)s\)", out))


def test_up_brings_up_every_tier_on_vms(lab_up: dict) -> None:
    proc = lab_up["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "provider: vm" in proc.stdout
    assert "nodes Ready: minion1" in proc.stdout, proc.stdout[-3000:]
    assert machine_state(machine(LAB, MINION)) == "running"
    print(f"cold up took {lab_up['seconds']:.0f}s: {_phases(proc.stdout)}")


def test_the_node_and_flannel_use_the_lab_nic(lab_up: dict) -> None:
    """On a VM eth0 is Vagrant's management NIC: the node's InternalIP and flannel's VXLAN
    device must be on the lab's network (eth1) instead."""
    nodes = kube.parse_nodes(host(LAB, MASTER).run(kube.kubectl("get nodes -o json")).stdout)
    assert [(n.name, n.internal_ip) for n in nodes] == [(MINION, MINION_IP)]
    vxlan = host(LAB, MINION).run("ip -d -o link show flannel.1")
    assert vxlan.rc == 0 and f"local {MINION_IP} dev eth1" in vxlan.stdout, vxlan.stdout


def test_the_vms_have_no_route_beyond_this_machine(lab_up: dict) -> None:
    """The management network is isolated (no NAT): no VM has a default route, and the kube
    tier works without one, as it does on containers."""
    for name in (MASTER, MINION):
        routes = host(LAB, name).run("ip -4 route show default")
        assert routes.rc == 0 and routes.stdout.strip() == "", f"{name}: {routes.stdout}"


def test_verify_passes_with_every_kube_check(lab_up: dict) -> None:
    started = time.monotonic()
    proc = halab("verify", LAB, timeout=1800)
    assert proc.returncode == 0, proc.stdout
    for check in (r"✓ kube\s+every minion is registered and Ready",
                  r"✓ kube\s+.*a Deployment of the web image gets its pods Running",
                  r"✓ kube\s+.*the web Service answers a client pod",
                  r"✓ kube\s+.*kubectl exec works"):
        assert re.search(check, proc.stdout), check
    assert not re.search(r"^- kube", proc.stdout, re.M), proc.stdout  # no kube check skipped
    totals = re.search(r"(\d+) passed, (\d+) failed, (\d+) skipped", proc.stdout)
    assert totals and totals.group(2) == "0", proc.stdout
    print(f"verify took {time.monotonic() - started:.0f}s: {totals.group(0)}")


def _node_ready(want: bool) -> float:
    """Seconds until the minion's Ready condition is `want`, asked of the master."""
    master, started = host(LAB, MASTER), time.monotonic()

    def seen(_why: object) -> bool | None:
        r = master.run(kube.kubectl("get nodes -o json", "30s"))
        nodes = {n.name: n for n in kube.parse_nodes(r.stdout)} if r.rc == 0 else {}
        return True if MINION in nodes and nodes[MINION].ready == want else None
    poll(seen, timeout=NODE_WAIT, interval=5,
         what=f"node {MINION} {'Ready' if want else 'NotReady'}")
    return time.monotonic() - started


def test_halt_then_start_of_the_minion(lab_up: dict) -> None:
    """A halted minion turns NotReady on the master; started again it turns Ready."""
    halted = halab("halt", "--lab", LAB, MINION, timeout=900)
    assert halted.returncode == 0, halted.stdout + halted.stderr
    assert machine_state(machine(LAB, MINION)) == "shut off"
    not_ready = _node_ready(False)
    started = time.monotonic()
    proc = halab("start", "--lab", LAB, MINION, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    booted = time.monotonic() - started
    ready = _node_ready(True)
    print(f"minion1 NotReady {not_ready:.0f}s after its halt; booted in {booted:.0f}s, "
          f"Ready {ready:.0f}s later")


def test_second_up_changes_nothing(lab_up: dict) -> None:
    started = time.monotonic()
    proc = halab("up", str(TOPOLOGY), "--provider", "vm", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    m = re.search(r"is up\S* — (\d+) changes?", proc.stdout)
    assert m and m.group(1) == "0", proc.stdout[-3000:]
    print(f"second up: 0 changes in {time.monotonic() - started:.0f}s")


def test_down_leaves_nothing_of_the_lab(lab_up: dict) -> None:
    assert_down_leaves_nothing(LAB)
