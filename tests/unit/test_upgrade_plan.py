"""The rolling upgrade's pure parts: the version-skew refusals, the order of hosts (the etcd
leader's master last, minions after masters) and resuming after an interruption at each step."""

from __future__ import annotations

import pytest
from labfiles import lab_plan

from halab.config import upgrade

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("current", "target"), [("1.35.4", "1.36.3"), ("1.36.1", "1.36.3"),
                                                 ("v1.35.4", "v1.35.4")])
def test_the_skew_policy_allows_one_minor_or_a_patch(current: str, target: str) -> None:
    assert upgrade.refusals(current, target) == []


@pytest.mark.parametrize(("current", "target", "why"), [
    ("1.34.4", "1.36.3", "skips a minor version"),
    ("1.36.3", "1.35.4", "does not downgrade"),
    ("1.36.3", "1.36.1", "does not downgrade"),
    ("1.35.4", "1.36", "not a Kubernetes version"),
    ("1.35.4", "2.0.0", "skips a minor version"),
])
def test_the_skew_policy_refuses_with_the_reason(current: str, target: str, why: str) -> None:
    (problem,) = upgrade.refusals(current, target)
    assert why in problem


def test_a_kubelet_newer_than_the_target_is_refused() -> None:
    (problem,) = upgrade.refusals("1.35.4", "1.36.1", {"minion1": "v1.36.1",
                                                       "minion2": "v1.36.3"})
    assert problem.startswith("minion2's kubelet is v1.36.3")


def test_masters_first_with_the_leaders_last_then_minions() -> None:
    p = lab_plan("seed", accel="native", provider="container")
    steps = upgrade.order(p, leader="master1")
    assert [s.host for s in steps] == ["master2", "master3", "master1", "minion1", "minion2"]
    assert [s.hand_over for s in steps] == [False, False, True, False, False]
    assert steps[0].binaries == upgrade.MASTER_BINARIES
    assert steps[-1].binaries == upgrade.MINION_BINARIES
    assert [s.host for s in upgrade.order(p, leader=None)][:3] == ["master1", "master2",
                                                                    "master3"]


@pytest.mark.parametrize("cut", range(6))
def test_an_interrupted_upgrade_resumes_at_the_host_it_was_on(cut: int) -> None:
    """Interrupted during step `cut` (0: before any): the finished hosts are skipped, the one
    cut off half-way is done again from the top, and nothing else is."""
    p = lab_plan("seed", accel="native", provider="container")
    steps = upgrade.order(p, leader="master2")
    done = [s.host for s in steps[:cut]]
    assert upgrade.remaining(steps, done) == steps[cut:]
