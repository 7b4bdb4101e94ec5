"""Issue 34: the kube tier's break-fix exercises on a real kube lab (lb1, three masters, two
minions, as labs/seed.yaml): `start`, `check` fails its grader, `solve`, `check` passes,
`reset`, `halab verify` passes. Marked `ha` (`make ha-test`): a kube lab and a verify per
exercise are too long for `make test`; the etcd and LB exercises run there
(test_exercises_lab.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from labcli import halab
from test_exercises_lab import items, lab_up, on, reset_after  # noqa: F401 (autouse)

pytestmark = [pytest.mark.exercises, pytest.mark.ha, pytest.mark.kube, pytest.mark.lab]

LAB = "exk"
TOPOLOGY = f"""name: {LAB}
description: the kube exercises' lab test
network: {{subnet: 10.198.14.0/24}}
defaults: {{memory: 1024}}
lb: {{kind: nginx}}
kubernetes: {{enabled: true, service_cidr: 10.32.14.0/24, pod_cidr: 10.179.0.0/16}}
hosts:
  - {{name: lb1, role: lb, ip: 10.198.14.11, memory: 512}}
  - {{name: master1, role: master, ip: 10.198.14.21}}
  - {{name: master2, role: master, ip: 10.198.14.22}}
  - {{name: master3, role: master, ip: 10.198.14.23}}
  - {{name: minion1, role: minion, ip: 10.198.14.31}}
  - {{name: minion2, role: minion, ip: 10.198.14.32}}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from lab_up(tmp_path_factory, LAB, TOPOLOGY)


def exercise(*args: str) -> tuple[int, str]:
    return on(LAB, *args)


@pytest.mark.parametrize("name, grader", [
    ("kubelet-cannot-reach-the-api", "the kubelet talks to the lab's API"),
    ("flannel-misconfigured", "flannel runs over the lab network"),
    ("scheduler-lease-stuck", "a running master schedules pods"),
    ("apiserver-wrong-certificate", "every apiserver presents the lab's certificate"),
])
def test_start_check_solve_check_reset_verify(lab: str, name: str, grader: str) -> None:
    rc, out = exercise("start", name)
    assert rc == 0, out
    rc, out = exercise("check")
    assert rc == 1 and items(out)[grader] is False, out
    rc, out = exercise("solve")
    assert rc == 0, out
    rc, out = exercise("check")
    assert rc == 0 and all(items(out).values()), out
    rc, out = exercise("reset")
    assert rc == 0, out
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout[-3000:]
