"""The load balancer: it listens, etcd answers through it, and it names exactly the masters."""

from __future__ import annotations

import pytest

from halab.config import layout, plan
from halab.facts import etcd
from halab.render import files as render
from halab.render import lbconfig
from halab.session.context import Lab

CONFIG = {"nginx": layout.NGINX_CONF, "pound": layout.POUND_CONF,
          "haproxy": layout.HAPROXY_CONF}


def test_it_listens_on_the_forwarded_port(lb, lab: Lab, lb_service: str) -> None:  # noqa: ANN001
    """it listens on each port it forwards (etcd; the apiservers' with nginx or HAProxy)"""
    port = {s.name: s.port for s in render.lb_services(lab.plan)}[lb_service]
    listening = [s for s in (f"tcp://0.0.0.0:{port}", f"tcp://{lb.ip}:{port}")
                 if lb.host.socket(s).is_listening]
    assert listening, f"nothing listens on port {port} ({lb_service}) on {lb.name}"


def test_etcd_answers_through_it(lb, lab: Lab) -> None:  # noqa: ANN001
    """etcd answers through it (its own address, and the VIP clients use)"""
    p = lab.plan
    urls = dict.fromkeys([f"{p.etcd.scheme}://{lb.ip}:{plan.ETCD_CLIENT_PORT}",
                          p.etcd.client_url])
    for url in urls:
        r = lb.run(etcd.curl_health(p, url))
        assert r.rc == 0 and '"health":"true"' in r.stdout.replace(" ", ""), \
            f"{url}: {r.stdout}{r.stderr}"


def test_exactly_one_lb_holds_the_vip(lab: Lab, node) -> None:  # noqa: ANN001
    """exactly one LB host holds the VIP (keepalived)"""
    p = lab.plan
    if not p.vip:
        pytest.skip("the lab has no VIP: no pair of LB hosts")
    holders = [h.name for h in p.lbs if node(h.name).run(
        f"ip -o -4 addr show dev {p.nic}").stdout.count(f" {p.vip}/")]
    assert len(holders) == 1, f"{p.vip} is held by {holders or 'no LB host'}"
    for h in p.lbs:
        assert node(h.name).host.service("keepalived").is_running, \
            f"keepalived is not running on {h.name}"


def test_its_config_names_exactly_the_masters(lb, lab: Lab) -> None:  # noqa: ANN001
    """its config names exactly the topology's masters"""
    p = lab.plan
    text = lb.host.file(CONFIG[p.lb_kind]).content_string
    want = {(m.ip, s.port) for m in p.masters for s in render.lb_services(p)}
    assert lbconfig.backends(p.lb_kind, text) == want
