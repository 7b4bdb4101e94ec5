"""Names that cannot collide, on real hosts (issue 29, item 1).

Lab `names-aa` with host `bb-m1` and lab `names-aa-bb` with host `m1` were one machine,
`halab-names-aa-bb-m1`: the second `up` took over the first lab's host and `down` of either took
the other's. Now they are `halab-names-aa--bb-m1` and `halab-names-aa-bb--m1` and run side by
side; the same lab brought up from a second state directory is refused before anything is
created; and `down` removes exactly what each lab recorded.

Small labs of their own (etcd only, one master, one LB), a few minutes here.
"""

from __future__ import annotations

import pytest
from labcli import PROVIDER, halab, lab_objects, machine, machine_state

from halab.home import labs_dir

pytestmark = pytest.mark.lab

AA, AA_BB = "names-aa", "names-aa-bb"
TOPOLOGY = """\
name: {lab}
description: halab's name collision test
provider: {provider}
network: {{subnet: 10.199.{n}.0/24, management: 10.199.{m}.0/24}}
defaults: {{memory: 512}}
lb: {{kind: nginx}}
kubernetes: {{enabled: false}}
hosts:
  - {{name: {master}, role: master, ip: 10.199.{n}.21}}
  - {{name: lb1, role: lb, ip: 10.199.{n}.11}}
"""
LABS = {AA: dict(n=51, m=151, master="bb-m1"), AA_BB: dict(n=52, m=152, master="m1")}


def write(directory, lab: str):
    """The lab's topology; it names the provider, so that `down` without a state file (the
    second directory's) looks where `up` did."""
    path = directory / f"{lab}.yaml"
    path.write_text(TOPOLOGY.format(lab=lab, provider=PROVIDER, **LABS[lab]))
    return path


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory):
    where = tmp_path_factory.mktemp("names")
    paths = {lab: write(where, lab) for lab in LABS}
    try:
        yield paths, {lab: halab("up", str(path)) for lab, path in paths.items()}
    finally:
        for lab in LABS:
            if lab_objects(lab) or (labs_dir() / lab).exists():
                halab("down", lab, "--yes")


def verified(lab: str) -> None:
    proc = halab("verify", lab)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr


def test_two_labs_whose_old_names_collided_run_side_by_side(labs) -> None:
    _, ups = labs
    for up in ups.values():
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr
    first, second = machine(AA, "bb-m1"), machine(AA_BB, "m1")
    assert first == "halab-names-aa--bb-m1" and second == "halab-names-aa-bb--m1"
    assert machine_state(first) == machine_state(second) == "running"
    assert set(lab_objects(AA)).isdisjoint(lab_objects(AA_BB))
    every = halab("status", "--all")
    assert every.returncode == 0, every.stderr
    for lab, running in ((AA, "2/2"), (AA_BB, "2/2")):
        row = next(line for line in every.stdout.splitlines() if f" {lab} " in line)
        assert running in row and "all running" in row, row
    verified(AA)
    verified(AA_BB)


@pytest.mark.parametrize("moved", ["HALAB_LABS_DIR", "HALAB_LABS_DIR and HALAB_HOME"])
def test_the_same_lab_from_a_second_directory_is_refused_before_anything_is_created(
        labs, tmp_path, moved: str) -> None:
    """A second checkout's `.halab/` knows nothing of the first's lab; the machines and networks
    it would use are the host's, so `up` there is refused, and `down` there takes nothing."""
    env = {"HALAB_LABS_DIR": str(tmp_path / "labs")}
    if "HALAB_HOME" in moved:
        env["HALAB_HOME"] = str(tmp_path / "home")
    copy = write(tmp_path, AA)
    before = lab_objects(AA)  # only ours: other people's labs come and go meanwhile
    up = halab("up", str(copy), env=env, timeout=600)
    assert up.returncode != 0
    said = up.stdout + up.stderr
    assert f"{machine(AA, 'bb-m1')!r}, " in said and f"{machine(AA, 'lb1')!r}, " in said
    assert f"already exist on this host but lab {AA!r} did not create them" in said, said
    assert "run `halab down names-aa` there" in said
    assert lab_objects(AA) == before and not (tmp_path / "home" / "incus").exists()
    assert not (tmp_path / "labs" / AA / "state.json").exists()
    down = halab("down", str(copy), "--yes", env=env, timeout=600)
    assert down.returncode == 0 and "has nothing to tear down" in down.stdout, down.stdout
    assert f"left alone, not recorded by lab {AA!r}" in down.stdout + down.stderr
    assert lab_objects(AA) == before
    verified(AA)


def test_down_of_each_lab_removes_only_its_own_objects(labs) -> None:
    """`down names-aa` first: its old prefix halab-names-aa- also started every name of
    names-aa-bb, as etcd-only's started etcd-only-s01's."""
    theirs = lab_objects(AA_BB)
    proc = halab("down", AA, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lab_objects(AA) == [] and lab_objects(AA_BB) == theirs
    assert not (labs_dir() / AA).exists()
    verified(AA_BB)
    proc = halab("down", AA_BB, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lab_objects(AA_BB) == [] and not (labs_dir() / AA_BB).exists()
