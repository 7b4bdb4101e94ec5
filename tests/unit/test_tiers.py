"""The tiers' restart decisions, on `RecordingRemote` (no hosts, nothing waits for real).

Each test reads as a rule of `halab up`: what starts, what restarts, in which order, and where
it waits. `actions()` reduces the recorded calls to those starts, restarts and (stubbed) waits.
"""

from __future__ import annotations

import re

import pytest
from labfiles import lab_plan

from halab import tiers
from halab.artifacts import images
from halab.config import layout
from halab.errors import HalabError
from halab.remote.fake import RecordingRemote
from halab.remote.protocol import Result
from halab.remote.runner import RemoteError
from halab.render.desired import KUBELET_PKI
from halab.tiers import etcd, kube_control, kube_nodes, lb

pytestmark = pytest.mark.unit
MASTERS = ["master1", "master2", "master3"]
ACTION = re.compile(r"systemctl (start|restart)(?: --no-block)? (\S+)$")
IMAGES_PRESENT = (None, r"ctr -n k8s\.io images ls",
                  Result("\n".join(s.ref for s in images.IMAGES) + "\n", "", 0))


def actions(remote: RecordingRemote) -> list[str]:
    """The starts, restarts and waits in call order, e.g. "restart etcd on master1", "wait"."""
    out = []
    for call in remote.calls:
        if call[0] == "note":
            out.append(call[1])
        elif len(call) == 2 and (m := ACTION.search(call[1])):
            out.append(f"{m.group(1)} {m.group(2)} on {call[0]}")
    return out


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tier's wait becomes a note in the record, so its place among the calls shows."""
    def stub(label: str):
        return lambda plan, remote, timeout: remote.note(label)
    monkeypatch.setattr(etcd, "wait", stub("wait"))
    monkeypatch.setattr(lb, "wait", stub("wait lb"))
    monkeypatch.setattr(kube_control, "wait_apiserver", stub("wait apiserver"))
    monkeypatch.setattr(kube_control, "wait_leases", stub("wait leases"))
    monkeypatch.setattr(kube_nodes, "wait_nodes", stub("wait nodes"))


# ── etcd ────────────────────────────────────────────────────────────────────────────────────


def test_a_new_etcd_cluster_starts_every_member_at_once_then_waits_once() -> None:
    r = RecordingRemote()
    assert etcd.apply(lab_plan("etcd-only"), r, etcd.TIER, {}) == 3
    done = actions(r)
    assert sorted(done[:3]) == [f"start etcd on {m}" for m in MASTERS]
    assert done[3:] == ["wait"]


def test_changed_etcd_members_restart_one_at_a_time_with_a_wait_after_each() -> None:
    r = RecordingRemote(active={m: {"etcd"} for m in MASTERS})
    changed = {"master1": [layout.ETCD_ENV], "master3": [f"{layout.ETCD_PKI}/peer.crt"]}
    assert etcd.apply(lab_plan("etcd-only"), r, etcd.TIER, changed) == 2
    # First the running cluster is checked healthy, then master1, then master3.
    assert actions(r) == ["wait", "restart etcd on master1", "wait",
                          "restart etcd on master3", "wait"]
    assert r.commands("master2", r"systemctl (enable|start|restart)") == []


def test_nothing_changed_and_all_running_is_no_action_on_any_tier() -> None:
    p = lab_plan("seed")
    active: dict[str, set[str]] = {h.name: set() for h in p.hosts}
    for step in tiers.steps(p):
        for h in p.hosts:
            if h.role == step.tier.role:
                active[h.name].update(step.tier.services)
    r = RecordingRemote([IMAGES_PRESENT], active=active)
    unrelated = {h.name: ["/etc/hosts"] for h in p.hosts}
    assert sum(step(p, r, unrelated) for step in tiers.steps(p)) == 0
    assert r.commands(pattern=r"systemctl (enable|start|restart|stop)|images import") == []


def test_a_stopped_member_starts_first_then_a_changed_one_restarts() -> None:
    r = RecordingRemote(active={"master1": {"etcd"}, "master3": {"etcd"}})
    changed = {"master3": [layout.ETCD_UNIT]}
    assert etcd.apply(lab_plan("etcd-only"), r, etcd.TIER, changed) == 2
    assert actions(r) == ["start etcd on master2", "wait", "restart etcd on master3", "wait"]


def test_a_member_that_fails_to_start_stops_the_tier_before_any_wait() -> None:
    r = RecordingRemote([("master2", r"systemctl start", Result("", "bad flag", 1))])
    with pytest.raises(RemoteError, match="master2: starting etcd failed"):
        etcd.apply(lab_plan("etcd-only"), r, etcd.TIER, {})
    assert "wait" not in actions(r)
    assert not r.is_active("master2", "etcd")


# ── kube control plane ──────────────────────────────────────────────────────────────────────


def test_the_first_apiserver_starts_alone_and_is_ready_before_the_others() -> None:
    r = RecordingRemote(active={m: {"etcd"} for m in MASTERS})
    assert kube_control.apply(lab_plan("seed"), r, kube_control.TIER, {}) == 9
    done = actions(r)
    assert done[:2] == ["start kube-apiserver on master1", "wait apiserver"]
    assert sorted(done[2:4]) == ["start kube-apiserver on master2",
                                 "start kube-apiserver on master3"]
    assert done[4] == "wait apiserver"
    # The controller-manager and scheduler start everywhere at once; their leases show them up.
    assert sorted(done[5:8]) == [f"start kube-controller-manager on {m}" for m in MASTERS]
    assert sorted(done[8:11]) == [f"start kube-scheduler on {m}" for m in MASTERS]
    assert done[11:] == ["wait leases"]


# ── load balancer ───────────────────────────────────────────────────────────────────────────


def test_a_vip_pair_starts_haproxy_then_keepalived_one_host_at_a_time() -> None:
    p = lab_plan("lb-pair")
    r = RecordingRemote()
    assert lb.apply(p, r, lb.tier(p), {}) == 4
    assert actions(r) == ["restart haproxy on lb1", "restart keepalived on lb1",
                          "restart haproxy on lb2", "restart keepalived on lb2", "wait lb"]


def test_a_changed_keepalived_conf_restarts_only_keepalived() -> None:
    p = lab_plan("lb-pair")
    r = RecordingRemote(active={h: {"haproxy", "keepalived"} for h in ("lb1", "lb2")})
    assert lb.apply(p, r, lb.tier(p), {"lb2": [layout.KEEPALIVED_CONF]}) == 1
    assert actions(r) == ["restart keepalived on lb2", "wait lb"]


# ── kube nodes ──────────────────────────────────────────────────────────────────────────────

NODE = set(kube_nodes.TIER.services)


def test_a_changed_kubelet_certificate_restarts_only_that_minions_kubelet() -> None:
    r = RecordingRemote([IMAGES_PRESENT], active={"minion1": NODE, "minion2": NODE})
    changed = {"minion1": [f"{KUBELET_PKI}/kubelet.crt", f"{KUBELET_PKI}/kubelet.key"]}
    assert kube_nodes.apply(lab_plan("seed"), r, kube_nodes.TIER, changed) == 1
    assert actions(r) == ["restart kubelet on minion1", "wait nodes"]


def test_a_stopped_containerd_gets_a_blocking_start_before_the_images() -> None:
    r = RecordingRemote([IMAGES_PRESENT],
                        active={"minion1": NODE, "minion2": NODE - {"containerd"}})
    assert kube_nodes.apply(lab_plan("seed"), r, kube_nodes.TIER, {}) == 1
    assert r.commands("minion2", r"systemctl (start|restart)|ctr ") == [
        "systemctl enable containerd && systemctl start containerd",
        "ctr -n k8s.io images ls -q"]
    assert actions(r) == ["start containerd on minion2", "wait nodes"]


# ── the order of the tiers ──────────────────────────────────────────────────────────────────


def test_steps_are_etcd_lb_then_the_kube_tiers_unless_kube_is_off() -> None:
    p = lab_plan("seed")
    assert [s.tier.name for s in tiers.steps(p)] == [
        "etcd", "load balancer", "kube control plane", "kube nodes"]
    assert [s.tier.name for s in tiers.steps(p, kube=False)] == ["etcd", "load balancer"]


# ── etcd membership (issue 36) ──────────────────────────────────────────────────────────────

class FakeClock:
    """time.monotonic and time.sleep for `poll`: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


UNHEALTHY = Result("", '{"level":"warn","error":"rpc error: code = Unavailable desc = '
                   'etcdserver: unhealthy cluster"}\nError: etcdserver: unhealthy cluster\n', 1)
PEER = "https://192.168.43.24:2380"
ADDED = Result("Member abc added\n", "", 0)


def refused_times(n: int, then: Result = ADDED):
    """An answer that refuses the first `n` member adds as a settling cluster does."""
    seen = []

    def answer(host: str, command: str) -> Result:
        seen.append(command)
        return UNHEALTHY if len(seen) <= n else then
    return answer


def test_member_add_waits_out_a_settling_cluster() -> None:
    clock = FakeClock()
    remote = RecordingRemote([(None, r"member add", refused_times(3))])
    etcd.add_member(lab_plan("etcd-only"), remote, "master1", "master4", PEER,
                    clock=clock, sleep=clock.sleep)
    adds = remote.commands("master1", r"member add master4 --peer-urls=" + PEER)
    assert len(adds) == 4 and "127.0.0.1:2379" in adds[0]
    assert clock.now == 6  # three refusals, two seconds apart


def test_member_add_fails_at_once_on_another_error() -> None:
    clock = FakeClock()
    other = Result("", "Error: etcdserver: Peer URLs already exists\n", 1)
    remote = RecordingRemote([(None, r"member add", other)])
    with pytest.raises(RemoteError, match="Peer URLs already exists"):
        etcd.add_member(lab_plan("etcd-only"), remote, "master1", "master4", PEER,
                        clock=clock, sleep=clock.sleep)
    assert len(remote.commands(pattern="member add")) == 1 and clock.now == 0


def test_member_add_that_stays_refused_says_what_etcd_answered_and_that_nothing_changed(
        ) -> None:
    clock = FakeClock()
    remote = RecordingRemote([(None, r"member add", UNHEALTHY)])
    with pytest.raises(HalabError) as caught:
        etcd.add_member(lab_plan("etcd-only"), remote, "master1", "master4", PEER, timeout=10,
                        clock=clock, sleep=clock.sleep)
    err = caught.value
    assert "etcdserver: unhealthy cluster" in err.message and "after 10s" in err.message
    assert "nothing was changed" in (err.hint or "")
    assert len(remote.commands(pattern="member add")) == 6 and clock.now == 10


def test_member_remove_waits_out_a_settling_cluster_too() -> None:
    """Seen on a fresh lab: `replace` right after `up` was refused at its member remove."""
    clock = FakeClock()
    remote = RecordingRemote([(None, r"member remove", refused_times(2))])
    etcd.remove_member(lab_plan("etcd-only"), remote, "master1", "8e9e05c52164694d", "master2",
                       clock=clock, sleep=clock.sleep)
    assert len(remote.commands("master1", r"member remove 8e9e05c52164694d$")) == 3
