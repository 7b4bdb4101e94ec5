"""Bearer tokens for the node components when Pound is on their path to the apiservers.

Pound terminates TLS, so a kubelet's client certificate never reaches an apiserver; an
`Authorization: Bearer` header does. kube-apiserver's --token-auth-file maps each token to the
user and group the certificate would have given (`pki.node_identities`), so the Node authorizer,
NodeRestriction and the default RBAC bindings apply unchanged. Service-account tokens would name
`system:serviceaccount:...` users, outside both; bootstrap tokens only lead to a certificate.

The tokens live beside the PKI (`tokens.yaml`, 0600) and are kept across runs like keys, so a
second `halab up` changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import yaml

from halab.render.pki import PKIStore

FILE = "tokens.yaml"


def read(store: PKIStore) -> dict[str, str]:
    path = store.directory / FILE
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


def sync(store: PKIStore, names: Iterable[str]) -> dict[str, str]:
    """A token for each of `names`: the stored one, or a new random one (128 bits)."""
    old = read(store)
    tokens = {name: old.get(name) or secrets.token_hex(16) for name in names}
    if tokens != old:
        store.save(FILE, yaml.safe_dump(tokens, sort_keys=True).encode())
    return tokens


def auth_file(tokens: dict[str, str], identities: dict[str, tuple[str, str]]) -> str:
    """kube-apiserver's --token-auth-file: `token,user,uid,"group"` per line."""
    return "".join(f'{tokens[name]},{user},{user},"{group}"\n'
                   for name, (user, group) in sorted(identities.items()))
