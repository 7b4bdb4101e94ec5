"""The rolling upgrade on the seed lab's shape (lb1, master1-3, minion1-2, nginx) brought up at
Kubernetes 1.35.4: the skew policy's refusals change nothing, --dry-run prints the order, then
`halab verify --scenario upgrade --to 1.36.3` upgrades it under probes and every verdict holds;
the lab's topology copy then says 1.36.3, a second upgrade has nothing to do, and `up` puts no
binary. In `make ha-test` (about 15 min on containers, with the 1.35.4 binaries built once)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from labcli import assert_down_leaves_nothing, halab, lab_objects
from labfiles import ROOT

from halab.session import labdir

pytestmark = [pytest.mark.lab, pytest.mark.kube, pytest.mark.ha]

LAB, FROM, TO = "upgr", "1.35.4", "1.36.3"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory):
    text = (ROOT / "labs" / "seed.yaml").read_text()
    text = text.replace("name: seed", f"name: {LAB}").replace("192.168.33.", "10.176.46.")
    text = text.replace("192.168.121.0/24", "10.176.47.0/24")
    text = text.replace("  enabled: true\n", f"  enabled: true\n  version: {FROM}\n")
    path: Path = tmp_path_factory.mktemp("upgrade") / f"{LAB}.yaml"
    path.write_text(text)
    try:
        proc = halab("up", str(path), timeout=3600)
        assert proc.returncode == 0, proc.stdout[-4000:]
        yield path
    finally:
        if lab_objects(LAB):
            halab("down", LAB, "--yes")


def test_refusals_and_the_dry_run_change_nothing(topology: Path) -> None:
    skip = halab("upgrade", LAB, "--to", "1.37.0")
    assert skip.returncode != 0 and "skips a minor version" in skip.stdout + skip.stderr
    down = halab("upgrade", LAB, "--to", "1.35.1")
    assert down.returncode != 0 and "does not downgrade" in down.stdout + down.stderr
    plan = halab("upgrade", LAB, "--to", TO, "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    hosts = re.findall(r"^\s+(master\d|minion\d): kube", plan.stdout, re.M)
    assert hosts[3:] == ["minion1", "minion2"] and sorted(hosts[:3]) == [
        "master1", "master2", "master3"], plan.stdout
    assert "hands its leadership over first" in plan.stdout
    assert not (labdir.lab_path(LAB) / "upgrade.json").exists()


def test_the_upgrade_under_probes_holds_every_verdict(topology: Path) -> None:
    proc = halab("verify", LAB, "--scenario", "upgrade", "--to", TO, timeout=3600)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 of 5 verdicts hold" in proc.stdout
    for suffix in ("svg", "png"):
        assert (labdir.lab_path(LAB) / f"upgrade-timeline.{suffix}").stat().st_size > 1000
    copy = labdir.read_state(labdir.lab_path(LAB)).topology
    assert f"version: {TO}" in Path(copy).read_text()
    again = halab("upgrade", LAB, "--to", TO)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    up = halab("up", LAB)
    assert up.returncode == 0 and "every binary is already in place" in up.stdout, up.stdout


def test_down_leaves_nothing(topology: Path) -> None:
    assert_down_leaves_nothing(LAB)
