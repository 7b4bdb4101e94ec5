"""The lab's PKI, written with `cryptography` instead of shelling out to openssl or cfssl.

Three layers, so the interesting parts stay pure and testable:

* primitives (`new_key`, `CertificateAuthority`, `issue`) that build keys and certificates;
* `lab_certificates`, which says *which* certificates a lab needs (names, CNs, SANs, usages);
* `PKIStore`, the only code that touches files: it materialises the requests and, on a re-run,
  keeps every key and every certificate that still serves its request, so a second `halab up`
  reports "0 changes" and never swaps a certificate under a running cluster.

Nothing here uses the network or runs a process.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from halab.errors import HalabError

KeyKind = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

CA_DAYS = 3650
CERT_DAYS = 365
# VMs boot with clocks a little behind the host; a certificate "not yet valid" breaks TLS.
CLOCK_SKEW = dt.timedelta(minutes=5)
# A certificate this close to expiry is re-issued on the next run rather than kept.
RENEW_BEFORE = dt.timedelta(days=30)

# ── primitives ──────────────────────────────────────────────────────────────────────────────────


def new_key(kind: KeyKind = "ec") -> PrivateKey:
    """ECDSA P-256 for TLS (small, fast); RSA 2048 where a consumer insists (service accounts)."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key kind {kind!r} (expected 'ec' or 'rsa')")


def key_kind(key: PrivateKey) -> KeyKind:
    return "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ec"


def key_to_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8: what etcd, Kubernetes, flanneld and OpenSSL-based LBs all read."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_from_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def public_key_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_from_pem(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


@dataclass(frozen=True)
class CertSpec:
    """What a certificate must say. Two certificates meeting the same spec are interchangeable."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_sans: tuple[str, ...] = ()
    ip_sans: tuple[str, ...] = ()
    server: bool = False
    client: bool = False
    days: int = CERT_DAYS

    def __post_init__(self) -> None:
        # Accept lists from callers but keep the dataclass hashable and comparable.
        for name in ("organizations", "dns_sans", "ip_sans"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for ip in self.ip_sans:
            ipaddress.ip_address(ip)  # fail here, with the bad value, not deep inside x509
        if self.days <= RENEW_BEFORE.days:
            # Otherwise every run would find it "expiring soon" and re-issue it forever.
            raise ValueError(f"{self.common_name}: validity must exceed {RENEW_BEFORE.days} days")


@dataclass(frozen=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: PrivateKey

    @classmethod
    def create(
        cls,
        common_name: str,
        key: PrivateKey | None = None,
        days: int = CA_DAYS,
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """A self-signed CA. Passing the old key renews it without invalidating what it signed."""
        key = key or new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        start = _now(now) - CLOCK_SKEW
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def common_name(self) -> str:
        return _common_name(self.cert)

    @property
    def cert_pem(self) -> bytes:
        return cert_to_pem(self.cert)


def issue(
    ca: CertificateAuthority, key: PrivateKey, spec: CertSpec, now: dt.datetime | None = None
) -> x509.Certificate:
    """Sign `key`'s public half with `ca` for `spec`; `not_before` is back-dated for clock skew."""
    if not (spec.server or spec.client):
        raise ValueError(f"{spec.common_name}: a leaf certificate needs server and/or client use")
    start = _now(now) - CLOCK_SKEW
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject(spec))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=spec.days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(_ekus(spec)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
    )
    sans = [x509.DNSName(d) for d in _uniq(spec.dns_sans)]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in _uniq(spec.ip_sans)]
    if sans:  # an empty SubjectAltName extension is invalid; client certs usually have none
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def mismatch(
    cert: x509.Certificate,
    key: PrivateKey,
    spec: CertSpec,
    ca: CertificateAuthority | None,
    now: dt.datetime | None = None,
) -> str | None:
    """Why `cert` no longer serves `spec` (signed by `ca`, or self-signed CA when None), or None.

    Validity length is deliberately not compared: changing `days` takes effect at renewal.
    """
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return "certificate does not match its key"
    if cert.subject != (_ca_subject(spec) if ca is None else _subject(spec)):
        return "subject (CN/O) changed"
    try:
        cert.verify_directly_issued_by(cert if ca is None else ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not signed by the current CA"
    if ca is None:
        if not _basic_constraints(cert).ca:
            return "not a CA certificate"
    else:
        if _sans(cert) != _spec_sans(spec):
            return "subject alternative names changed"
        if _cert_ekus(cert) != set(_ekus(spec)):
            return "extended key usage changed"
    if cert.not_valid_after_utc - _now(now) < RENEW_BEFORE:
        return f"expires within {RENEW_BEFORE.days} days"
    return None


# ── what a lab needs ────────────────────────────────────────────────────────────────────────────

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")


@dataclass(frozen=True)
class CertRequest:
    """One named item of the lab's PKI; `name` is also its path under the store (no extension).

    kind "ca": self-signed CA from `spec.common_name`/`spec.days`; "cert": leaf signed by the CA
    request named `issuer`; "keypair": a bare key (plus `.pub`), e.g. for service-account tokens.
    """

    name: str
    kind: Literal["ca", "cert", "keypair"]
    spec: CertSpec | None = None
    issuer: str | None = None
    key_kind: KeyKind = "ec"

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"bad PKI name {self.name!r}")  # it becomes a path: no '..', no '/'
        if (self.kind == "keypair") != (self.spec is None):
            raise ValueError(f"{self.name}: a spec is required exactly for 'ca' and 'cert'")
        if (self.kind == "cert") != (self.issuer is not None):
            raise ValueError(f"{self.name}: an issuer is required exactly for 'cert'")


@dataclass(frozen=True)
class LabPKIInput:
    """The slice of the lab plan the PKI depends on; anything else changing leaves it alone."""

    lab_name: str
    masters: Sequence[tuple[str, str]]  # (name, ip)
    minions: Sequence[tuple[str, str]]  # (name, ip)
    lb_ips: Sequence[str] = ()
    service_first_ip: str = "10.32.0.1"
    cluster_domain: str = "cluster.local"
    kube_enabled: bool = True
    # lb.mode per-node with Pound: Pound on each minion serves the API on loopback with a
    # certificate of its own (it terminates TLS).
    node_proxy_tls: bool = False


ETCD_CA, KUBE_CA, FRONT_PROXY_CA = "etcd-ca", "kubernetes-ca", "front-proxy-ca"
SERVICE_ACCOUNT = "kubernetes/service-account"
NODE_PROXY = "kubernetes/node-proxy"


def lab_certificates(lab: LabPKIInput) -> list[CertRequest]:
    """Every key and certificate the lab needs, CAs first (the store issues in list order).

    One `etcd/client` serves etcdctl, the LB health checks, flanneld and kube-apiserver: etcd
    runs without its own RBAC, so separate client identities would grant nothing different.
    """
    lb = tuple(lab.lb_ips)
    reqs = [_ca(ETCD_CA, f"{lab.lab_name}-etcd-ca")]
    for name, ip in lab.masters:
        # Clients reach etcd through the TCP load balancer (TLS passthrough): LB IPs are SANs.
        server = CertSpec(name, dns_sans=(name, "localhost"), ip_sans=(ip, "127.0.0.1", *lb),
                          server=True, client=True)
        peer = CertSpec(name, dns_sans=(name,), ip_sans=(ip,), server=True, client=True)
        reqs += [_cert(f"etcd/{name}-server", ETCD_CA, server),
                 _cert(f"etcd/{name}-peer", ETCD_CA, peer)]
    reqs.append(_cert("etcd/client", ETCD_CA, CertSpec("halab-etcd-client", client=True)))
    if lb:
        # An HTTP-terminating LB (Pound) serves etcd's port with a certificate of its own.
        lb_spec = CertSpec("halab-lb", ip_sans=lb, server=True)
        reqs.append(_cert("etcd/lb-server", ETCD_CA, lb_spec))
    if not lab.kube_enabled:
        return reqs

    reqs += [_ca(KUBE_CA, f"{lab.lab_name}-kubernetes-ca"),
             _ca(FRONT_PROXY_CA, f"{lab.lab_name}-front-proxy-ca")]
    apiserver = CertSpec(
        "kube-apiserver",
        dns_sans=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                  f"kubernetes.default.svc.{lab.cluster_domain}", "localhost",
                  *(name for name, _ in lab.masters)),
        ip_sans=(*(ip for _, ip in lab.masters), *lb, lab.service_first_ip, "127.0.0.1"),
        server=True,
    )
    reqs.append(_cert("kubernetes/apiserver", KUBE_CA, apiserver))
    clients = [  # (name, CN, O)
        ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        ("admin", "admin", "system:masters"),
        ("kube-controller-manager", "system:kube-controller-manager", None),
        ("kube-scheduler", "system:kube-scheduler", None),
        ("kube-proxy", "system:kube-proxy", "system:node-proxier"),
    ]
    for name, cn, org in clients:
        spec = CertSpec(cn, organizations=(org,) if org else (), client=True)
        reqs.append(_cert(f"kubernetes/{name}", KUBE_CA, spec))
    for name, ip in lab.minions:
        kubelet = CertSpec(f"system:node:{name}", organizations=("system:nodes",),
                           dns_sans=(name,), ip_sans=(ip,), server=True, client=True)
        reqs.append(_cert(f"kubernetes/kubelet-{name}", KUBE_CA, kubelet))
    if lab.node_proxy_tls:
        local = CertSpec("halab-node-proxy", dns_sans=("localhost",), ip_sans=("127.0.0.1",),
                         server=True)
        reqs.append(_cert(NODE_PROXY, KUBE_CA, local))
    front = CertSpec("front-proxy-client", client=True)
    reqs.append(_cert("front-proxy/client", FRONT_PROXY_CA, front))
    reqs.append(CertRequest(SERVICE_ACCOUNT, "keypair", key_kind="rsa"))
    return reqs


# ── files ───────────────────────────────────────────────────────────────────────────────────────


@dataclass
class PKISummary:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reissued: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # reissued name -> why

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reissued)

    def __str__(self) -> str:
        if not self.changed:
            return f"0 changes ({len(self.kept)} kept)"
        parts = [f"{len(self.created)} created", f"{len(self.reissued)} reissued"]
        parts += [f"{n}: {self.reasons[n]}" for n in self.reissued]
        return ", ".join(parts) + f", {len(self.kept)} kept"


class PKIStore:
    """`<dir>/<name>.crt`, `<name>.key` (0600), `<name>.pub`; directories 0700; atomic writes."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def cert_path(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key_path(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def pub_path(self, name: str) -> Path:
        return self.directory / f"{name}.pub"

    def read_cert_pem(self, name: str) -> bytes:
        return self._read(self.cert_path(name))

    def read_key_pem(self, name: str) -> bytes:
        return self._read(self.key_path(name))

    def load_ca(self, name: str) -> CertificateAuthority:
        return CertificateAuthority(
            cert_from_pem(self.read_cert_pem(name)), key_from_pem(self.read_key_pem(name))
        )

    def sync(self, requests: Iterable[CertRequest], now: dt.datetime | None = None,
             renew: bool = False) -> PKISummary:
        """Make the files match `requests`, keeping every key and every still-good certificate;
        with `renew`, every leaf certificate is reissued all the same (`halab certs --renew`):
        same key, same CA, a new serial and validity."""
        summary = PKISummary()
        cas: dict[str, CertificateAuthority] = {}
        self._mkdir(self.directory)
        for req in requests:
            key, key_problem = self._ensure_key(req)
            if req.kind == "keypair":
                status, reason = self._sync_pub(req, key, key_problem)
            else:
                status, reason, cert = self._sync_cert(req, key, key_problem, cas, now,
                                                       renew and req.kind == "cert")
                if req.kind == "ca":
                    cas[req.name] = CertificateAuthority(cert, key)
            getattr(summary, status).append(req.name)
            if status == "reissued":
                summary.reasons[req.name] = reason or "?"
        return summary

    def _ensure_key(self, req: CertRequest) -> tuple[PrivateKey, str | None]:
        """The existing key if usable (re-issuing keeps keys), else a new one and why."""
        path = self.key_path(req.name)
        problem = None
        if path.exists():
            try:
                key = key_from_pem(path.read_bytes())
                if key_kind(key) == req.key_kind:
                    path.chmod(0o600)
                    return key, None
                problem = f"key is {key_kind(key)}, wanted {req.key_kind}"
            except ValueError:
                problem = "key unreadable"
        key = new_key(req.key_kind)
        self._write(path, key_to_pem(key), 0o600)
        return key, problem

    def _sync_pub(
        self, req: CertRequest, key: PrivateKey, key_problem: str | None
    ) -> tuple[str, str | None]:
        path = self.pub_path(req.name)
        pub = public_key_pem(key)
        existed = path.exists()
        if existed and path.read_bytes() == pub:
            return "kept", None
        self._write(path, pub, 0o644)
        if not existed:
            return "created", None
        return "reissued", key_problem or "public key did not match the private key"

    def _sync_cert(
        self,
        req: CertRequest,
        key: PrivateKey,
        key_problem: str | None,
        cas: dict[str, CertificateAuthority],
        now: dt.datetime | None,
        renew: bool = False,
    ) -> tuple[str, str | None, x509.Certificate]:
        """(created | kept | reissued, why, certificate); CAs are renewed with their old key."""
        spec = req.spec
        assert spec is not None
        if req.kind == "cert" and req.issuer not in cas:
            raise ValueError(f"{req.name}: issuer {req.issuer!r} must come earlier in the list")
        ca = cas.get(req.issuer) if req.kind == "cert" else None
        path = self.cert_path(req.name)
        existed = path.exists()
        reason = key_problem
        if existed and reason is None:
            try:
                cert = cert_from_pem(path.read_bytes())
                reason = mismatch(cert, key, spec, ca, now)
            except ValueError:
                reason = "certificate unreadable"
            if reason is None and not renew:
                return "kept", None, cert
            reason = reason or "renewed on request"
        if ca is None:
            cert = CertificateAuthority.create(spec.common_name, key, spec.days, now).cert
        else:
            cert = issue(ca, key, spec, now)
        self._write(path, cert_to_pem(cert), 0o644)
        return ("reissued" if existed else "created"), reason, cert

    def save(self, name: str, data: bytes, mode: int = 0o600) -> None:
        """Another secret kept with the PKI (`tokens.yaml`), written the same atomic way."""
        self._write(self.directory / name, data, mode)

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise HalabError(
                f"missing PKI file {path}", "run `halab up` to create the lab PKI"
            ) from None

    def _mkdir(self, directory: Path) -> None:
        d = self.directory
        for part in ("", *directory.relative_to(self.directory).parts):
            d = d / part
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            d.chmod(0o700)  # mkdir's mode is filtered by the umask; chmod is not

    def _write(self, path: Path, data: bytes, mode: int) -> None:
        """temp file + rename: a cut-off run leaves the old file or the new one, never half."""
        self._mkdir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


# ── kubeconfigs ─────────────────────────────────────────────────────────────────────────────────


def kubeconfig(
    cluster_name: str,
    server_url: str,
    ca_pem: bytes | str,
    user: str,
    client_cert_pem: bytes | str = b"",
    client_key_pem: bytes | str = b"",
    token: str | None = None,
) -> str:
    """A self-contained kubeconfig (credentials embedded), so it can be copied anywhere alone.
    With `token`, the user is a bearer token instead of a client certificate."""
    creds = ({"token": token} if token is not None else {
        "client-certificate-data": _b64(client_cert_pem),
        "client-key-data": _b64(client_key_pem)})
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {
            "certificate-authority-data": _b64(ca_pem), "server": server_url}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def node_identities(lab: LabPKIInput) -> dict[str, tuple[str, str]]:
    """The node components' identities, {kubeconfig name: (user, group)}: the same a client
    certificate gives them (CN, O), so the Node authorizer, NodeRestriction and the default
    RBAC bindings treat a token exactly as the certificate."""
    out = {"kube-proxy": ("system:kube-proxy", "system:node-proxier")}
    out.update({f"kubelet-{m}": (f"system:node:{m}", "system:nodes") for m, _ in lab.minions})
    return out


def lab_kubeconfigs(lab: LabPKIInput, store: PKIStore, master_url: str,
                    node_url: str | None = None, tokens: dict[str, str] | None = None
                    ) -> dict[str, str]:
    """Kubeconfigs for admin, the control-plane clients and each kubelet, read from `store`.

    Keys: admin, kube-controller-manager, kube-scheduler, kube-proxy, kubelet-<minion>. The
    node ones (kube-proxy, kubelets) use `node_url` (default: `master_url`) and, where `tokens`
    has their name, a bearer token instead of their certificate.
    """
    if not lab.kube_enabled:
        return {}
    ca_pem = store.read_cert_pem(KUBE_CA)
    nodes = node_identities(lab)
    out = {}
    for name in ["admin", "kube-controller-manager", "kube-scheduler", *nodes]:
        url = (node_url or master_url) if name in nodes else master_url
        if tokens and name in tokens:
            out[name] = kubeconfig(lab.lab_name, url, ca_pem, nodes[name][0],
                                   token=tokens[name])
            continue
        cert_pem = store.read_cert_pem(f"kubernetes/{name}")
        user = _common_name(cert_from_pem(cert_pem))
        out[name] = kubeconfig(lab.lab_name, url, ca_pem, user, cert_pem,
                               store.read_key_pem(f"kubernetes/{name}"))
    return out


# ── helpers ─────────────────────────────────────────────────────────────────────────────────────


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _uniq(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _ca(name: str, common_name: str) -> CertRequest:
    return CertRequest(name, "ca", CertSpec(common_name, days=CA_DAYS))


def _cert(name: str, issuer: str, spec: CertSpec) -> CertRequest:
    return CertRequest(name, "cert", spec, issuer)


def _subject(spec: CertSpec) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in _uniq(spec.organizations)]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)])


def _ca_subject(spec: CertSpec) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)])


def _common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_encipherment=not ca, key_cert_sign=ca, crl_sign=ca,
        content_commitment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False,
    )


def _ekus(spec: CertSpec) -> list[x509.ObjectIdentifier]:
    return [oid for oid, on in ((ExtendedKeyUsageOID.SERVER_AUTH, spec.server),
                                (ExtendedKeyUsageOID.CLIENT_AUTH, spec.client)) if on]


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return x509.BasicConstraints(ca=False, path_length=None)


def _cert_ekus(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def _sans(cert: x509.Certificate) -> tuple[set[str], set[IPAddr]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(san.get_values_for_type(x509.DNSName)), set(san.get_values_for_type(x509.IPAddress))


def _spec_sans(spec: CertSpec) -> tuple[set[str], set[IPAddr]]:
    return set(spec.dns_sans), {ipaddress.ip_address(i) for i in spec.ip_sans}


def _b64(pem: bytes | str) -> str:
    return base64.b64encode(pem.encode() if isinstance(pem, str) else pem).decode()
