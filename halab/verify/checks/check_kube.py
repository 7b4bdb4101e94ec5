"""Kubernetes: minions Ready, masters unregistered, a web Deployment on the minions reached
through its Service from another pod, the leases' holders, and kubectl exec from a master."""

from __future__ import annotations

import time

import pytest

from halab.facts import kube, workloads
from halab.poll import Reason, Timeout, poll
from halab.session.context import Lab
from halab.tiers import kube_nodes

WAIT = 240  # seconds for pods to run under emulation


@pytest.fixture(scope="module")
def ctl(lab: Lab, node):  # noqa: ANN001, ANN201 - kubectl on the first master
    if lab.plan.kube is None:
        pytest.skip("the topology turns the kube tier off")
    if lab.state is None or kube_nodes.TIER.name not in lab.state.tiers_done:
        pytest.skip("the kube tier has not been provisioned (see `halab up`'s kube line)")
    master = node(lab.plan.masters[0].name)

    def run(args: str, stdin: str | None = None, check: bool = True):  # noqa: ANN202
        r = master.run(kube.kubectl(args, "60s") if stdin is None else
                       kube.kubectl_stdin(args, stdin))
        if check:
            assert r.rc == 0, f"kubectl {args}: {(r.stderr or r.stdout).strip()[-300:]}"
        return r

    def gone(why: Reason) -> bool | None:
        phase = run(f"get namespace {workloads.NAMESPACE} -o jsonpath={{.status.phase}}",
                    check=False).stdout.strip()
        return True if phase != "Terminating" else None
    # The previous verify deletes its namespace without waiting; after a cold restart the
    # namespace controller can still be at it, and nothing can be created in it meanwhile.
    poll(gone, timeout=WAIT, interval=2, what=f"namespace {workloads.NAMESPACE} to be deleted")
    run("apply -f -", workloads.namespace())
    yield run
    run(f"delete namespace {workloads.NAMESPACE} --wait=false", check=False)


def _nodes(ctl) -> list[kube.Node]:  # noqa: ANN001
    return kube.parse_nodes(ctl("get nodes -o json").stdout)


def test_every_minion_is_ready(ctl, lab: Lab) -> None:  # noqa: ANN001
    """every minion is registered and Ready"""
    problems = kube.node_problems(_nodes(ctl), [m.name for m in lab.plan.minions])
    assert not problems, "; ".join(problems)


def test_masters_are_not_registered(ctl, lab: Lab) -> None:  # noqa: ANN001
    """masters are not registered as nodes (they run no kubelet), so nothing is scheduled there"""
    names = {n.name for n in _nodes(ctl)}
    registered = [m.name for m in lab.plan.masters if m.name in names]
    assert not registered, f"registered: {registered}"


def _wait_running(ctl, selector: str, count: int) -> list[kube.Pod]:  # noqa: ANN001
    pods: list[kube.Pod] = []

    def running(why: Reason) -> list[kube.Pod] | None:
        nonlocal pods
        pods = kube.parse_pods(ctl(f"-n {workloads.NAMESPACE} get pods -l {selector} -o json")
                               .stdout)
        ok = len(pods) == count and all(p.phase == "Running" and p.ready for p in pods)
        return pods if ok else None
    try:
        return poll(running, timeout=WAIT, interval=3, what=f"{count} pods {selector}")
    except Timeout:
        states = ", ".join(f"{p.name} {p.phase} on {p.node or '-'}" for p in pods) or "none"
        raise AssertionError(f"{count} pods not Running within {WAIT}s: {states}") from None


def test_web_pods_run_on_the_minions(ctl, lab: Lab, record_property) -> None:  # noqa: ANN001
    """a Deployment of the web image gets its pods Running on the minions"""
    ctl("apply -f -", workloads.web())
    pods = _wait_running(ctl, "app=web", 2)
    minions = {m.name for m in lab.plan.minions}
    assert all(p.node in minions for p in pods), [(p.name, p.node) for p in pods]
    record_property("detail", ", ".join(f"{p.name} on {p.node} ({p.ip})" for p in pods))


def test_the_service_reaches_the_pods_from_another_pod(ctl, record_property) -> None:  # noqa: ANN001
    """the web Service answers a client pod"""
    _wait_running(ctl, "app=web", 2)
    job = f"client-{int(time.time())}"
    ctl("apply -f -", workloads.client_job(job))
    done = ctl(f"-n {workloads.NAMESPACE} wait --for=condition=complete job/{job} "
               f"--timeout={WAIT}s", check=False)
    # Every pod of the Job: `logs job/X` shows only one, maybe a failed first try (a node's
    # kube-proxy can program a Service a moment after it was created; the Job then retries).
    pods = ctl(f"-n {workloads.NAMESPACE} get pods -l job-name={job} -o name",
               check=False).stdout.split()
    logs = ctl(f"-n {workloads.NAMESPACE} logs -l job-name={job} --tail=-1", check=False)
    assert done.rc == 0, f"the client job did not complete: {done.stderr.strip()[-200:]}"
    assert "Welcome to halab" in logs.stdout, logs.stdout[-200:]
    record_property("detail", f"job {job} fetched the page through the Service"
                    + (f" ({len(pods)} pods: the Job retried)" if len(pods) > 1 else ""))


def test_the_leases_are_held(ctl, record_property) -> None:  # noqa: ANN001
    """kube-controller-manager and kube-scheduler leases are held"""
    holders = kube.parse_lease_holders(ctl("-n kube-system get leases -o json").stdout)
    missing = [n for n in kube.LEASES if not holders.get(n)]
    assert not missing, f"no holder: {missing}"
    record_property("detail", ", ".join(f"{n}: {kube.holder_host(holders[n])}"
                                        for n in kube.LEASES))


def test_kubectl_exec_through_the_lb(ctl, lab: Lab, record_property) -> None:  # noqa: ANN001
    """kubectl exec works from a master (through the LB; per-node: its own apiserver)"""
    pods = _wait_running(ctl, "app=web", 2)
    r = ctl(f"-n {workloads.NAMESPACE} exec {pods[0].name} -- /bin/busybox cat /www/index.html",
            check=False)
    assert r.rc == 0 and "Welcome to halab" in r.stdout, r.stderr.strip()[-200:]
