"""Files on every host: the lab's /etc/hosts, etcdctl's profile and, with TLS, the etcd client
identity (etcdctl, the LB's health checks, kube-apiserver and flanneld use it)."""

from __future__ import annotations

from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.render import pki
from halab.render.tierfiles.model import File, Secret, Template, TierFiles, secret

ETCD_CLIENTS = ("kube-apiserver", "flanneld")


def tls(plan: Plan, host: HostPlan) -> bool:
    return plan.etcd.tls


COMMON = TierFiles("common", None, (
    File("/etc/hosts", Template("common/hosts.j2")),
    File(layout.ETCDCTL_PROFILE, Template("etcd/etcdctl.sh.j2")),
    File(f"{layout.CLIENT_PKI}/etcd-ca.crt", Secret("cert", pki.ETCD_CA), ETCD_CLIENTS, when=tls),
    File(f"{layout.CLIENT_PKI}/etcd-client.crt", Secret("cert", "etcd/client"), ETCD_CLIENTS,
         when=tls),
    secret(f"{layout.CLIENT_PKI}/etcd-client.key", "key", "etcd/client", ETCD_CLIENTS,
           when=tls),
))
