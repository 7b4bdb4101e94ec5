"""labs/lb-pair.yaml with real VMs: two HAProxy LBs sharing a VIP with keepalived in front of
a 3-member etcd cluster. The LB holding the VIP is powered off while keys are written through
the VIP (`--scenario lb`); then every VM is powered off at once and `halab up` must bring every
tier back (`--scenario cold-restart`)."""

from __future__ import annotations

import re

import labcli
import pytest
from labcli import halab
from labfiles import lab_file

pytestmark = [pytest.mark.lab, pytest.mark.ha]

TOPOLOGY = lab_file("lb-pair")
LAB = "lb-pair"
VIP = "192.168.47.10"


@pytest.fixture(scope="module")
def lab_up():  # noqa: ANN201
    proc = halab("up", str(TOPOLOGY))
    yield proc
    if labcli.lab_objects(LAB):
        halab("down", LAB, "--yes")


def test_up_serves_etcd_through_both_lbs_and_the_vip(lab_up) -> None:  # noqa: ANN001
    assert lab_up.returncode == 0, lab_up.stdout[-3000:] + lab_up.stderr
    for url in ("192.168.47.11", "192.168.47.12", VIP):
        assert f"etcd answers through haproxy at https://{url}:2379" in lab_up.stdout


def test_status_names_the_vip_holder_and_verify_checks_it(lab_up) -> None:  # noqa: ANN001
    status = halab("status", LAB)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(f"holds VIP {VIP}") == 1, status.stdout
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"✓ lb\s+\S*\s*exactly one LB host holds the VIP", proc.stdout), proc.stdout
    assert re.search(r"✓ lb\s+lb2\s+etcd answers through it", proc.stdout)


def test_powering_off_the_vip_holder_moves_the_vip_and_loses_no_write(lab_up) -> None:  # noqa: ANN001
    proc = halab("verify", LAB, "--scenario", "lb", "--hard")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 of 4 verdicts hold" in proc.stdout
    m = re.search(r"(lb\d) took the VIP ([\d.]+)s after", proc.stdout)
    assert m, proc.stdout
    gap = re.search(r"longest gap ([\d.]+)s, 0 lost", proc.stdout)
    assert gap, proc.stdout
    print(f"VIP moved to {m.group(1)} in {m.group(2)} s; client gap {gap.group(1)} s")


def test_cold_restart_brings_every_tier_back(lab_up) -> None:  # noqa: ANN001
    """Every VM powered off at once, then `halab up`: quorum, keys, LB backends, verify."""
    proc = halab("verify", LAB, "--scenario", "cold-restart", "--hard")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 of 6 verdicts hold" in proc.stdout
    assert "20 written, 20 read back" in proc.stdout
    m = re.search(r"`halab up` brought the lab back — (\d+)s", proc.stdout)
    print(f"cold restart: up took {m.group(1) if m else '?'} s")


def test_down_leaves_nothing(lab_up) -> None:  # noqa: ANN001
    assert halab("down", LAB, "--yes").returncode == 0
    assert labcli.lab_objects(LAB) == []
