"""The upgrade drill's verdicts from its record (versions, outages, 0-ready samples, a sample
the API did not answer), its timeline picture, and its options at the command line."""

from __future__ import annotations

import pytest
from labfiles import lab_plan

from halab.lab import scenarios
from halab.verify.availability import NOT_ASKED, ZERO_READY
from halab.verify.figures import Mark
from halab.verify.scenarios import upgrade
from halab.workshop import timeline

pytestmark = pytest.mark.unit

V = "v1.36.3"


def marks(*whys: str, every: float = 0.4) -> list[Mark]:
    return [Mark(i * every, i * every + 0.05, not w, w) for i, w in enumerate(whys)]


def record(**kw: object) -> upgrade.Upgrade:
    r = upgrade.Upgrade("1.36.3", api=marks("", "x", ""), work=marks("", ""),
                        ready=marks("", "", ""),
                        versions={"master1": {"kube-apiserver": V, "kube-scheduler": V},
                                  "minion1": {"kubelet": V}},
                        steps=[timeline.Span("master1", 10.0, 40.0),
                               timeline.Span("minion1", 40.0, 70.0)])
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_a_good_upgrade_holds_every_verdict() -> None:
    verdicts = upgrade.judge(record())
    assert [v.ok for v in verdicts] == [True] * 5
    assert verdicts[1].detail == "3 services on 2 hosts, in 60s"


def test_a_service_left_behind_or_a_failed_upgrade_fails_its_verdict() -> None:
    late = upgrade.judge(record(versions={"master1": {"kube-apiserver": "v1.35.4"}}))
    assert not late[1].ok and late[1].detail == "master1 kube-apiserver v1.35.4"
    assert not upgrade.judge(record(versions={}))[1].ok  # nothing asked is no proof
    failed = upgrade.judge(record(error="minion1: draining failed"))
    assert not failed[1].ok and failed[1].detail == "minion1: draining failed"


def test_outages_over_two_seconds_fail() -> None:
    long_gap = upgrade.judge(record(work=marks("", *["refused"] * 6, "")))
    assert [v.ok for v in long_gap] == [True, True, True, False, True]
    assert long_gap[3].detail == "longest 2.4s; 6 of 8 probes failed"


def test_zero_ready_fails_and_an_unanswered_sample_is_not_zero() -> None:
    zero = upgrade.judge(record(ready=marks("", ZERO_READY, "")))[4]
    assert not zero.ok and zero.detail == "1 of 3 samples at 0 ready; 0 unanswered"
    unknown = upgrade.judge(record(ready=marks("", f"{NOT_ASKED}refused", "")))[4]
    assert unknown.ok and unknown.detail == "0 of 3 samples at 0 ready; 1 unanswered"
    assert not upgrade.judge(record(ready=marks(f"{NOT_ASKED}refused")))[4].ok


def test_the_timeline_has_a_row_per_probe_and_a_band_per_host() -> None:
    from halab.verify.scenarios import probed

    p = lab_plan("seed", accel="native", provider="container")
    r = record()
    svg = probed.picture(upgrade._title(p, r), upgrade._tracks(p, r), r.steps, 0.0,
                         "svg").decode()
    assert "upgrade-web ready replicas" in svg and "minion1" in svg
    assert "careful order" in svg


def test_the_upgrade_options_go_only_with_the_upgrade_scenario() -> None:
    with pytest.raises(scenarios.UnknownScenario, match="--to goes with a scenario"):
        scenarios.verify("no-such-lab", None, None, False, {"to": "1.36.3"})
    with pytest.raises(scenarios.UnknownScenario, match="not with failover"):
        scenarios.verify("no-such-lab", None, "failover", False, {"drain": False})
