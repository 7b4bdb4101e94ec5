"""The cert-renew scenario's pure parts: the longest run of failed probes, the ports and serials
it expects, and its verdicts."""

from __future__ import annotations

import pytest
from labfiles import lab_plan

from halab.render import desired, pki
from halab.verify.figures import Mark, failures, longest_outage, outages
from halab.verify.scenarios import certrenew

pytestmark = pytest.mark.unit


def marks(*oks: bool, every: float = 0.4) -> list[Mark]:
    return [Mark(i * every, i * every + 0.05, ok) for i, ok in enumerate(oks)]


def test_the_longest_outage_runs_from_the_first_failure_to_the_next_answer() -> None:
    assert longest_outage(marks(True, True, True)) == 0.0
    assert longest_outage(marks(True, False, False, True, False, True)) == pytest.approx(0.8)
    assert longest_outage(marks(True, False, False)) == pytest.approx(0.45)  # to the last end
    assert longest_outage([]) == 0.0
    assert failures(marks(True, False, False, True)) == (2, 4)


def test_the_expected_ports_are_every_server_certificate_with_its_serial(tmp_path) -> None:
    p = lab_plan("seed", accel="native", provider="container")
    store = pki.PKIStore(tmp_path)
    desired.sync_secrets(p, store)
    want = certrenew.expected(p, store)
    assert len(want) == 11  # 3 masters × (etcd client, peer, apiserver) + 2 kubelets
    endpoint, serial = want["kube-apiserver on master2 :6443"]
    assert endpoint.ip == p.masters[1].ip
    assert serial == pki.cert_from_pem(store.read_cert_pem("kubernetes/apiserver")).serial_number
    desired.sync_secrets(p, store, renew=True)
    assert certrenew.expected(p, store)["kube-apiserver on master2 :6443"][1] != serial


def record(**kw: object) -> certrenew.CertRenew:
    r = certrenew.CertRenew(reloaded={"etcd server on master1 :2379": 0.4},
                            api=marks(True, True), work=marks(True, False, True),
                            quiet_s=3.0, restart_s=32.0)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_the_verdicts_hold_for_a_good_run() -> None:
    assert [v.ok for v in certrenew.judge(record())] == [True] * 5


def test_the_verdicts_catch_an_outage_a_failed_renewal_and_an_old_certificate() -> None:
    long_gap = certrenew.judge(record(api=marks(True, *[False] * 6, True)))
    assert [v.ok for v in long_gap] == [True, False, True, True, True]
    assert long_gap[1].detail == "longest 2.4s; 6 of 8 probes failed"
    failed = certrenew.judge(record(error="up failed"))
    assert [v.ok for v in failed][3:] == [False, False]
    old = certrenew.judge(record(not_served=["kubelet on minion1 :10250"]))
    assert not old[4].ok and old[4].detail == "kubelet on minion1 :10250"
    assert not certrenew.judge(record(api=[]))[1].ok  # no probe at all is no proof
    assert not certrenew.judge(record(pods="0 of 2 pods Running and Ready"))[0].ok


def test_the_timeline_draws_each_probe_and_names_each_step() -> None:
    from halab.workshop import timeline

    p = lab_plan("seed", accel="native", provider="container")
    r = record(api=marks(True, False, True), work=marks(True, True, True),
               steps=[timeline.Span("renew, no restarts", 100.5, 101.0),
                      timeline.Span("renew with restarts, one master at a time", 101.0, 140.0)])
    svg = certrenew.picture(p, r, 100.0, "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "renew with restarts" in svg
    assert "API /readyz via https://192.168.33.11:6443" in svg
    assert certrenew.picture(p, r, 100.0, "png").startswith(b"\x89PNG")


def test_each_outage_has_its_window_and_first_reason() -> None:
    ms = [Mark(0.0, 0.1, True), Mark(0.4, 0.5, False, "HTTP 500"), Mark(0.8, 0.9, False, "x"),
          Mark(1.2, 1.3, True), Mark(1.6, 1.7, False, "refused")]
    assert outages(ms) == [(0.4, 1.2, "HTTP 500"), (1.6, 1.7, "refused")]
