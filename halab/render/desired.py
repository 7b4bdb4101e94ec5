"""What halab puts on each host: rendered files, certificates and binaries, with their modes
(pure).

The runner compares these desired files with the hashes it finds on the VM, uploads only what
differs, and restarts only the services those files belong to: a second `halab up` on a healthy
lab changes nothing.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.render import pki, tierfiles, tokens
from halab.render.files import Rendered
from halab.render.tierfiles.model import UNIT_DIR, Binary, Image, Secret, Template


@dataclass(frozen=True)
class FileSpec:
    content: bytes
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def binaries_for(plan: Plan, host: HostPlan) -> dict[str, str]:
    """Remote path → file name in the binary cache, for the kube binaries this host runs."""
    return {f.path: f.source.name for f in tierfiles.on_host(plan, host)
            if isinstance(f.source, Binary)}


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
    return {f.path: FileSpec(archives[f.source.ref]) for f in tierfiles.on_host(plan, host)
            if isinstance(f.source, Image)}


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


def sync_secrets(plan: Plan, store: pki.PKIStore, renew: bool = False) -> pki.PKISummary:
    """Create or keep the lab's keys, certificates and (with per-node Pound) node tokens; with
    `renew`, every leaf certificate is reissued (same key, same CA)."""
    lab = pki_input(plan)
    summary = store.sync(pki.lab_certificates(lab), renew=renew)
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


class _Secrets:
    """Reads the declared secrets from the PKI store, each once; the kubeconfigs and node tokens
    only when a listed tier has one."""

    def __init__(self, plan: Plan, store: pki.PKIStore):
        self.plan, self.store = plan, store
        self._read: dict[tuple[str, str], bytes] = {}

    def __call__(self, secret: Secret, host: str) -> bytes:
        key = (secret.kind, secret.named(host))
        if key not in self._read:
            self._read[key] = self._load(*key)
        return self._read[key]

    def _load(self, kind: str, name: str) -> bytes:
        store = self.store
        if kind == "cert":
            return store.read_cert_pem(name)
        if kind == "key":
            return store.read_key_pem(name)
        if kind == "pem":
            return store.read_cert_pem(name) + store.read_key_pem(name)
        if kind == "pub":
            return store.pub_path(name).read_bytes()
        if kind == "kubeconfig":
            return self.kubeconfigs[name].encode()
        assert kind == "tokens" and self.node_tokens is not None
        return tokens.auth_file(self.node_tokens,
                                pki.node_identities(pki_input(self.plan))).encode()

    @functools.cached_property
    def node_tokens(self) -> dict[str, str] | None:
        return _node_tokens(self.plan, self.store)

    @functools.cached_property
    def kubeconfigs(self) -> dict[str, str]:
        kube = self.plan.kube
        assert kube is not None
        return pki.lab_kubeconfigs(pki_input(self.plan), self.store, kube.master_api_url,
                                   kube.node_api_url, self.node_tokens)


def desired_files(plan: Plan, rendered: Rendered, store: pki.PKIStore, kube: bool = True
                  ) -> dict[str, dict[str, FileSpec]]:
    """Every managed file on every host, as the listed tiers declare them: the rendered
    templates and the secrets from the store (the binaries and images go up on their own).
    With `kube` off the kube tiers are not listed: none of their files, no kube secret read."""
    read = _Secrets(plan, store)
    out: dict[str, dict[str, FileSpec]] = {}
    for host in plan.hosts:
        files: dict[str, FileSpec] = {}
        for f in tierfiles.on_host(plan, host, kube):
            if isinstance(f.source, Template):
                content = rendered.hosts[host.name][f.path].encode()
            elif isinstance(f.source, Secret):
                content = read(f.source, host.name)
            else:
                continue
            files[f.path] = FileSpec(content, f.mode, f.owner, f.group)
        out[host.name] = files
    return out


CERTIFICATE_SECRETS = ("cert", "pem", "kubeconfig")


@dataclass(frozen=True)
class CertFile:
    """A file on a host that holds a certificate from the lab's PKI."""

    name: str  # the secret's name (a kubeconfig's: its identity's)
    content: bytes  # what halab wants there
    readers: tuple[str, ...]  # the services that read it (its change restarts them)


def certificate_files(plan: Plan, store: pki.PKIStore, kube: bool = True
                      ) -> dict[str, dict[str, CertFile]]:
    """Per host, every file that holds a certificate from the lab's PKI (certificates, Pound's
    PEMs, kubeconfigs), by path: what `halab certs` reads back."""
    read = _Secrets(plan, store)
    return {host.name: {f.path: CertFile(f.source.named(host.name), read(f.source, host.name),
                                         f.restarts)
                        for f in tierfiles.on_host(plan, host, kube)
                        if isinstance(f.source, Secret) and f.source.kind in CERTIFICATE_SECRETS}
            for host in plan.hosts}


def is_unit(path: str) -> bool:
    return path.startswith(UNIT_DIR) and PurePosixPath(path).suffix == ".service"


def changed_paths(desired: dict[str, FileSpec], remote_hashes: dict[str, str]) -> list[str]:
    """Paths whose content on the VM differs from what halab wants there (or is missing)."""
    return sorted(p for p, spec in desired.items() if remote_hashes.get(p) != spec.sha256)
