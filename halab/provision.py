"""What each tier puts on each host and which services a changed file restarts (pure).

The runner compares these desired files with the hashes it finds on the VM, uploads only what
differs, and restarts only the services those files belong to: a second `halab up` on a healthy
lab changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from halab import layout, pki
from halab.plan import Plan
from halab.render import Rendered

UNIT_DIR = "/etc/systemd/system/"


@dataclass(frozen=True)
class FileSpec:
    content: bytes
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Tier:
    """One provisioning step: a role's files and services, healthy before the next tier."""

    name: str
    role: str
    services: tuple[str, ...]
    # Files (path prefixes) whose change restarts a service; everything else restarts nothing.
    triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def services_for(self, changed: list[str]) -> list[str]:
        hit = [svc for svc, prefixes in self.triggers.items()
               if any(p.startswith(prefix) for p in changed for prefix in prefixes)]
        return [s for s in self.services if s in hit]


ETCD_TIER = Tier("etcd", "master", ("etcd",),
                 {"etcd": (layout.ETCD_ENV, layout.ETCD_UNIT, layout.ETCD_PKI + "/")})
LB_SERVICES = {"nginx": (layout.NGINX_CONF,), "haproxy": (layout.HAPROXY_CONF,),
               "pound": (layout.POUND_CONF, layout.POUND_PKI + "/")}


def lb_tier(kind: str) -> Tier:
    return Tier("load balancer", "lb", (kind,), {kind: LB_SERVICES[kind]})


def tiers(plan: Plan) -> list[Tier]:
    out = [ETCD_TIER]
    if plan.lb:
        out.append(lb_tier(plan.lb_kind))
    return out


def pki_input(plan: Plan) -> pki.LabPKIInput:
    return pki.LabPKIInput(
        lab_name=plan.lab,
        masters=[(m.name, m.ip) for m in plan.masters],
        minions=[(m.name, m.ip) for m in plan.minions],
        lb_ips=[plan.lb.ip] if plan.lb else [],
        service_first_ip=plan.kube.first_service_ip if plan.kube else "10.32.0.1",
        cluster_domain=plan.kube.cluster_domain if plan.kube else "cluster.local",
        kube_enabled=plan.kube is not None,
    )


def _secret(content: bytes, owner: str = "root", group: str = "root", mode: int = 0o600
            ) -> FileSpec:
    return FileSpec(content, mode, owner, group)


def desired_files(plan: Plan, rendered: Rendered, store: pki.PKIStore
                  ) -> dict[str, dict[str, FileSpec]]:
    """Every managed file on every host: rendered configs plus the certificates they name."""
    out: dict[str, dict[str, FileSpec]] = {}
    tls = plan.etcd.tls
    if tls:
        ca = store.read_cert_pem(pki.ETCD_CA)
        client = {
            f"{layout.CLIENT_PKI}/etcd-ca.crt": FileSpec(ca),
            f"{layout.CLIENT_PKI}/etcd-client.crt": FileSpec(store.read_cert_pem("etcd/client")),
            f"{layout.CLIENT_PKI}/etcd-client.key": _secret(store.read_key_pem("etcd/client")),
        }
    for host in plan.hosts:
        files = {path: FileSpec(text.encode()) for path, text in rendered.hosts[host.name].items()}
        if tls:
            files.update(client)
            if host.role == "master":
                for kind in ("server", "peer"):
                    name = f"etcd/{host.name}-{kind}"
                    files[f"{layout.ETCD_PKI}/{kind}.crt"] = FileSpec(
                        store.read_cert_pem(name), 0o644, "etcd", "etcd")
                    files[f"{layout.ETCD_PKI}/{kind}.key"] = _secret(
                        store.read_key_pem(name), "etcd", "etcd")
                files[f"{layout.ETCD_PKI}/ca.crt"] = FileSpec(ca, 0o644, "etcd", "etcd")
            if host.role == "lb" and plan.lb_kind == "pound":
                # Pound reads one PEM with certificate and key, for listening and for backends.
                lb_pem = (store.read_cert_pem("etcd/lb-server")
                          + store.read_key_pem("etcd/lb-server"))
                cl_pem = store.read_cert_pem("etcd/client") + store.read_key_pem("etcd/client")
                files[f"{layout.POUND_PKI}/etcd-server.pem"] = _secret(lb_pem, group="www-data",
                                                                       mode=0o640)
                files[f"{layout.POUND_PKI}/etcd-client.pem"] = _secret(cl_pem, group="www-data",
                                                                       mode=0o640)
                files[f"{layout.POUND_PKI}/etcd-ca.crt"] = FileSpec(ca)
        out[host.name] = files
    return out


def is_unit(path: str) -> bool:
    return path.startswith(UNIT_DIR) and PurePosixPath(path).suffix == ".service"


def changed_paths(desired: dict[str, FileSpec], remote_hashes: dict[str, str]) -> list[str]:
    """Paths whose content on the VM differs from what halab wants there (or is missing)."""
    return sorted(p for p, spec in desired.items() if remote_hashes.get(p) != spec.sha256)
