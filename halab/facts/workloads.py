"""Kubernetes objects halab creates to check a lab: a web Deployment, its Service, a client Job.

Pure: each function returns a manifest (YAML) that `kubectl apply -f -` takes on a master. The
images are the lab's own (`halab.artifacts.images`), never pulled.
"""

from __future__ import annotations

import yaml

from halab.artifacts import images

NAMESPACE = "halab-verify"


def _dump(*docs: dict) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def namespace() -> str:
    return _dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})


def web(name: str = "web", replicas: int = 2, node_port: int | None = None,
        budget: bool = False, grace: int = 2) -> str:
    """A Deployment of the web image, spread over the minions, and a Service in front of it
    (a NodePort one with `node_port`); with `budget`, a PodDisruptionBudget that keeps at
    least one of its pods through a drain. A pod told to stop serves `grace` seconds more:
    a workload that must survive a drain needs the time every node's kube-proxy takes to stop
    sending it new connections (Kubernetes' docs advise a preStop sleep for it)."""
    labels = {"app": name}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            # busybox httpd is PID 1 and ignores SIGTERM: it serves until killed after `grace`
            # (the default 30 s would slow every drill's clean-up).
            "terminationGracePeriodSeconds": grace,
            "containers": [{"name": "web", "image": images.WEB.ref, "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 80}]}],
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}],
        },
    }
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                           "template": pod}}
    port: dict = {"port": 80, "targetPort": 80}
    spec: dict = {"selector": labels, "ports": [port]}
    if node_port is not None:
        spec["type"], port["nodePort"] = "NodePort", node_port
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}
    if not budget:
        return _dump(deployment, service)
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}}
    return _dump(deployment, service, pdb)


def client_job(name: str, service: str = "web") -> str:
    """A pod that fetches the Service's page once; the lab has no DNS, so it uses the Service's
    environment variables (set for Services that exist before the pod)."""
    env = service.upper().replace("-", "_")
    # No `-T`: this busybox's wget segfaults with a timeout; the Job's deadline bounds it.
    fetch = f"/bin/busybox wget -q -O - http://${env}_SERVICE_HOST:${env}_SERVICE_PORT/"
    return _dump({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 180, "ttlSecondsAfterFinished": 600,
                 "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "client", "image": images.WEB.ref,
                            "imagePullPolicy": "Never",
                            "command": ["/bin/busybox", "sh", "-c", fetch]}]}}},
    })
