"""Two student labs of one topology file on one host (a workshop): `halab up --student N`.

Both are brought up at the same time from the same small file (lb + 1 master); each must get
its own name and networks, `status --all` and `report` must list both, and tearing one down
must leave the other running.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from labcli import halab, halab_together, lab_objects, small_topology

pytestmark = pytest.mark.lab

TOPOLOGY = small_topology("class", "192.168.46",
                          "one nginx in front of one etcd member (halab's student-lab test)",
                          "192.168.134.0/24")
STUDENTS = (1, 2)


def lab(n: int) -> str:
    return f"class-s{n:02d}"


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("class") / "class.yaml"
    path.write_text(TOPOLOGY)
    ups = halab_together({n: ["up", str(path), "--student", str(n)] for n in STUDENTS})
    try:
        yield ups
    finally:
        for n in STUDENTS:
            if lab_objects(lab(n)):
                halab("down", lab(n), "--yes")


def test_each_student_lab_comes_up_on_its_own_network(students) -> None:
    for n in STUDENTS:
        code, out = students[n]
        assert code == 0, out[-3000:]
        assert f"lab '{lab(n)}' is up" in out
        status = halab("status", lab(n))
        assert status.returncode == 0 and f"10.150.{n}.21" in status.stdout, status.stdout
        assert f"halab-{lab(n)}" in lab_objects(lab(n))  # its own libvirt network


def test_status_all_lists_both_labs(students) -> None:
    proc = halab("status", "--all")
    assert proc.returncode == 0, proc.stderr
    for n in STUDENTS:
        assert re.search(rf"{lab(n)}\b.*2/2", proc.stdout), proc.stdout


def test_verify_each_and_one_report_over_both(students, tmp_path: Path) -> None:
    for n in STUDENTS:
        assert halab("verify", lab(n)).returncode == 0
    out = tmp_path / "report.md"
    proc = halab("report", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    for n in STUDENTS:
        assert re.search(rf"^\| {lab(n)} \| \d+ \| 0 \| \d+ \| .* \| ✓ all passed \|$", text,
                         re.M), text


def test_down_of_one_student_lab_leaves_the_other(students) -> None:
    first, second = (lab(n) for n in STUDENTS)
    kept = lab_objects(second)
    assert halab("down", first, "--yes").returncode == 0
    assert lab_objects(first) == []
    assert lab_objects(second) == kept
    status = halab("status", second)
    assert status.returncode == 0 and "leader" in status.stdout
    assert halab("down", second, "--yes").returncode == 0
    assert lab_objects(second) == []
