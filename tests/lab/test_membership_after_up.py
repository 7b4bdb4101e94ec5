"""Issue 36: a membership change right after `halab up`, with no pause, as a new user types it.

etcd refuses a member add until every member has been connected for a few seconds, and a lab
that `up` just made is younger than that. Each test brings labs/etcd-only.yaml up fresh, changes
its membership at once, and verifies the lab.
"""

from __future__ import annotations

import re

import labcli
import pytest
from labcli import halab
from labfiles import lab_file

pytestmark = pytest.mark.lab

TOPOLOGY = str(lab_file("etcd-only"))
LAB = "etcd-only"


@pytest.fixture
def fresh_lab():
    """A fresh `up`, torn down afterwards even when that `up` failed half-way."""
    if labcli.lab_objects(LAB):
        halab("down", LAB, "--yes")
    try:
        up = halab("up", TOPOLOGY)
        assert up.returncode == 0, up.stdout + up.stderr
        yield
    finally:
        halab("down", LAB, "--yes")


def test_add_master_right_after_up_joins_and_verifies(fresh_lab) -> None:
    added = halab("add-master", "--lab", TOPOLOGY)
    assert added.returncode == 0, added.stdout + added.stderr
    assert "etcd member add master4" in added.stdout
    assert "etcd: 4 members healthy" in added.stdout
    verify = halab("verify", LAB)
    assert verify.returncode == 0, verify.stdout
    assert re.search(r"✓ etcd\s+master1\s+member list matches the topology", verify.stdout)


def test_replace_right_after_up_rebuilds_and_verifies(fresh_lab) -> None:
    replaced = halab("replace", "--lab", TOPOLOGY, "master2")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "etcd member add master2" in replaced.stdout
    assert "etcd: 3 members healthy" in replaced.stdout
    verify = halab("verify", LAB)
    assert verify.returncode == 0, verify.stdout
