"""The rolling upgrade's steps over the fake remote: what a master's and a minion's turn run and
in which order, with and without --no-drain; resuming after an interruption at each step; and
the LB rotation commands, the nginx one run with sed on the config halab renders."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest
from labfiles import lab_plan

from halab.config import layout, upgrade
from halab.lab import upgrade as upgrading
from halab.remote.fake import RecordingRemote
from halab.remote.protocol import Result
from halab.render import files
from halab.tiers import lb

pytestmark = pytest.mark.unit

TARGET = "1.36.3"


def _plan(name: str = "seed", kind: str | None = None):
    p = upgrading.with_version(lab_plan(name, accel="native", provider="container"), TARGET)
    return replace(p, lb_kind=kind) if kind else p


def _node(name: str) -> Result:
    return Result(json.dumps({"metadata": {"name": name}, "status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "nodeInfo": {"kubeletVersion": f"v{TARGET}"}}}), "", 0)


def _remote(fail_on: str | None = None) -> RecordingRemote:
    rules = [(None, r"get --raw /readyz", Result("ok", "", 0)),
             (None, r"get node (minion\d)", lambda h, c: _node(c.split("get node ")[1].split()[0]))]
    if fail_on:
        rules.insert(0, (fail_on, r"systemctl (stop|restart)", Result("", "boom", 1)))
    return RecordingRemote(rules)


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upgrading, "IN_FLIGHT", 0)
    # the binaries' upload has its own tests (the manifest); here only where it comes
    monkeypatch.setattr(upgrading, "sync_binaries", lambda remote, plan, hosts: (
        remote.note(f"binaries {hosts[0]}"), {hosts[0]: ["/usr/local/bin/x"]})[1])


def _events(r: RecordingRemote) -> list[str]:
    out = []
    for c in r.calls:
        if c[0] == "note":
            out.append(c[1])
        elif len(c) == 2:
            out.append(f"{c[0]}: {c[1]}")
    return out


def _index(events: list[str], needle: str) -> int:
    return next(i for i, e in enumerate(events) if needle in e)


def test_a_masters_turn_drains_it_replaces_then_puts_it_back() -> None:
    p = _plan()
    r = _remote()
    upgrading.upgrade_host(p, r, upgrade.HostStep("master1", "master", upgrade.MASTER_BINARIES,
                                                  hand_over=True), drain=True)
    ev = _events(r)
    order = [_index(ev, f"master1: bash {layout.ETCD_HANDOVER}"),
             _index(ev, "lb1: sed -i") , _index(ev, "binaries master1"),
             _index(ev, "master1: systemctl stop kube-apiserver"),
             _index(ev, "get --raw /readyz"),
             _index(ev, "master1: systemctl restart kube-controller-manager"),
             _index(ev, "master1: systemctl restart kube-scheduler")]
    assert order == sorted(order), ev
    out, back = [e for e in ev if e.startswith("lb1: sed")]
    assert " down;" in out and " down;" not in back.split("s/ down;")[1].split("}")[0]


def test_no_drain_restarts_in_place() -> None:
    r = _remote()
    upgrading.upgrade_host(_plan(), r, upgrade.HostStep("master1", "master",
                                                        upgrade.MASTER_BINARIES, True), False)
    ev = _events(r)
    assert not [e for e in ev if e.startswith("lb1:") or "etcd-handover" in e], ev
    assert "master1: systemctl restart kube-apiserver kube-controller-manager kube-scheduler" in ev


def test_a_minions_turn_cordons_drains_replaces_and_uncordons() -> None:
    r = _remote()
    upgrading.upgrade_host(_plan(), r, upgrade.HostStep("minion2", "minion",
                                                        upgrade.MINION_BINARIES), True)
    ev = _events(r)
    order = [_index(ev, "drain minion2 --ignore-daemonsets"), _index(ev, "binaries minion2"),
             _index(ev, "minion2: systemctl restart kubelet kube-proxy"),
             _index(ev, "get node minion2"), _index(ev, "uncordon minion2")]
    assert order == sorted(order), ev
    undrained = _remote()
    upgrading.upgrade_host(_plan(), undrained, upgrade.HostStep("minion2", "minion",
                                                                upgrade.MINION_BINARIES), False)
    assert not [e for e in _events(undrained) if "drain" in e or "cordon" in e]


@pytest.mark.parametrize("cut", range(5))
def test_resuming_after_an_interruption_at_each_step(cut: int) -> None:
    """The host whose restart fails is not recorded; the next run starts with it and does not
    touch the hosts before it again."""
    p = _plan()
    steps = upgrade.order(p, leader="master2")
    host = steps[cut].host
    done: list[str] = []
    first = _remote(fail_on=host)
    with pytest.raises(Exception, match="boom"):
        upgrading.run_steps(steps, lambda s: upgrading.upgrade_host(p, first, s, True),
                            done.append)
    assert done == [s.host for s in steps[:cut]]
    second = _remote()
    upgrading.run_steps(upgrade.remaining(steps, done),
                        lambda s: upgrading.upgrade_host(p, second, s, True), done.append)
    assert done == [s.host for s in steps]
    touched = [e.split("binaries ")[1] for e in _events(second) if e.startswith("binaries ")]
    assert touched == [s.host for s in steps[cut:]]


def test_haproxy_and_pound_use_their_runtime_controls() -> None:
    assert lb.rotation_command("haproxy", "master2", 1, out=True) == (
        "echo 'set server kube-apiserver/master2 state drain' | socat stdio "
        "/run/haproxy/admin.sock")
    assert "state ready" in lb.rotation_command("haproxy", "master2", 1, out=False)
    assert lb.rotation_command("pound", "master2", 1, out=True).endswith(
        "disable /kube-apiserver/0/1")
    assert lb.apiserver_fronts(_plan("seed", "pound")) == []  # Pound's LB hosts: etcd only


def test_the_nginx_rotation_marks_only_that_masters_apiserver_line(tmp_path) -> None:
    p = _plan()
    conf = files.render(p).hosts["lb1"][layout.NGINX_CONF]
    path = tmp_path / "nginx.conf"
    path.write_text(conf)

    def sed(out: bool) -> str:
        script = lb.rotation_command("nginx", "master2", 1, out).split(" && ")[0]
        script = script.replace(layout.NGINX_CONF, str(path))
        subprocess.run(["bash", "-c", script], check=True)
        return path.read_text()
    drained = sed(True)
    assert sed(True) == drained  # idempotent
    changed = [line for line in drained.splitlines() if line not in conf.splitlines()]
    assert changed == ["        server 192.168.33.22:6443 max_fails=1 fail_timeout=10s down;"
                       "  # master2"]
    assert sed(False) == conf
    assert sed(False) == conf
