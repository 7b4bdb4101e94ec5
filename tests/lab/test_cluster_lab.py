"""labs/zones.yaml over a three-member Incus cluster simulated on this machine (`halab
cluster-sim`): one zone per member, verify passes; the member of zone b is lost (its incusd and
every process of its containers killed); etcd keeps quorum and kubectl through the LB answers;
the member comes back with `halab start --member`, verify passes; `down` leaves nothing on any
member, and the simulation's own `down` nothing on this machine.

Marked `cluster` (`make cluster-test`, and in `make ha-test`): 7 containers with the kube tier,
about 5 minutes here.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from labcli import halab, status_row
from labfiles import lab_file

from halab.home import labs_dir
from halab.providers.incus import clustersim, names

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

LAB = "zones"
REMOTE = clustersim.REMOTE
KUBECTL_CALLS = 10


def incus(*args: str) -> list[dict]:
    out = subprocess.run(["incus", *args, "--format", "json"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out or "[]")


@pytest.fixture(scope="module")
def lab_up():  # noqa: ANN201
    sim = halab("cluster-sim", "up")
    assert sim.returncode == 0, sim.stdout + sim.stderr
    proc = halab("up", str(lab_file(LAB)), "--incus-remote", REMOTE, timeout=1800)
    yield proc
    if (labs_dir() / LAB).exists():  # the last test takes it down itself
        halab("down", LAB, "--yes")
    halab("cluster-sim", "down", "--force")


def placed() -> dict[str, str]:
    """Each host's member, as `halab status` shows it."""
    out = halab("status", LAB).stdout
    hosts = ("lb1", "master-a", "master-b", "master-c", "minion-a1", "minion-b1", "minion-c1")
    return {h: next(c for c in status_row(out, h) if c.startswith("member")) for h in hosts}


def test_up_places_one_zone_per_member(lab_up) -> None:  # noqa: ANN001
    assert lab_up.returncode == 0, lab_up.stdout[-3000:] + lab_up.stderr
    assert "placed master-b → member2 (zone b" in lab_up.stdout
    where = placed()
    for zone, member in zip("abc", clustersim.MEMBERS, strict=True):
        assert where[f"master-{zone}"] == where[f"minion-{zone}1"] == member, where
    # What Incus itself says, not only halab's table.
    located = {i["name"]: i["location"] for i in incus("list", f"{REMOTE}:",
                                                         "--project", f"halab-{LAB}")}
    assert located[f"halab-{LAB}--master-b"] == "member2"


def test_verify_passes(lab_up) -> None:  # noqa: ANN001
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout


def kubectl_answers() -> int:
    """kubectl from this host through the LB, KUBECTL_CALLS times, each a new connection: how
    many listed all three nodes."""
    made = halab("kubeconfig", LAB)
    assert made.returncode == 0, made.stdout + made.stderr
    line = re.search(r"try: (\S+) --kubeconfig (\S+) get nodes", made.stdout)
    assert line, made.stdout
    ok = 0
    for _ in range(KUBECTL_CALLS):
        r = subprocess.run([line.group(1), "--kubeconfig", line.group(2), "get", "nodes",
                            "--request-timeout=10s"], capture_output=True, text=True,
                           timeout=30)
        ok += r.returncode == 0 and all(f"minion-{z}1" in r.stdout for z in "abc")
    return ok


def test_losing_zone_bs_member_keeps_etcd_and_the_api(lab_up) -> None:  # noqa: ANN001
    member = placed()["master-b"]
    proc = halab("halt", "--lab", LAB, "--member", member)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd keeps 2 of 3 members (quorum 2)" in proc.stdout
    assert "2 members healthy without the halted ones" in proc.stdout, proc.stdout
    figures = re.search(r"(\d+) of (\d+) probes answered .* longest outage ([\d.]+)s",
                        proc.stdout)
    assert figures, proc.stdout
    answered, probes, outage = int(figures[1]), int(figures[2]), float(figures[3])
    print(f"API through the LB while {member} was lost: {answered}/{probes}, longest outage "
          f"{outage}s")
    assert probes >= 10 and answered >= probes - 10 and outage <= 4.0
    # Its processes are gone, and Incus can no longer reach its containers.
    assert not clustersim.running(clustersim.member(member))
    states = {i["name"]: i["status"] for i in incus("list", f"{REMOTE}:", "--project",
                                                    f"halab-{LAB}")}
    assert states[f"halab-{LAB}--master-b"] != "Running", states
    assert kubectl_answers() == KUBECTL_CALLS


def test_the_member_comes_back_and_verify_passes(lab_up) -> None:  # noqa: ANN001
    proc = halab("start", "--lab", LAB, "--member", "member2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd: 3 members healthy" in proc.stdout
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout


def test_down_leaves_nothing_on_any_member(lab_up) -> None:  # noqa: ANN001
    early = halab("cluster-sim", "down")
    assert early.returncode == 1 and "labs are still on the simulated cluster: zones" in \
        early.stderr, early.stdout + early.stderr
    assert halab("down", LAB, "--yes").returncode == 0
    assert incus("list", f"{REMOTE}:", "--all-projects") == []
    assert f"halab-{LAB}" not in {p["name"] for p in incus("project", "list", f"{REMOTE}:")}
    assert names.cluster_bridge(LAB) not in {n["name"] for n in incus("network", "list",
                                                                       f"{REMOTE}:")}
    gone = subprocess.run(["ip", "link", "show", names.gateway_link(LAB)], capture_output=True)
    assert gone.returncode != 0
    assert halab("cluster-sim", "down").returncode == 0
    assert clustersim.leftovers() == []
