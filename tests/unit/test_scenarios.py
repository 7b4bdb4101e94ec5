"""The scenario registry (issue 30): the CLI's choices and help come from it, an unknown name is
a usage error before any lab is opened, and a lab lacking what a scenario needs is refused
before anything runs, with a ready lab that has it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from labfiles import lab_plan

from halab.config import plan
from halab.config.topology import loads
from halab.errors import HalabError
from halab.lab import scenarios
from halab.verify.scenarios import needs

pytestmark = pytest.mark.unit



def one_master() -> plan.Plan:
    return plan.build(loads(
        "name: tiny\nnetwork: {subnet: 192.168.61.0/24}\nkubernetes: {enabled: false}\n"
        "hosts:\n"
        "  - {name: lb1, role: lb, ip: 192.168.61.11}\n"
        "  - {name: master1, role: master, ip: 192.168.61.21}\n", "tiny.yaml").topology)


def test_the_cli_offers_exactly_the_registry_with_its_help(capsys: pytest.CaptureFixture
                                                           ) -> None:
    from halab.cli import app as cli

    with pytest.raises(SystemExit):
        cli.main(["verify", "--help"])
    out = capsys.readouterr().out
    assert f"--scenario {{{','.join(scenarios.SCENARIOS)}}}" in out
    for s in scenarios.SCENARIOS.values():
        assert f"--scenario {s.name} " in out
        for n in s.needs:
            assert n.what in out
    assert list(scenarios.SCENARIOS) == ["failover", "cold-restart", "lb", "partition",
                                         "slow-zone", "quorum-loss", "cert-renew", "upgrade"]


def test_an_unknown_scenario_is_a_usage_error_naming_the_known_ones(
        capsys: pytest.CaptureFixture) -> None:
    from halab.cli import app as cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["verify", "etcd-only", "--scenario", "failovr"])
    assert exc.value.code == 2
    assert "'failovr'" in capsys.readouterr().err
    # called directly, the same: before the lab is even looked up (no such lab here)
    with pytest.raises(scenarios.UnknownScenario) as err:
        scenarios.verify("no-such-lab", None, "failovr", False)
    assert err.value.exit_code == 2
    assert ("failover, cold-restart, lb, partition, slow-zone, quorum-loss, cert-renew, upgrade"
            in err.value.message)


@pytest.mark.parametrize("need", [needs.THREE_MASTERS, needs.ZONES, needs.VIP_PAIR,
                                  needs.KUBE_MINIONS],
                         ids=lambda n: n.what[:12])
def test_each_need_names_a_ready_lab_that_has_it(need: needs.Need) -> None:
    assert need.ready.startswith("labs/")
    assert need.met(lab_plan(Path(need.ready).stem))
    assert not need.met(one_master())


def test_the_three_master_labs_pass_the_checks_of_the_etcd_scenarios() -> None:
    for name in ("etcd-only", "lb-pair", "seed", "zones"):
        for s in ("failover", "cold-restart", "partition", "quorum-loss"):
            scenarios.SCENARIOS[s].check(lab_plan(name))


@pytest.mark.parametrize(("lab", "scenario", "missing", "ready"), [
    ("tiny", "failover", "3 or more masters", "labs/etcd-only.yaml"),
    ("tiny", "partition", "3 or more masters", "labs/etcd-only.yaml"),
    ("seed", "slow-zone", "masters in two or more zones", "labs/etcd-only.yaml"),
    ("etcd-only", "lb", "a VIP pair", "labs/lb-pair.yaml"),
])
def test_a_lab_lacking_a_need_is_refused_naming_it_and_a_ready_lab(
        lab: str, scenario: str, missing: str, ready: str) -> None:
    p = one_master() if lab == "tiny" else lab_plan(lab)
    with pytest.raises(HalabError) as err:
        scenarios.SCENARIOS[scenario].check(p)
    assert f"lab {p.lab!r} cannot run the {scenario} scenario" in err.value.message
    assert missing in err.value.message
    assert f"{ready} has {missing}" in (err.value.hint or "")


def test_verify_refuses_before_the_provider_is_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal comes before `prepare()` and before the scenario's steps."""
    touched: list[str] = []
    provider = SimpleNamespace(prepare=lambda: touched.append("prepare"))
    lab = SimpleNamespace(plan=lab_plan("seed"), provider=provider)
    monkeypatch.setattr(scenarios.Lab, "existing", classmethod(lambda cls, arg: lab))
    with pytest.raises(HalabError, match="masters in two or more zones"):
        scenarios.verify("seed", None, "slow-zone", False)
    assert touched == []
