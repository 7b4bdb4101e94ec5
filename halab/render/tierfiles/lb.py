"""The load-balancer tier's files on the LB hosts: the config of the lab's LB kind, keepalived's
with a VIP, and Pound's PEMs (certificate and key in one file) for etcd with TLS.

`configs(where)` is the LB config declared once, for the LB hosts here and for the minions'
own API proxy (lb.mode per-node) in the kube nodes tier."""

from __future__ import annotations

from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.render import pki
from halab.render.tierfiles.model import File, Secret, Template, TierFiles, When, always, secret

# The LB kind → its config file and template.
CONFIGS = {
    "nginx": (layout.NGINX_CONF, "nginx/nginx.conf.j2"),
    "pound": (layout.POUND_CONF, "pound/pound.cfg.j2"),
    "haproxy": (layout.HAPROXY_CONF, "haproxy/haproxy.cfg.j2"),
}
POUND_READS = {"group": "www-data", "mode": 0o640}


def configs(where: When = always) -> tuple[File, ...]:
    """The config of the plan's LB kind, on the hosts `where` picks; it restarts that kind."""
    def picks(kind: str) -> When:
        return lambda plan, host: plan.lb_kind == kind and where(plan, host)
    return tuple(File(path, Template(template), (kind,), when=picks(kind))
                 for kind, (path, template) in CONFIGS.items())


def vip(plan: Plan, host: HostPlan) -> bool:
    return plan.vip is not None


def pound_tls(plan: Plan, host: HostPlan) -> bool:
    return plan.lb_kind == "pound" and plan.etcd.tls


LB = TierFiles("load balancer", "lb", (
    *configs(),
    File(layout.KEEPALIVED_CONF, Template("keepalived/keepalived.conf.j2"), ("keepalived",),
         when=vip),
    # Pound reads one PEM with certificate and key, for listening and for backends.
    secret(f"{layout.POUND_PKI}/etcd-server.pem", "pem", "etcd/lb-server", ("pound",),
           when=pound_tls, **POUND_READS),
    secret(f"{layout.POUND_PKI}/etcd-client.pem", "pem", "etcd/client", ("pound",),
           when=pound_tls, **POUND_READS),
    File(f"{layout.POUND_PKI}/etcd-ca.crt", Secret("cert", pki.ETCD_CA), ("pound",),
         when=pound_tls),
), needs=lambda plan: plan.lb is not None)
