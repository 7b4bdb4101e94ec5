"""One resolution for every command: a lab name, the original file, a student's file or nothing
all lead to the same lab, and to its own copy once add-master, remove-master or replace changed
it (pure; state files in a temporary directory, no VMs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labfiles import lab_file

from halab.config import replicas, students
from halab.config.topology import load
from halab.errors import HalabError
from halab.session import labdir

pytestmark = pytest.mark.unit
ORIGINAL = str(lab_file("etcd-only"))


@pytest.fixture
def labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    return tmp_path


def brought_up(name: str, topology: str) -> Path:
    """What `halab up` leaves: the lab's state naming the file it read."""
    d = labdir.lab_path(name)
    labdir.write_state(d, labdir.State(topology=str(Path(topology).resolve())))
    return d


def add_master(name: str, source: str) -> str:
    """What `halab add-master` leaves: the lab's own copy with master4, and the state naming it."""
    d = labdir.lab_path(name)
    topo = load(source).topology
    changed = replicas.with_master(topo, replicas.new_master(topo))
    change = "add-master master4 (192.168.43.24, zone a)"
    copy = labdir.write_topology(d, replicas.lab_copy_text(changed, source, [change]))
    state = labdir.read_state(d)
    assert state is not None
    state.topology, state.origin = str(copy), source
    state.changes.append(change)
    state.joined.append("master4")
    labdir.write_state(d, state)
    return str(copy)


def masters(found: labdir.Resolved) -> list[str]:
    return [h.name for h in load(found.topology).topology.by_role("master")]


def test_before_a_change_name_file_and_nothing_read_the_file_given(labs: Path) -> None:
    brought_up("etcd-only", ORIGINAL)
    for arg in ("etcd-only", ORIGINAL, None):
        found = labdir.resolve(arg)
        assert Path(found.topology).resolve() == Path(ORIGINAL).resolve(), arg
        assert found.note is None and found.lab == "etcd-only"
        assert masters(found) == ["master1", "master2", "master3"]


def test_after_add_master_every_way_of_naming_the_lab_reads_its_copy(labs: Path) -> None:
    brought_up("etcd-only", ORIGINAL)
    copy = add_master("etcd-only", ORIGINAL)
    for arg in ("etcd-only", ORIGINAL, "labs/etcd-only.yaml", None, copy):
        found = labdir.resolve(arg)
        assert found.topology == copy, arg
        assert masters(found) == ["master1", "master2", "master3", "master4"], arg
    # only naming the original file gets the one line that says which file is read instead
    noted = labdir.resolve(ORIGINAL)
    assert noted.note and copy in noted.note and ORIGINAL in noted.note
    assert "add-master master4" in noted.note
    assert labdir.resolve("etcd-only").note is None and labdir.resolve(copy).note is None


def test_a_students_file_and_name_resolve_to_the_students_lab(labs: Path) -> None:
    derived = students.derive_lab(load(ORIGINAL), 3)
    student_copy = str(labdir.write_topology(labdir.lab_path("etcd-only-s03"), derived.text))
    brought_up("etcd-only-s03", student_copy)
    brought_up("etcd-only", ORIGINAL)
    # before a change: the instructor's file with --student 3 is derived again by its caller
    assert labdir.resolve(ORIGINAL, student=3) == labdir.Resolved(ORIGINAL, "etcd-only-s03")
    assert labdir.resolve(student_copy).topology == student_copy
    assert labdir.resolve("etcd-only-s03").topology == str(Path(student_copy).resolve())
    # after add-master on the student's lab, the student's copy is its truth however it is named
    copy = add_master("etcd-only-s03", student_copy)
    for arg, student in ((ORIGINAL, 3), (student_copy, None), ("etcd-only-s03", None)):
        found = labdir.resolve(arg, student)
        assert found.topology == copy, (arg, student)
        assert len(masters(found)) == 4
    # the instructor's own lab is not the student's
    assert labdir.resolve(ORIGINAL).topology == ORIGINAL
    assert labdir.resolve("etcd-only").note is None


def test_no_argument_with_several_labs_or_none_says_what_to_do(labs: Path) -> None:
    with pytest.raises(HalabError, match="no lab has been brought up yet"):
        labdir.resolve(None)
    brought_up("etcd-only", ORIGINAL)
    with pytest.raises(HalabError, match=r"labs here: etcd-only \("):
        labdir.resolve("nope")
    brought_up("seed", str(lab_file("seed")))
    with pytest.raises(HalabError, match="several labs exist"):
        labdir.resolve(None)
    with pytest.raises(HalabError, match="--student N goes with a topology file"):
        labdir.resolve("seed", student=2)


def test_a_file_never_brought_up_is_read_as_given(labs: Path) -> None:
    found = labdir.resolve("labs/seed.yaml")
    assert found == labdir.Resolved("labs/seed.yaml", "seed")
