"""The kube nodes' files on the minions: containerd's config and the lab's image archives,
flanneld, kubelet and kube-proxy (units, configs, binaries, certificates and kubeconfigs), the
modules and sysctls pods need, and with lb.mode per-node the minion's own API proxy."""

from __future__ import annotations

from halab.artifacts import images
from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.render import pki
from halab.render.tierfiles import lb
from halab.render.tierfiles.kube_control import CA_CRT
from halab.render.tierfiles.model import (
    Binary,
    File,
    Image,
    Secret,
    Template,
    TierFiles,
    secret,
    service,
)

CONTAINERD_CONFIG = "/etc/containerd/config.toml"
FLANNEL_ENV = "/etc/default/flanneld"
FLANNEL_CNI = f"{layout.CNI_BIN_DIR}/flannel"
PROXY_KUBECONFIG = f"{layout.KUBE_PROXY_DIR}/kubeconfig"
NODE_PROXY_PEM = f"{layout.POUND_PKI}/kube-apiserver-server.pem"
KUBELET, PROXY = "kubelet", "kube-proxy"
KUBELET_CERT = "kubernetes/kubelet-{host}"  # each minion's own, in the PKI store


def node_proxy(plan: Plan, host: HostPlan) -> bool:
    return host in plan.node_proxies


def pound_proxy(plan: Plan, host: HostPlan) -> bool:
    return host in plan.node_proxies and plan.lb_kind == "pound"


KUBE_NODES = TierFiles("kube nodes", "minion", (
    File(layout.NODE_MODULES, Template("node/modules.conf.j2")),
    File(layout.NODE_SYSCTL, Template("node/sysctl.conf.j2")),
    File(FLANNEL_ENV, Template("flannel/flanneld.env.j2"), ("flanneld",)),
    *service("flanneld", "flannel/flanneld.service.j2"),
    File(f"{layout.CNI_CONF_DIR}/10-flannel.conflist", Template("flannel/10-flannel.conflist.j2")),
    File(FLANNEL_CNI, Binary("flannel")),
    File(CONTAINERD_CONFIG, Template("containerd/config.toml.j2"), ("containerd",)),
    *(File(images.remote_archive(spec), Image(spec.ref)) for spec in images.IMAGES),
    File(f"{layout.KUBELET_DIR}/kubelet-config.yaml", Template("kubelet/kubelet-config.yaml.j2"),
         (KUBELET,)),
    *service(KUBELET),
    File(CA_CRT, Secret("cert", pki.KUBE_CA), (KUBELET,)),
    File(f"{layout.KUBELET_PKI}/kubelet.crt", Secret("cert", KUBELET_CERT), (KUBELET,)),
    secret(f"{layout.KUBELET_PKI}/kubelet.key", "key", KUBELET_CERT, (KUBELET,)),
    secret(layout.KUBELET_KUBECONFIG, "kubeconfig", "kubelet-{host}", (KUBELET,)),
    File(f"{layout.KUBE_PROXY_DIR}/kube-proxy-config.yaml",
         Template("kube-proxy/kube-proxy-config.yaml.j2"), (PROXY,)),
    *service(PROXY),
    secret(PROXY_KUBECONFIG, "kubeconfig", PROXY, (PROXY,)),
    *lb.configs(node_proxy),
    # Pound serves the API on loopback with its own certificate (the lab's kube CA signs it for
    # 127.0.0.1, so kubelets verify it as they would an apiserver).
    secret(NODE_PROXY_PEM, "pem", pki.NODE_PROXY, ("pound",), when=pound_proxy,
           **lb.POUND_READS),
), needs=lambda plan: plan.kube is not None, kube=True)
