"""What halab puts on each host: rendered files, certificates and binaries, with their modes
(pure).

The runner compares these desired files with the hashes it finds on the VM, uploads only what
differs, and restarts only the services those files belong to: a second `halab up` on a healthy
lab changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from halab.artifacts import images
from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.facts import kube
from halab.render import pki, tokens
from halab.render.files import Rendered

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


def kube_bin(name: str) -> str:
    return f"{layout.KUBE_BIN}/{name}"


KP = layout.KUBE_PKI
CM_KUBECONFIG = f"{layout.KUBE_CONFIG_DIR}/kube-controller-manager.kubeconfig"
SCHED_KUBECONFIG = f"{layout.KUBE_CONFIG_DIR}/kube-scheduler.kubeconfig"
KUBELET_KUBECONFIG = f"{layout.KUBELET_DIR}/kubeconfig"
KUBELET_PKI = f"{layout.KUBELET_DIR}/pki"
PROXY_KUBECONFIG = f"{layout.KUBE_PROXY_DIR}/kubeconfig"
NODE_PROXY_PEM = f"{layout.POUND_PKI}/kube-apiserver-server.pem"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
FLANNEL_CNI = f"{layout.CNI_BIN_DIR}/flannel"

MASTER_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
MINION_BINARIES = ("kubelet", "kube-proxy", "flanneld")


def binaries_for(plan: Plan, host: HostPlan) -> dict[str, str]:
    """Remote path → file name in the binary cache, for the kube binaries this host runs."""
    if plan.kube is None:
        return {}
    if host.role == "master":
        return {kube_bin(n): n for n in MASTER_BINARIES}
    if host.role == "minion":
        return {**{kube_bin(n): n for n in MINION_BINARIES}, FLANNEL_CNI: "flannel"}
    return {}


BINARY_MANIFEST = "/var/lib/halab/kube-binaries.sha256"


def binary_manifest(hashes: dict[str, str]) -> str:
    """What was uploaded, in sha256sum's format, kept on the VM next to the binaries."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(hashes.items()))


def parse_binary_manifest(text: str) -> dict[str, str]:
    """Recorded hashes, minus the files reported as `missing PATH` (deleted since)."""
    out, missing = {}, set()
    for line in text.splitlines():
        if line.startswith("missing "):
            missing.add(line.split(" ", 1)[1].strip())
        elif "  " in line:
            digest, path = line.split("  ", 1)
            out[path.strip()] = digest
    return {p: d for p, d in out.items() if p not in missing}


def image_files(plan: Plan, host: HostPlan, archives: dict[str, bytes]) -> dict[str, FileSpec]:
    """The container image archives (by image ref) a minion imports into containerd."""
    if plan.kube is None or host.role != "minion":
        return {}
    by_ref = {spec.ref: spec for spec in images.IMAGES}
    return {images.remote_archive(by_ref[ref]): FileSpec(data) for ref, data in archives.items()}


def pki_input(plan: Plan) -> pki.LabPKIInput:
    return pki.LabPKIInput(
        lab_name=plan.lab,
        masters=[(m.name, m.ip) for m in plan.masters],
        minions=[(m.name, m.ip) for m in plan.minions],
        lb_ips=[h.ip for h in plan.lbs] + ([plan.vip] if plan.vip else []),
        service_first_ip=plan.kube.first_service_ip if plan.kube else "10.32.0.1",
        cluster_domain=plan.kube.cluster_domain if plan.kube else "cluster.local",
        kube_enabled=plan.kube is not None,
        node_proxy_tls=plan.kube is not None and plan.kube.node_tokens,
    )


def sync_secrets(plan: Plan, store: pki.PKIStore) -> pki.PKISummary:
    """Create or keep the lab's keys, certificates and (with per-node Pound) node tokens."""
    lab = pki_input(plan)
    summary = store.sync(pki.lab_certificates(lab))
    if plan.kube and plan.kube.node_tokens:
        tokens.sync(store, pki.node_identities(lab))
    return summary


def _node_tokens(plan: Plan, store: pki.PKIStore) -> dict[str, str] | None:
    if plan.kube is None or not plan.kube.node_tokens:
        return None
    found = tokens.read(store)
    missing = set(pki.node_identities(pki_input(plan))) - set(found)
    if missing:
        raise HalabError(f"no bearer token for {', '.join(sorted(missing))} in "
                         f"{store.directory / tokens.FILE}", "run `halab up` to create them")
    return found


def _secret(content: bytes, owner: str = "root", group: str = "root", mode: int = 0o600
            ) -> FileSpec:
    return FileSpec(content, mode, owner, group)


def desired_files(plan: Plan, rendered: Rendered, store: pki.PKIStore
                  ) -> dict[str, dict[str, FileSpec]]:
    """Every managed file on every host: rendered configs plus the certificates they name."""
    out: dict[str, dict[str, FileSpec]] = {}
    tls = plan.etcd.tls
    node_tokens = _node_tokens(plan, store)
    kubeconfigs = (pki.lab_kubeconfigs(pki_input(plan), store, plan.kube.master_api_url,
                                       plan.kube.node_api_url, node_tokens)
                   if plan.kube else {})
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
        if plan.kube:
            files.update(_kube_files(plan, host, store, kubeconfigs))
            if host.role == "master" and node_tokens:
                files[layout.KUBE_TOKEN_FILE] = _secret(tokens.auth_file(
                    node_tokens, pki.node_identities(pki_input(plan))).encode())
            if host in plan.node_proxies and plan.lb_kind == "pound":
                # Pound serves the API on loopback with its own certificate (the lab's kube CA
                # signs it for 127.0.0.1, so kubelets verify it as they would an apiserver).
                pem = store.read_cert_pem(pki.NODE_PROXY) + store.read_key_pem(pki.NODE_PROXY)
                files[NODE_PROXY_PEM] = _secret(pem, group="www-data", mode=0o640)
        out[host.name] = files
    return out


def _kube_files(plan: Plan, host: HostPlan, store: pki.PKIStore,
                kubeconfigs: dict[str, str]) -> dict[str, FileSpec]:
    """Certificates, keys and kubeconfigs of the kube tier (keys and kubeconfigs 0600)."""
    if host.role not in ("master", "minion"):
        return {}

    def cert(name: str) -> FileSpec:
        return FileSpec(store.read_cert_pem(name))

    def key(name: str) -> FileSpec:
        return _secret(store.read_key_pem(name))

    files = {f"{KP}/ca.crt": cert(pki.KUBE_CA)}
    if host.role == "master":
        files.update({
            f"{KP}/ca.key": key(pki.KUBE_CA),
            f"{KP}/apiserver.crt": cert("kubernetes/apiserver"),
            f"{KP}/apiserver.key": key("kubernetes/apiserver"),
            f"{KP}/apiserver-kubelet-client.crt": cert("kubernetes/apiserver-kubelet-client"),
            f"{KP}/apiserver-kubelet-client.key": key("kubernetes/apiserver-kubelet-client"),
            f"{KP}/front-proxy-ca.crt": cert(pki.FRONT_PROXY_CA),
            f"{KP}/front-proxy-client.crt": cert("front-proxy/client"),
            f"{KP}/front-proxy-client.key": key("front-proxy/client"),
            f"{KP}/service-account.pub": FileSpec(store.pub_path(pki.SERVICE_ACCOUNT)
                                                  .read_bytes()),
            f"{KP}/service-account.key": key(pki.SERVICE_ACCOUNT),
            CM_KUBECONFIG: _secret(kubeconfigs["kube-controller-manager"].encode()),
            SCHED_KUBECONFIG: _secret(kubeconfigs["kube-scheduler"].encode()),
            kube.ADMIN_KUBECONFIG: _secret(kubeconfigs["admin"].encode()),
        })
    else:
        files.update({
            f"{KUBELET_PKI}/kubelet.crt": cert(f"kubernetes/kubelet-{host.name}"),
            f"{KUBELET_PKI}/kubelet.key": key(f"kubernetes/kubelet-{host.name}"),
            KUBELET_KUBECONFIG: _secret(kubeconfigs[f"kubelet-{host.name}"].encode()),
            PROXY_KUBECONFIG: _secret(kubeconfigs["kube-proxy"].encode()),
        })
    return files


def is_unit(path: str) -> bool:
    return path.startswith(UNIT_DIR) and PurePosixPath(path).suffix == ".service"


def changed_paths(desired: dict[str, FileSpec], remote_hashes: dict[str, str]) -> list[str]:
    """Paths whose content on the VM differs from what halab wants there (or is missing)."""
    return sorted(p for p, spec in desired.items() if remote_hashes.get(p) != spec.sha256)
