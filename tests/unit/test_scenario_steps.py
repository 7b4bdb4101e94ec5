"""Scenarios driven through a fake `LabActions` (issue 30), with no host: each acts in the
order it must (the failover halts the leader, then starts it; a cold restart runs `halab up`
only once every host is off; the partition cuts the leader off, then heals; the quorum loss
backs up before it powers off, and restores after the start), and its verdicts hold on a lab
that behaves, and fail on one that does not."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakelab import BACKUP, FakeLab, Script
from labfiles import lab_plan

from halab.config import plan
from halab.lab.actions import OnLab
from halab.lab.scenarios import SCENARIOS
from halab.probes import etcdclient
from halab.verify import demo
from halab.verify.scenarios import coldrestart, failover, lb, partition, quorumloss, slowzone
from halab.verify.scenarios.actions import LabActions

pytestmark = pytest.mark.unit


@pytest.fixture
def lab() -> plan.Plan:
    return lab_plan("etcd-only")


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter settling and baselines: the fake etcd answers at once."""
    monkeypatch.setattr(demo, "SETTLE", 0.3)
    monkeypatch.setattr(partition, "BASELINE", 0.3)


def failed(out: str) -> list[str]:
    """The titles of the verdicts printed as failed."""
    return [line.split("✗ ", 1)[1].split(" — ")[0] for line in out.splitlines() if "✗ " in line]


def test_every_scenario_runs_as_run_actions_plan_hard_and_judges_its_record_alone() -> None:
    for s in SCENARIOS.values():
        assert list(inspect.signature(s.run).parameters) == ["actions", "plan", "hard",
                                                             *s.takes], s.name
        assert len(inspect.signature(s.judge).parameters) == 1, s.name


def test_the_lab_and_the_fake_implement_every_action_of_the_protocol() -> None:
    wanted = {n for n in vars(LabActions) if not n.startswith("_")}
    assert wanted >= {"halt", "start", "up", "partition", "heal", "shape", "backup", "restore",
                      "checks", "etcd"}
    for cls in (OnLab, FakeLab):
        missing = {n for n in wanted if not callable(getattr(cls, n, None))}
        assert not missing, f"{cls.__name__} lacks {missing}"


def test_the_labs_actions_and_the_fake_read_etcd_through_the_one_client(
        lab: plan.Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    """`etcdclient.for_lab` is the one place the client is made, for the lab and the fake."""
    def for_lab(of: object) -> SimpleNamespace:
        return SimpleNamespace(of=of)
    monkeypatch.setattr(etcdclient, "for_lab", for_lab)
    stand_in = SimpleNamespace(plan=lab, dir=Path("/nonexistent"))
    assert OnLab(stand_in).etcd().of is stand_in  # type: ignore[arg-type, attr-defined]
    fake = FakeLab(lab)
    assert fake.etcd().of is fake  # type: ignore[attr-defined]


# ── failover ────────────────────────────────────────────────────────────────────────────────


def test_failover_halts_the_leader_then_starts_it_and_every_verdict_holds(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab)
    ok, figures = failover.run(fake, lab, hard=True)
    assert fake.calls == [("kube",), ("halt", ("master1",), True), ("start", ("master1",))]
    assert failed(capsys.readouterr().out) == []
    assert ok
    assert figures["new_leader_s"] <= 2 * lab.etcd.election_timeout_ms / 1000
    assert not math.isnan(figures["rejoin_s"])


def test_a_failover_that_loses_acknowledged_writes_fails_that_verdict(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab, Script(forget_on_halt=True))
    ok, _ = failover.run(fake, lab, hard=False)
    assert not ok
    assert failed(capsys.readouterr().out) == ["no acknowledged write lost"]
    assert fake.actions() == ["kube", "halt", "start"]  # started again all the same


# ── cold restart ────────────────────────────────────────────────────────────────────────────


def test_cold_restart_halts_every_host_then_runs_up_then_judges(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab)
    ok, figures = coldrestart.run(fake, lab, hard=True)
    assert fake.actions() == ["machines", "halt_all", "machines", "up", "lb_reach", "checks"]
    assert ("halt_all", True) in fake.calls
    assert failed(capsys.readouterr().out) == []
    assert ok
    assert figures["keys_lost"] == 0


def test_a_host_left_running_fails_its_verdict_and_the_lab_is_still_brought_back(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab, Script(stays_on=("master2",)))
    ok, _ = coldrestart.run(fake, lab, hard=False)
    assert fake.actions() == ["machines", "halt_all", "machines", "up", "lb_reach", "checks"]
    assert not ok
    assert failed(capsys.readouterr().out) == ["every host was off (guest shutdown)"]


def test_failed_checks_after_a_cold_restart_fail_its_last_verdict(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab, Script(checks={"passed": 11, "failed": 2, "skipped": 0}))
    ok, _ = coldrestart.run(fake, lab, hard=True)
    assert not ok
    assert failed(capsys.readouterr().out) == ["`halab verify` passes afterwards"]


# ── partition ───────────────────────────────────────────────────────────────────────────────


def test_partition_heals_cuts_the_leader_off_then_heals_and_every_verdict_holds(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab)
    ok, figures = partition.run(fake, lab, hard=False)
    assert fake.calls == [("heal",), ("partition", "master1", ("master2", "master3")),
                          ("heal",)]
    assert failed(capsys.readouterr().out) == []
    assert ok
    assert not math.isnan(figures["catch_up_s"])


def test_an_isolated_member_that_never_catches_up_fails_that_verdict(
        lab: plan.Plan, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition, "CATCH_UP_TIMEOUT", 1.0)
    fake = FakeLab(lab, Script(catches_up=False))
    ok, figures = partition.run(fake, lab, hard=False)
    assert not ok
    assert failed(capsys.readouterr().out) == ["after heal, master1 catches up to the leader's "
                                               "raft index"]
    assert math.isnan(figures["catch_up_s"])


# ── the other three: quorum loss, the LB pair, a slow zone ─────────────────────────────────


def test_quorum_loss_backs_up_powers_off_a_majority_starts_it_then_restores(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab)
    ok, figures = quorumloss.run(fake, lab, hard=False)
    assert fake.calls == [("backup",), ("halt", ("master2", "master3"), True),
                          ("start", ("master2", "master3")), ("restore", BACKUP), ("checks",)]
    assert failed(capsys.readouterr().out) == []
    assert ok
    assert figures["restore_s"] == 2.0


def test_a_failed_restore_fails_the_quorum_loss_and_skips_the_checks(
        lab: plan.Plan, capsys: pytest.CaptureFixture) -> None:
    fake = FakeLab(lab, Script(restores=False))
    ok, _ = quorumloss.run(fake, lab, hard=False)
    assert "checks" not in fake.actions()
    assert not ok
    assert failed(capsys.readouterr().out)[0] == "`halab restore` brought etcd back"


def test_lb_halts_the_vip_holder_then_starts_it(capsys: pytest.CaptureFixture) -> None:
    pair = lab_plan("lb-pair")
    fake = FakeLab(pair)
    ok, figures = lb.run(fake, pair, hard=True)
    acts = [c for c in fake.calls if c[0] != "vip_holders"]
    assert acts == [("halt", ("lb1",), True), ("start", ("lb1",))]
    assert failed(capsys.readouterr().out) == []
    assert ok
    assert figures["lost"] == 0


def test_slow_zone_shapes_zone_b_then_clears_it(lab: plan.Plan, capsys: pytest.CaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slowzone, "SECONDS", 0.5)
    fake = FakeLab(lab)
    ok, _ = slowzone.run(fake, lab, hard=False)
    assert fake.calls == [("shape", "b", slowzone.DELAY_MS), ("shape", None, 0)]
    assert failed(capsys.readouterr().out) == []
    assert ok
