"""The lab's admin kubeconfig for this host's kubectl, and its `halab-<lab>` entries in the
user's kubeconfig (`halab kubeconfig --merge`, removed by `down`), edited as kind does: only
our cluster, user and context are added or removed, every other entry is kept as it was.

The document edits are pure; `write_private` is the one writer (atomic, 0600, since the file
holds a client key).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from halab.config.plan import APISERVER_PORT, Plan
from halab.errors import HalabError
from halab.render import pki
from halab.render.files import lb_services

PREFIX = "halab-"
KINDS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


def context_name(lab: str) -> str:
    return f"{PREFIX}{lab}"


def admin_server(p: Plan) -> str:
    """Where this host's kubectl goes: the LBs' VIP or the LB when it forwards the apiservers,
    else the first master (a one-master lab, or a Pound LB host that forwards etcd only)."""
    if p.kube is None:
        raise HalabError(f"lab {p.lab!r} has no Kubernetes tier, so there is no API to reach",
                         "use a lab with `kubernetes.enabled: true`, e.g. labs/seed.yaml")
    if p.lbs and any(s.name == "kube-apiserver" for s in lb_services(p)):
        return p.kube.api_url
    return f"https://{p.masters[0].ip}:{APISERVER_PORT}"


def admin_kubeconfig(p: Plan, store: pki.PKIStore) -> str:
    """A self-contained kubeconfig whose cluster, user and context are all `halab-<lab>`."""
    name = context_name(p.lab)
    return pki.kubeconfig(name, admin_server(p), store.read_cert_pem(pki.KUBE_CA), name,
                          store.read_cert_pem("kubernetes/admin"),
                          store.read_key_pem("kubernetes/admin"))


def merged(config: Mapping[str, Any] | None, ours: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with every cluster, user and context of `ours` added, or replaced by name.
    The current context is set to ours only when there is none, so the user's default stays."""
    out = _normal(config)
    for plural, _ in KINDS:
        names = {e["name"] for e in ours.get(plural) or []}
        out[plural] = [e for e in out[plural] if e.get("name") not in names] + list(
            ours.get(plural) or [])
    if not out.get("current-context"):
        out["current-context"] = ours.get("current-context", "")
    return out


def without(config: Mapping[str, Any] | None, name: str) -> tuple[dict[str, Any], bool]:
    """`config` without the cluster, user and context called `name`; whether any was there.
    A current context of that name is cleared, as kind's delete does."""
    out = _normal(config)
    found = False
    for plural, _ in KINDS:
        kept = [e for e in out[plural] if e.get("name") != name]
        found |= len(kept) != len(out[plural])
        out[plural] = kept
    if out.get("current-context") == name:
        out["current-context"] = ""
        found = True
    return out, found


def _normal(config: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    out.update(dict(config or {}))
    for plural, _ in KINDS:
        out[plural] = list(out.get(plural) or [])
    return out


def user_config_path(environ: Mapping[str, str], home: Path) -> Path:
    """The file kubectl writes to: the first of $KUBECONFIG, else ~/.kube/config."""
    first = next((f for f in environ.get("KUBECONFIG", "").split(os.pathsep) if f), None)
    return Path(first) if first else home / ".kube" / "config"


def load(path: Path) -> dict[str, Any] | None:
    """The kubeconfig at `path` (None when there is none yet); a broken one is refused whole,
    never overwritten."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HalabError(f"cannot read the kubeconfig {path}: {exc}",
                         "fix or move that file, or point KUBECONFIG at another") from None
    if doc is not None and not isinstance(doc, dict):
        raise HalabError(f"{path} is not a kubeconfig (its top level is not a mapping)",
                         "fix or move that file, or point KUBECONFIG at another")
    return doc


def dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600 (its directory made 0700 if new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
