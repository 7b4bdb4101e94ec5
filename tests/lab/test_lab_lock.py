"""Two `halab up` of one lab started at once: one waits for the other (saying so), and the lab
ends verified, with a third `up` changing nothing. While another command holds the lab,
`--no-wait` fails at once and read-only commands still run. Lab `locked`: lb1 + master1, etcd
only, on 10.198.9.0/24.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import labcli
import pytest
from labcli import halab, halab_together, small_topology

from halab.home import labs_dir
from halab.session import lock

pytestmark = pytest.mark.lab

LAB = "locked"
TOPOLOGY = small_topology("locked", "10.198.9",
                          "lb1 in front of one etcd member (halab's lab-lock test)")
WAITED = re.compile(r"lab 'locked' is busy: `halab up \S+locked\.yaml[^`]*` \(pid \d+, for "
                    r"[^)]+\) holds it; waiting for it to end")


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("locked") / "locked.yaml"
    path.write_text(TOPOLOGY)
    return path


@pytest.fixture(scope="module")
def two_ups(topology: Path):
    """`halab up` twice at the same moment, as two users (or two terminals) would."""
    ups = halab_together({"first": ["up", str(topology)], "second": ["up", str(topology)]})
    yield ups
    if labcli.lab_objects(LAB) or (labs_dir() / LAB).exists():  # the teardown test did not run
        halab("down", LAB, "--yes")


def test_one_up_waits_for_the_other_and_both_succeed(two_ups: dict) -> None:
    for code, out in two_ups.values():
        assert code == 0, out[-3000:]
    waited = [key for key, (_, out) in two_ups.items() if WAITED.search(out)]
    assert len(waited) == 1, "exactly one `up` must say it waits for the other"
    # The one that waited found the lab the other left, healthy: it had nothing to change.
    out = two_ups[waited[0]][1]
    assert re.search(r"lab 'locked' is up\S* — 0 changes", out), out[-2000:]


def test_the_lab_ends_verified_with_nothing_left_to_change(two_ups: dict,
                                                           topology: Path) -> None:
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"\d+ passed, 0 failed", proc.stdout)
    assert "NOTSET" not in proc.stdout  # no check of per-node proxies the lab does not have
    labcli.assert_up_changes_nothing(topology)


def test_no_wait_fails_at_once_while_another_command_holds_the_lab(two_ups: dict,
                                                                   topology: Path) -> None:
    with lock.held(labs_dir() / LAB, "halab halt --all (held by the lab test)"):
        for args in (["up", str(topology)], ["halt", "--all", "--lab", LAB]):
            started = time.monotonic()
            proc = halab(*args, "--no-wait")
            assert proc.returncode == 1, proc.stdout
            assert time.monotonic() - started < 20  # python's start-up; no waiting
            assert ("lab 'locked' is busy: `halab halt --all (held by the lab test)` (pid "
                    in proc.stderr), proc.stderr
            assert "==> preflight" not in proc.stdout  # refused before touching anything
        status = halab("status", LAB)  # read-only: no lock, no wait
        assert status.returncode == 0, status.stderr
    assert "running" in labcli.status_row(status.stdout, "master1")


def test_down_leaves_nothing(two_ups: dict) -> None:
    labcli.assert_down_leaves_nothing(LAB)
