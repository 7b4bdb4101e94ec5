"""The certificates a lab's hosts hold, read from the files halab put there: what `halab certs
--check` prints (subject, issuer, SANs, expiry, days left, like `kubeadm certs
check-expiration`), and where each server certificate is served, so a look at the port says
whether the running component took a renewed file or still serves the old one."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from halab.config.plan import APISERVER_PORT, Plan

ETCD_CLIENT_PORT, ETCD_PEER_PORT, KUBELET_PORT = 2379, 2380, 10250
MISSING = "-"  # what the host listing prints for a file it does not have


@dataclass(frozen=True)
class CertInfo:
    """One certificate as `--check` shows it."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_after: dt.datetime
    serial: int

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


def info(cert: x509.Certificate) -> CertInfo:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple([*san.get_values_for_type(x509.DNSName),
                      *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))])
    except x509.ExtensionNotFound:
        sans = ()
    return CertInfo(_name(cert.subject), _name(cert.issuer), sans, cert.not_valid_after_utc,
                    cert.serial_number)


def from_file(content: bytes) -> CertInfo | None:
    """The leaf certificate of a file halab wrote: a PEM certificate (or Pound's certificate and
    key in one file), or a kubeconfig's client certificate. None: the file holds none (a
    kubeconfig with a bearer token). Raises ValueError on a file that does not parse."""
    if b"-----BEGIN CERTIFICATE-----" in content:
        return info(x509.load_pem_x509_certificates(content)[0])
    try:
        doc = yaml.safe_load(content)
        users = doc["users"]
        data = users[0]["user"].get("client-certificate-data")
    except (yaml.YAMLError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"neither a PEM certificate nor a kubeconfig ({exc})") from None
    if not data:
        return None
    try:
        return info(x509.load_pem_x509_certificate(base64.b64decode(data)))
    except binascii.Error as exc:
        raise ValueError(f"client-certificate-data is not base64 ({exc})") from None


def read_listing_command(paths: list[str]) -> str:
    """A shell command that prints one line per path: the path and its content in base64, or
    the path and `-` when the host has no such file (paths are halab's own, without spaces)."""
    return (f"for f in {' '.join(paths)}; do if [ -r $f ]; then echo $f $(base64 -w0 $f); "
            f"else echo $f {MISSING}; fi; done")


def parse_listing(text: str) -> dict[str, bytes | None]:
    """The output of `read_listing_command`: path → content (None: the host has no such file)."""
    out: dict[str, bytes | None] = {}
    for line in text.splitlines():
        path, _, data = line.strip().partition(" ")
        if path:
            out[path] = None if data == MISSING else base64.b64decode(data)
    return out


def started_command(paths: list[str], services: list[str]) -> str:
    """A shell command that prints `file PATH CHANGED` for each path and `service NAME START`
    for each service that runs (both in seconds since the epoch). CHANGED is the inode's change
    time: halab's uploads set every mtime to 0, and each upload is a new inode."""
    files = f"for f in {' '.join(paths)}; do [ -e $f ] && echo file $f $(stat -c %Z $f); done"
    if services:
        files += (f"; for s in {' '.join(services)}; do "
                  "t=$(systemctl show -p ExecMainStartTimestamp --value $s 2>/dev/null); "
                  "[ -n \"$t\" ] && systemctl -q is-active $s && "
                  "echo service $s $(date -d \"$t\" +%s); done")
    return files + "; true"


def stale_readers(text: str, readers: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """From `started_command`'s output: per path, the services reading it that started before
    it last changed, and so still hold what they read before (unless they read it again)."""
    mtime: dict[str, int] = {}
    start: dict[str, int] = {}
    for line in text.splitlines():
        kind, _, rest = line.strip().partition(" ")
        name, _, when = rest.partition(" ")
        if kind in ("file", "service") and when.isdigit():
            (mtime if kind == "file" else start)[name] = int(when)
    return {path: tuple(s for s in services if s in start and path in mtime
                        and start[s] < mtime[path])
            for path, services in readers.items()}


@dataclass(frozen=True)
class Endpoint:
    """Where a server certificate from the lab's PKI is served, as this host reaches it."""

    host: str  # the host that serves it
    ip: str
    port: int
    what: str  # the component, as a person names it


def served_at(plan: Plan) -> dict[str, list[Endpoint]]:
    """PKI name of each server certificate → where it is served. Pound terminates TLS on the LB
    with a certificate of its own; nginx and HAProxy pass etcd's TLS through (none of theirs).
    A per-node proxy's certificate serves loopback only, out of this host's reach."""
    out: dict[str, list[Endpoint]] = {}
    for m in plan.masters:
        out[f"etcd/{m.name}-server"] = [Endpoint(m.name, m.ip, ETCD_CLIENT_PORT, "etcd server")]
        out[f"etcd/{m.name}-peer"] = [Endpoint(m.name, m.ip, ETCD_PEER_PORT, "etcd peer")]
    if plan.lb_kind == "pound":
        out["etcd/lb-server"] = [Endpoint(h.name, h.ip, ETCD_CLIENT_PORT, "Pound (etcd)")
                                 for h in plan.lbs]
    if plan.kube:
        out["kubernetes/apiserver"] = [Endpoint(m.name, m.ip, APISERVER_PORT, "kube-apiserver")
                                       for m in plan.masters]
        for n in plan.minions:
            out[f"kubernetes/kubelet-{n.name}"] = [Endpoint(n.name, n.ip, KUBELET_PORT,
                                                            "kubelet")]
    return out


def _name(name: x509.Name) -> str:
    """CN, with O after it when there is one: `system:node:minion1 (system:nodes)`."""
    cn = [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)]
    org = [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (cn[0] if cn else name.rfc4514_string()) + (f" ({', '.join(org)})" if org else "")
