"""Pound and HAProxy in front of etcd on real VMs: a small lab (lb + 1 master) per kind.

The nginx case is the etcd-only lab (test_etcd_lab.py). Here each other LB kind must pass the
same two checks through its own address: etcd answers a client with a certificate, and refuses
one without.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

from halab import etcd, plan
from halab.home import labs_dir
from halab.topology import load

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]

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


def halab(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "halab.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=2400, stdin=subprocess.DEVNULL)
    print(proc.stdout, proc.stderr, sep="\n")
    return proc


@pytest.fixture(params=sorted(KINDS), scope="module")
def small_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    kind = request.param
    third, mgmt = KINDS[kind]
    path = tmp_path_factory.mktemp(kind) / f"lb-{kind}.yaml"
    path.write_text(TOPOLOGY.format(kind=kind, third=third, mgmt=mgmt))
    proc = halab("up", str(path))
    try:
        yield kind, plan.build(load(path).topology), proc
    finally:
        down = halab("down", f"lb-{kind}", "--yes")
        assert down.returncode == 0, down.stderr


def test_etcd_through_the_lb_needs_a_client_certificate(small_lab) -> None:
    kind, p, up = small_lab
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr
    assert f"etcd answers through {kind}" in up.stdout
    lb = testinfra.get_host("paramiko://lb1", sudo=True,
                            ssh_config=str(labs_dir() / p.lab / "ssh_config"))
    assert lb.service(kind).is_running
    ok = lb.run(etcd.curl_health(p, p.etcd.client_url))
    assert ok.rc == 0 and '"health":"true"' in ok.stdout.replace(" ", ""), ok.stderr
    no_cert = lb.run("curl -sS --max-time 5 --cacert /etc/halab/pki/etcd-ca.crt "
                     f"{p.etcd.client_url}/health")
    assert no_cert.rc != 0 and '"health":"true"' not in no_cert.stdout
