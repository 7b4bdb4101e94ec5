"""A master out of the apiserver rotation and back, live, for the LB kinds the seed lab does
not use (nginx is covered by the upgrade of the seed lab): HAProxy's runtime API on an LB host,
and poundctl on a minion's own Pound (lb.mode per-node). Each lab is lb1, master1 and minion1
at Kubernetes 1.35.4; after the rotation checks, `halab upgrade --to 1.36.3` runs through it.
In `make ha-test`."""

from __future__ import annotations

import pytest
from labcli import halab, lab_objects

from halab.session.context import Lab
from halab.tiers import lb

pytestmark = [pytest.mark.lab, pytest.mark.kube, pytest.mark.ha]

LABS = {"rot-haproxy": ("10.176.52", "lb: {kind: haproxy}"),
        "rot-pound": ("10.176.53", "lb: {kind: pound, mode: per-node}")}
# What each LB says of master1's apiserver backend.
STATE = {"haproxy": "echo 'show stat' | socat stdio /run/haproxy/admin.sock | "
                    "grep '^kube-apiserver,master1,' | cut -d, -f18",
         "pound": "poundctl -s /run/poundctl.socket list /kube-apiserver/0/0"}


def _topology(name: str, subnet: str, lb_line: str) -> str:
    return (f"name: {name}\ndescription: LB rotation test\nnetwork: {{subnet: {subnet}.0/24}}\n"
            f"defaults: {{memory: 1024}}\n{lb_line}\n"
            f"kubernetes: {{enabled: true, version: 1.35.4, service_cidr: 10.32.52.0/24, "
            f"pod_cidr: 10.178.0.0/16}}\nhosts:\n"
            f"  - {{name: lb1, role: lb, ip: {subnet}.11, memory: 512}}\n"
            f"  - {{name: master1, role: master, ip: {subnet}.21}}\n"
            f"  - {{name: minion1, role: minion, ip: {subnet}.31}}\n")


@pytest.fixture(params=list(LABS))
def lab_name(request: pytest.FixtureRequest, tmp_path) -> str:
    name = request.param
    path = tmp_path / f"{name}.yaml"
    path.write_text(_topology(name, *LABS[name]))
    try:
        proc = halab("up", str(path), timeout=2400)
        assert proc.returncode == 0, proc.stdout[-3000:]
        yield name
    finally:
        if lab_objects(name):
            halab("down", name, "--yes")


def test_a_master_leaves_the_rotation_comes_back_and_the_upgrade_runs(lab_name: str) -> None:
    with Lab.existing(lab_name) as lab:
        p = lab.plan
        (front,) = lb.apiserver_fronts(p)

        def state() -> str:
            return lab.runner.run(front, STATE[p.lb_kind]).stdout
        before = state()
        assert lb.rotate(p, lab.runner, "master1", out=True) == [front]
        drained = state()
        assert lb.rotate(p, lab.runner, "master1", out=False) == [front]
        after = state()
    print(f"{p.lb_kind} on {front}: before {before!r}, drained {drained!r}, after {after!r}")
    assert drained != before and after == before
    if p.lb_kind == "haproxy":
        assert (before.strip(), drained.strip()) == ("UP", "DRAIN")
    else:  # e.g. "backend (0) https 10.176.53.21:6443 5 alive disabled"
        assert before.split()[-1] == "active" and drained.split()[-1] == "disabled"
    proc = halab("upgrade", lab_name, "--to", "1.36.3", timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"out of {p.lb_kind}'s rotation on {front}" in proc.stdout
