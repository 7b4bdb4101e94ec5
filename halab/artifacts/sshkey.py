"""The installation's SSH keypair: one ed25519 key per halab installation.

Every box halab builds authorises the public half for `vagrant`, and every lab logs in with the
private half, so we never depend on Vagrant's well-known insecure key. Generated with
`cryptography` (no ssh-keygen on the path), written in OpenSSH format, private key mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from halab import home
from halab.errors import HalabError

COMMENT = "halab-installation-key"


def generate_keypair(comment: str = COMMENT) -> tuple[bytes, str]:
    """Return (private key in OpenSSH PEM, public key line `ssh-ed25519 AAAA... comment`)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return private, f"{public} {comment}"


def public_key_of(private_pem: bytes, comment: str = COMMENT) -> str:
    key = serialization.load_ssh_private_key(private_pem, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return f"{public} {comment}"


def ensure_keypair(path: Path | None = None) -> tuple[Path, str]:
    """Load the installation key at `path` (default `home.ssh_key_path()`), creating it once.

    Returns (private key path, public key line). The `.pub` file beside it is rewritten from the
    private key if missing, so the two can never disagree.
    """
    path = path or home.ssh_key_path()
    pub_path = path.with_name(path.name + ".pub")
    if path.exists():
        try:
            public = public_key_of(path.read_bytes())
        except (ValueError, TypeError) as exc:
            raise HalabError(
                f"{path} is not a readable OpenSSH private key ({exc})",
                "move it away and run again: halab creates a new installation key "
                "(then rebuild boxes with `halab box build --force`)",
            ) from exc
        if (path.stat().st_mode & 0o077) != 0:
            path.chmod(0o600)
        if not pub_path.exists() or pub_path.read_text().split()[:2] != public.split()[:2]:
            pub_path.write_text(public + "\n")
        return path, public

    private, public = generate_keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    os.replace(tmp, path)
    pub_path.write_text(public + "\n")
    return path, public


def public_key(path: Path | None = None) -> str:
    """The installation public key line (creating the keypair if needed)."""
    return ensure_keypair(path)[1]
