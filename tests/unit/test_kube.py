"""Kubernetes pure logic: kubectl output parsing, node/lease verdicts, the check workloads."""

from __future__ import annotations

import json

import pytest
import yaml

from halab.artifacts import images
from halab.facts import kube, workloads

pytestmark = pytest.mark.unit


def node(name: str, ready: str = "True", ip: str = "192.168.33.31") -> dict:
    return {"metadata": {"name": name}, "spec": {},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": ready}],
                       "addresses": [{"type": "InternalIP", "address": ip},
                                     {"type": "Hostname", "address": name}]}}


def test_nodes_ready_and_registered_exactly_the_minions() -> None:
    nodes = kube.parse_nodes(json.dumps({"items": [node("minion1"), node("minion2", "False")]}))
    assert nodes[0] == kube.Node("minion1", True, False, "192.168.33.31")
    assert kube.node_problems(nodes, ["minion1", "minion2", "minion3"]) == [
        "minion3 is not registered", "minion2 is not Ready"]
    master = kube.parse_nodes(json.dumps({"items": [node("master1")]}))
    assert kube.node_problems(master, []) == ["master1 is registered but is not a minion"]


def test_lease_holders_and_their_hosts() -> None:
    text = json.dumps({"items": [
        {"metadata": {"name": "kube-scheduler"},
         "spec": {"holderIdentity": "master2_0d4bd5a3-3bcb-4c43-9f70-5e5f41ed2ba1"}},
        {"metadata": {"name": "kube-controller-manager"}, "spec": {}}]})
    holders = kube.parse_lease_holders(text)
    assert holders == {"kube-scheduler": "master2_0d4bd5a3-3bcb-4c43-9f70-5e5f41ed2ba1",
                       "kube-controller-manager": ""}
    assert kube.holder_host(holders["kube-scheduler"]) == "master2"


def test_lease_records_carry_the_renewal_time_and_an_empty_holder_after_a_release() -> None:
    text = json.dumps({"items": [
        {"metadata": {"name": "kube-scheduler"},
         "spec": {"holderIdentity": "master3_9a1c", "renewTime": "2026-11-22T09:58:01.123456Z"}},
        {"metadata": {"name": "kube-controller-manager"},
         "spec": {"holderIdentity": "", "renewTime": "2026-11-22T09:58:02.000000Z"}}]})
    assert kube.parse_lease_records(text) == {
        "kube-scheduler": ("master3", "2026-11-22T09:58:01.123456Z"),
        "kube-controller-manager": ("", "2026-11-22T09:58:02.000000Z")}


def test_pods_phase_readiness_and_node() -> None:
    text = json.dumps({"items": [{
        "metadata": {"name": "web-1"}, "spec": {"nodeName": "minion1"},
        "status": {"phase": "Running", "podIP": "10.200.5.2",
                   "conditions": [{"type": "Ready", "status": "True"}]}}]})
    assert kube.parse_pods(text) == [kube.Pod("web-1", "Running", True, "minion1", "10.200.5.2")]


def test_kubectl_runs_through_the_admin_kubeconfig() -> None:
    assert kube.kubectl("get nodes").startswith(
        "/usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig")


def test_web_workload_uses_the_local_image_never_pulled() -> None:
    deployment, service = yaml.safe_load_all(workloads.web("web-next", 3))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == images.WEB.ref and container["imagePullPolicy"] == "Never"
    assert deployment["spec"]["replicas"] == 3
    assert service["spec"]["selector"] == {"app": "web-next"}
    assert deployment["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 2
    drained = next(yaml.safe_load_all(workloads.web("upgrade-web", 2, 30081, True, grace=10)))
    assert drained["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 10


def test_client_job_reaches_the_service_through_its_environment() -> None:
    job = yaml.safe_load(workloads.client_job("client-1", "web-next"))
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "http://$WEB_NEXT_SERVICE_HOST:$WEB_NEXT_SERVICE_PORT/" in command[-1]
