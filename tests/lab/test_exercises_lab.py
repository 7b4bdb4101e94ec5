"""Issue 34: the four etcd and LB break-fix exercises, each on a real lab (lb1 with nginx in front
of three etcd members, no kube tier): `start` breaks it, `check` fails with the expected items,
`solve`, `check` passes, `reset`, and `halab verify` passes. Two shortcuts a student might take
are graded as failures: recreating the cluster instead of restoring it, and removing the broken
member instead of replacing it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from labcli import halab, host, lab_objects

from halab.home import labs_dir

pytestmark = [pytest.mark.exercises, pytest.mark.lab]

LAB = "exr"
TOPOLOGY = f"""name: {LAB}
description: the exercises' lab test
network: {{subnet: 10.198.12.0/24}}
defaults: {{memory: 512}}
lb: {{kind: nginx}}
kubernetes: {{enabled: false}}
hosts:
  - {{name: lb1, role: lb, ip: 10.198.12.11}}
  - {{name: master1, role: master, ip: 10.198.12.21}}
  - {{name: master2, role: master, ip: 10.198.12.22}}
  - {{name: master3, role: master, ip: 10.198.12.23}}
"""


def lab_up(tmp_path_factory: pytest.TempPathFactory, name: str, topology: str
           ) -> Iterator[str]:
    """The body of a module's lab fixture: `halab up` of `topology`, then `halab down`."""
    path = tmp_path_factory.mktemp("exercises") / f"{name}.yaml"
    path.write_text(topology)
    assert lab_objects(name) == [], f"lab {name} is already there: `halab down {name} --yes`"
    try:
        proc = halab("up", str(path))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield name
    finally:
        if lab_objects(name):
            halab("down", name, "--yes")


def on(lab: str, *args: str) -> tuple[int, str]:
    """`halab exercise ARGS --lab LAB`: its exit status and output."""
    proc = halab("exercise", *args, "--lab", lab, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from lab_up(tmp_path_factory, LAB, TOPOLOGY)


def exercise(*args: str) -> tuple[int, str]:
    return on(LAB, *args)


@pytest.fixture(autouse=True)
def reset_after(lab: str) -> Iterator[None]:
    """A test that failed half-way leaves its exercise in progress: reset it, so the next test
    starts from a whole lab rather than failing on that."""
    yield
    if (labs_dir() / lab / "exercise.json").exists():
        on(lab, "reset")


def items(out: str) -> dict[str, bool]:
    """`check`'s item lines: item → passed (verify's own lines, "✓ lb    lb1 …", are not)."""
    return {m.group(2): m.group(1) == "✓"
            for m in re.finditer(r"^([✓✗]) ((?:(?!  ).)+?) — ", out, re.M)}


def record() -> dict:
    return json.loads((labs_dir() / LAB / "exercise.json").read_text())


def verify_passes() -> None:
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.parametrize("name, broken", [
    ("lb-drops-a-master", {"the LB config names every master": False,
                           "the LB reaches every master": False}),
    ("etcd-member-lost-its-data", {"etcd has every member healthy": False,
                                   "the member was replaced and holds the data": False}),
    ("quorum-lost", {"etcd has every member healthy": False,
                     "the keys written before the loss are back": False}),
    # right after the cut etcd may still look healthy: the cut-off member has not timed out yet
    ("partition-minority", {"no host drops another": False}),
])
def test_start_check_solve_check_reset_verify(lab: str, name: str, broken: dict) -> None:
    rc, out = exercise("start", name, "--time", "20m")
    assert rc == 0, out
    rc, out = exercise("check")
    graded = items(out)
    assert rc == 1 and {k: graded.get(k) for k in broken} == broken, out
    assert {c["name"]: c["passed"] for c in record()["checks"]} == graded
    rc, out = exercise("solve")
    assert rc == 0, out
    rc, out = exercise("check")
    assert rc == 0 and set(broken) <= set(items(out)) and all(items(out).values()), out
    assert re.search(r"2/2 passed; time done in \d+:\d\d", out), out
    rc, out = exercise("reset")
    assert rc == 0 and "already fixed" in out, out
    assert not (labs_dir() / LAB / "exercise.json").exists()
    verify_passes()


def test_a_second_start_is_refused_while_one_is_in_progress(lab: str) -> None:
    rc, out = exercise("start", "lb-drops-a-master")
    assert rc == 0, out
    rc, out = exercise("start", "quorum-lost")
    assert rc != 0 and "'lb-drops-a-master' is already in progress" in out, out
    rc, out = exercise("reset")  # not fixed: the reset runs `halab up`, which puts nginx back
    assert rc == 0 and "already fixed" not in out, out
    verify_passes()


def test_recreating_the_cluster_instead_of_restoring_it_fails_the_check(lab: str) -> None:
    """The shortcut: wipe every member and bootstrap an empty cluster. etcd is healthy, but the
    keys are not the snapshot's."""
    rc, out = exercise("start", "quorum-lost")
    assert rc == 0, out
    masters = [host(LAB, m) for m in ("master1", "master2", "master3")]
    for m in masters:
        m.run("systemctl stop etcd; rm -rf /var/lib/etcd/halab")
    for m in masters:
        m.run("systemctl start --no-block etcd")
    rc, out = exercise("check")
    assert rc == 1 and items(out)["the keys written before the loss are back"] is False, out
    rc, out = exercise("reset")  # restores the snapshot
    assert rc == 0, out
    verify_passes()


def test_removing_the_broken_member_instead_of_replacing_it_fails_the_check(lab: str) -> None:
    """The shortcut: take master3 out of the member list, so the two left are healthy."""
    rc, out = exercise("start", "etcd-member-lost-its-data")
    assert rc == 0, out
    m1 = host(LAB, "master1")
    listed = m1.run(". /etc/profile.d/halab-etcdctl.sh; etcdctl member list")
    mid = next(line.split(",")[0] for line in listed.stdout.splitlines() if "master3" in line)
    removed = m1.run(f". /etc/profile.d/halab-etcdctl.sh; etcdctl member remove {mid}")
    assert removed.rc == 0, removed.stderr
    rc, out = exercise("check")
    assert rc == 1 and items(out) == {"etcd has every member healthy": False,
                                      "the member was replaced and holds the data": False}, out
    rc, out = exercise("reset")  # `halab replace master3`
    assert rc == 0, out
    verify_passes()
