"""The kube control plane's files on the masters: the units and binaries of kube-apiserver,
kube-controller-manager and kube-scheduler, the cluster's CAs and keys (only masters sign),
their kubeconfigs and the admin's, flannel's network, and with per-node Pound the node tokens."""

from __future__ import annotations

from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.facts import kube
from halab.render import pki
from halab.render.tierfiles.model import (
    Binary,
    File,
    Secret,
    Template,
    TierFiles,
    kube_bin,
    secret,
    service,
)

KP = layout.KUBE_PKI
CA_CRT = f"{KP}/ca.crt"
CM_KUBECONFIG = f"{layout.KUBE_CONFIG_DIR}/kube-controller-manager.kubeconfig"
SCHED_KUBECONFIG = f"{layout.KUBE_CONFIG_DIR}/kube-scheduler.kubeconfig"
APISERVER, CM, SCHEDULER = "kube-apiserver", "kube-controller-manager", "kube-scheduler"
# Every file under the kube PKI restarts both: the apiserver and the controller-manager (which
# signs with the CA and the service-account key) read them.
SIGNERS = (APISERVER, CM)


def node_tokens(plan: Plan, host: HostPlan) -> bool:
    return plan.kube is not None and plan.kube.node_tokens


def _pki(name: str, cert: str) -> tuple[File, File]:
    return (File(f"{KP}/{name}.crt", Secret("cert", cert), SIGNERS),
            secret(f"{KP}/{name}.key", "key", cert, SIGNERS))


KUBE_CONTROL = TierFiles("kube control plane", "master", (
    *service(APISERVER), *service(CM), *service(SCHEDULER),
    File(kube_bin("kubectl"), Binary("kubectl")),
    File(f"{layout.KUBE_CONFIG_DIR}/kube-scheduler.yaml",
         Template("kube-scheduler/kube-scheduler.yaml.j2"), (SCHEDULER,)),
    File(layout.FLANNEL_NETWORK_JSON, Template("flannel/network.json.j2")),
    File(CA_CRT, Secret("cert", pki.KUBE_CA), SIGNERS),
    secret(f"{KP}/ca.key", "key", pki.KUBE_CA, SIGNERS),
    *_pki("apiserver", "kubernetes/apiserver"),
    *_pki("apiserver-kubelet-client", "kubernetes/apiserver-kubelet-client"),
    File(f"{KP}/front-proxy-ca.crt", Secret("cert", pki.FRONT_PROXY_CA), SIGNERS),
    *_pki("front-proxy-client", "front-proxy/client"),
    File(f"{KP}/service-account.pub", Secret("pub", pki.SERVICE_ACCOUNT), SIGNERS),
    secret(f"{KP}/service-account.key", "key", pki.SERVICE_ACCOUNT, SIGNERS),
    secret(CM_KUBECONFIG, "kubeconfig", CM, (CM,)),
    secret(SCHED_KUBECONFIG, "kubeconfig", SCHEDULER, (SCHEDULER,)),
    secret(kube.ADMIN_KUBECONFIG, "kubeconfig", "admin"),
    secret(layout.KUBE_TOKEN_FILE, "tokens", restarts=SIGNERS, when=node_tokens),
), needs=lambda plan: plan.kube is not None, kube=True)
