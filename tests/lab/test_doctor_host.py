"""`halab doctor` against this host itself: real dpkg, libvirt, KVM probe and caches, no VM."""

from __future__ import annotations

import os
import re

import labcli
import pytest
from labcli import halab

pytestmark = pytest.mark.lab


def test_doctor_says_the_etcd_lab_can_come_up_here() -> None:
    """CI has installed the packages and built the box before this, so nothing may block."""
    if labcli.PROVIDER == "vm":
        pytest.skip("doctor follows the topology's provider (auto); this host's choice is shown")
    proc = halab("doctor", "labs/etcd-only.yaml", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    engine, speed = ("engine", "speed") if labcli.PROVIDER == "container" else ("libvirt", "KVM")
    for area in ("provider", "packages", engine, "resources", "box", speed, "kube"):
        assert re.search(rf"^[✓!] {area}\s", proc.stdout, re.M), area
    # no kube tier, so no core warning: the count is this host's own
    assert re.search(rf"^✓ cpu\s+{os.cpu_count()} cores$", proc.stdout, re.M), proc.stdout
    assert "lab 'etcd-only' can come up here" in proc.stdout


def test_doctor_refuses_a_student_number_out_of_range() -> None:
    proc = halab("doctor", "labs/etcd-only.yaml", "--student", "99", timeout=120)
    assert proc.returncode == 1 and "--student 99 is out of range" in proc.stderr
