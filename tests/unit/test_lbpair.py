"""Two LB hosts sharing a VIP (keepalived): the topology's checks, the plan's client address,
the certificates, the keepalived config of each LB, the LB tier, student copies, and the
verdicts of `--scenario lb`."""

from __future__ import annotations

import pytest
from labfiles import lab_file, lab_plan, loaded

from halab import tiers
from halab.config import layout, plan, students
from halab.config.topology import TopologyError, loads
from halab.render import desired as provision
from halab.render import files as render
from halab.render import pki
from halab.verify.figures import Write, WriteLog
from halab.verify.scenarios.lb import LBHalt, judge

pytestmark = pytest.mark.unit
TEXT = lab_file("lb-pair").read_text()


def problems(text: str) -> str:
    with pytest.raises(TopologyError) as exc:
        loads(text, "pair.yaml")
    return exc.value.message


def test_clients_use_the_vip_for_etcd() -> None:
    p = lab_plan("lb-pair")
    assert p.vip == "192.168.47.10" and [h.name for h in p.lbs] == ["lb1", "lb2"]
    assert p.etcd.client_url == "https://192.168.47.10:2379"


def test_the_etcd_server_certificates_name_both_lbs_and_the_vip() -> None:
    certs = {c.name: c for c in pki.lab_certificates(provision.pki_input(lab_plan("lb-pair")))}
    sans = certs["etcd/master1-server"].spec.ip_sans
    assert {"192.168.47.10", "192.168.47.11", "192.168.47.12"} <= set(sans)


def test_a_kube_lab_behind_a_vip_puts_the_vip_in_kubeconfigs_and_apiserver_sans() -> None:
    text = TEXT.replace("kubernetes:\n  enabled: false", "kubernetes:\n  enabled: true") + \
        "  - {name: minion1, role: minion, ip: 192.168.47.31}\n"
    p = plan.build(loads(text, "pair.yaml").topology)
    assert p.kube is not None and p.kube.api_url == "https://192.168.47.10:6443"
    assert "192.168.47.10" in p.kube.apiserver_sans_ip


def test_each_lb_gets_keepalived_with_its_priority_and_the_other_as_peer() -> None:
    files = render.render(lab_plan("lb-pair")).hosts
    one, two = (files[h][layout.KEEPALIVED_CONF] for h in ("lb1", "lb2"))
    assert "priority 150" in one and "priority 140" in two
    assert "unicast_src_ip 192.168.47.11" in one and "        192.168.47.12\n" in one
    assert "unicast_src_ip 192.168.47.12" in two and "        192.168.47.11\n" in two
    for text in (one, two):
        assert "192.168.47.10/24 dev eth1" in text
        assert 'script "/usr/bin/systemctl is-active --quiet haproxy"' in text
    router = [line for line in one.splitlines() if "virtual_router_id" in line]
    assert router == [line for line in two.splitlines() if "virtual_router_id" in line]
    assert layout.KEEPALIVED_CONF not in files["master1"]
    etcd_only = lab_plan("etcd-only")
    assert layout.KEEPALIVED_CONF not in render.render(etcd_only).hosts["lb1"]


def test_the_lb_tier_starts_keepalived_after_the_lb_and_restarts_it_on_its_config() -> None:
    tier = next(s.tier for s in tiers.steps(lab_plan("lb-pair")) if s.tier.name == "load balancer")
    assert tier.services == ("haproxy", "keepalived")
    assert tier.services_for([layout.KEEPALIVED_CONF]) == ["keepalived"]
    assert tier.services_for([layout.HAPROXY_CONF]) == ["haproxy"]


@pytest.mark.parametrize("change, said", [
    (("  vip: 192.168.47.10\n", ""), "lb: 2 hosts have role: lb; give lb.vip"),
    (("  replicas: 2\n", "  replicas: 3\n"), "lb.replicas: is 3 but 2 host(s) have role: lb"),
    (("vip: 192.168.47.10", "vip: 192.168.46.10"), "lb.vip: 192.168.46.10 is outside"),
    (("vip: 192.168.47.10", "vip: 192.168.47.1"), "bridge address"),
    (("vip: 192.168.47.10", "vip: 192.168.47.22"), "already hosts[3]'s ip"),
    (("  - {name: lb2, role: lb, ip: 192.168.47.12}\n", ""), "a virtual IP needs 2 hosts"),
])
def test_a_wrong_pair_is_refused_with_the_field(change: tuple[str, str], said: str) -> None:
    assert change[0] in TEXT
    assert said in problems(TEXT.replace(*change))


def test_a_student_copy_moves_the_vip_with_the_hosts() -> None:
    topo = students.derive_lab(loaded("lb-pair"), 7).topology
    assert str(topo.lb.vip) == "10.150.7.10"
    assert [str(h.ip) for h in topo.by_role("lb")] == ["10.150.7.11", "10.150.7.12"]


def writes(*acks: tuple[int, float, bool]) -> WriteLog:
    return WriteLog(started=0.0, stopped=max(t for _, t, _ in acks) + 1,
                    writes=[Write(seq, t - 0.05, t, ok) for seq, t, ok in acks])


def test_a_quick_takeover_with_nothing_lost_passes() -> None:
    r = LBHalt("lb1", False, moved_to="lb2", move_s=3.2,
               writes=writes((1, 1.0, True), (2, 4.0, True), (3, 9.0, True)),
               found=[1, 2, 3], holders_after=["lb1"])
    verdicts = judge(r)
    assert all(v.ok for v in verdicts), verdicts
    assert verdicts[0].detail == "lb2 holds it 3.2s after the halt began"


@pytest.mark.parametrize("change, failing", [
    ({"move_s": None, "moved_to": None}, 0),
    ({"move_s": 30.0}, 0),
    ({"writes": writes((1, 1.0, True), (2, 2.0, False), (3, 25.0, True))}, 1),
    ({"found": [1, 3]}, 2),
    ({"holders_after": ["lb1", "lb2"]}, 3),
    ({"holders_after": []}, 3),
])
def test_each_failure_fails_its_verdict(change: dict, failing: int) -> None:
    r = LBHalt("lb1", True, moved_to="lb2", move_s=3.0,
               writes=writes((1, 1.0, True), (2, 4.0, True), (3, 9.0, True)),
               found=[1, 2, 3], holders_after=["lb1"])
    for k, v in change.items():
        setattr(r, k, v)
    assert not judge(r)[failing].ok
