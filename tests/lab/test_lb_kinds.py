"""Pound and HAProxy in front of etcd on real VMs: a small lab (lb + 1 master) per kind.

The nginx case is the etcd-only lab (test_etcd_lab.py). Here each other LB kind must pass the
same checks through its own address: etcd answers a client with a certificate and refuses one
without, and `halab verify` passes. The two labs are brought up at the same time and run side by
side; tearing one down must leave the other untouched.
"""

from __future__ import annotations

import pytest
from labcli import halab, halab_together, host, virsh_names

from halab.config import plan
from halab.config.topology import load
from halab.facts import etcd

pytestmark = pytest.mark.lab

TOPOLOGY = """\
name: lb-{kind}
description: one {kind} in front of one etcd member (halab's LB-kind lab test)
network: {{subnet: 192.168.{third}.0/24, management: 192.168.{mgmt}.0/24}}
defaults: {{memory: 512}}
lb: {{kind: {kind}}}
kubernetes: {{enabled: false}}
hosts:
  - {{name: lb1, role: lb, ip: 192.168.{third}.11}}
  - {{name: master1, role: master, ip: 192.168.{third}.21}}
"""
KINDS = {"pound": (44, 132), "haproxy": (45, 133)}


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory):
    """Both small labs, brought up at the same time: they must run side by side."""
    paths = {}
    for kind, (third, mgmt) in KINDS.items():
        paths[kind] = tmp_path_factory.mktemp(kind) / f"lb-{kind}.yaml"
        paths[kind].write_text(TOPOLOGY.format(kind=kind, third=third, mgmt=mgmt))
    ups = halab_together({kind: ["up", str(path)] for kind, path in paths.items()})
    try:
        yield {k: (plan.build(load(paths[k]).topology), *ups[k]) for k in KINDS}
    finally:
        for kind in KINDS:
            if any(n.startswith(f"halab-lb-{kind}") for n in virsh_names()):
                halab("down", f"lb-{kind}", "--yes")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_etcd_through_the_lb_needs_a_client_certificate(labs, kind: str) -> None:
    p, code, out = labs[kind]
    assert code == 0, out[-3000:]
    assert f"etcd answers through {kind}" in out
    lb = host(p.lab, "lb1")
    assert lb.service(kind).is_running
    ok = lb.run(etcd.curl_health(p, p.etcd.client_url))
    assert ok.rc == 0 and '"health":"true"' in ok.stdout.replace(" ", ""), ok.stderr
    no_cert = lb.run("curl -sS --max-time 5 --cacert /etc/halab/pki/etcd-ca.crt "
                     f"{p.etcd.client_url}/health")
    assert no_cert.rc != 0 and '"health":"true"' not in no_cert.stdout


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_verify_passes_through_each_lb_kind(labs, kind: str) -> None:
    proc = halab("verify", f"lb-{kind}")
    assert proc.returncode == 0, proc.stdout
    assert "its config names exactly the topology's masters" in proc.stdout


def test_down_of_one_lab_leaves_the_other_running(labs) -> None:
    before = virsh_names()
    pound = {n for n in before if n.startswith("halab-lb-pound")}
    haproxy = {n for n in before if n.startswith("halab-lb-haproxy")}
    assert len(pound) >= 3 and len(haproxy) >= 3, before  # 2 VMs + networks each
    proc = halab("down", "lb-pound", "--yes")
    assert proc.returncode == 0, proc.stderr
    after = virsh_names()
    assert not any(n.startswith("halab-lb-pound") for n in after)
    assert haproxy <= after
    status = halab("status", "lb-haproxy")
    assert status.returncode == 0 and "leader" in status.stdout
