"""Each lab host's SSH host key, made by halab as it makes the TLS certificates, and pinned.

The key (ed25519) is kept in the lab's PKI, `pki/ssh/<host>_ed25519` (0600, made once and kept
across runs), installed into the host before halab first logs in (the providers do that), and
listed in the lab's own `known_hosts`, which the lab's ssh_config, Fabric and testinfra check
against. A host that presents any other key is refused. No process, no network here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from halab.render.pki import PKIStore

KEY_DIR = "ssh"  # under the lab's PKI directory
KNOWN_HOSTS = "known_hosts"  # in the lab's directory, beside ssh_config
GUEST_KEY = "/etc/ssh/ssh_host_ed25519_key"


@dataclass(frozen=True)
class HostKey:
    private: bytes  # OpenSSH PEM, as sshd reads it
    public: str  # "ssh-ed25519 AAAA…"

    def files(self, host: str) -> dict[str, tuple[bytes, int]]:
        """What goes into the host: path → (content, mode)."""
        return {GUEST_KEY: (self.private, 0o600),
                f"{GUEST_KEY}.pub": (f"{self.public} root@{host}\n".encode(), 0o644)}


def name(host: str) -> str:
    """The key's name in the PKI store."""
    return f"{KEY_DIR}/{host}_ed25519"


def key_path(pki_dir: Path, host: str) -> Path:
    return Path(pki_dir) / name(host)


def _public(private: bytes) -> str:
    key = serialization.load_ssh_private_key(private, password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def new_private() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption())


def read(pki_dir: Path, host: str) -> HostKey | None:
    """The host's key as kept, or None when there is none (or it cannot be read)."""
    path = key_path(pki_dir, host)
    try:
        private = path.read_bytes()
        return HostKey(private, _public(private))
    except (OSError, ValueError, TypeError):
        return None


def ensure(store: PKIStore, hosts: Iterable[str]) -> tuple[dict[str, HostKey], list[str]]:
    """Each host's key, made when missing (or unreadable) and kept otherwise; also the hosts
    whose key was made now."""
    keys, made = {}, []
    for host in hosts:
        key = read(store.directory, host)
        if key is None:
            store.save(name(host), new_private(), 0o600)
            made.append(host)
            key = read(store.directory, host)
        assert key is not None
        key_path(store.directory, host).chmod(0o600)
        keys[host] = key
    return keys, made


def known_hosts(addresses: Iterable[tuple[str, str]], keys: dict[str, HostKey]) -> str:
    """One plain line per host, for its name and its address: `(name, ip)` pairs."""
    return "".join(f"{host},{ip} {keys[host].public}\n" for host, ip in addresses)
