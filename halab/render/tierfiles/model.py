"""What a tier's file declaration is made of (pure): a path on the host, where its content comes
from, its mode and owner, the services its change restarts, and on which hosts it goes.

Rendering (`render.files`), the upload list (`render.desired`) and the tiers' restart triggers
(`tiers.base.Tier.services_for`) are all read off these declarations, so a path is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from halab.config import layout
from halab.config.plan import HostPlan, Plan

UNIT_DIR = "/etc/systemd/system/"


def unit(name: str) -> str:
    return f"{UNIT_DIR}{name}.service"


def kube_bin(name: str) -> str:
    return f"{layout.KUBE_BIN}/{name}"


@dataclass(frozen=True)
class Template:
    """A Jinja template under templates/, rendered per host."""

    name: str


@dataclass(frozen=True)
class Secret:
    """From the lab's PKI store: a certificate, a private key, both in one PEM (what Pound
    reads), a public key, a kubeconfig, or the node tokens' file. `{host}` in the name stands
    for the host's name."""

    kind: Literal["cert", "key", "pem", "pub", "kubeconfig", "tokens"]
    name: str = ""

    def named(self, host: str) -> str:
        return self.name.format(host=host)


@dataclass(frozen=True)
class Binary:
    """A file of the lab's Kubernetes binary cache (uploaded on its own, with a manifest)."""

    name: str


@dataclass(frozen=True)
class Image:
    """A container image archive (by image ref), imported into containerd."""

    ref: str


Source = Template | Secret | Binary | Image
When = Callable[[Plan, HostPlan], bool]


def always(plan: Plan, host: HostPlan) -> bool:
    return True


@dataclass(frozen=True)
class File:
    """One managed file: written on every host of its tier's role where `when` holds."""

    path: str
    source: Source
    restarts: tuple[str, ...] = ()  # the services that read it: its change restarts them
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    when: When = always


def secret(path: str, kind: Literal["key", "pem", "kubeconfig", "tokens"], name: str = "",
           restarts: tuple[str, ...] = (), **kw) -> File:
    """A file only root (or the group given) reads: 0600 unless told."""
    return File(path, Secret(kind, name), restarts, **{"mode": 0o600, **kw})


def service(name: str, template: str = "") -> tuple[File, File]:
    """A Kubernetes component's systemd unit (template: `<name>/<name>.service.j2`) and its
    binary, each restarting it."""
    return (File(unit(name), Template(template or f"{name}/{name}.service.j2"), (name,)),
            File(kube_bin(name), Binary(name), (name,)))


@dataclass(frozen=True)
class TierFiles:
    """One tier's declaration: its name (as `halab up` records it), the role of its hosts
    (None: every host), when a plan has it, and its files."""

    name: str
    role: str | None
    files: tuple[File, ...]
    needs: Callable[[Plan], bool] = lambda plan: True
    kube: bool = False  # left out, with its files, while the kube tiers are skipped

    def on(self, plan: Plan, host: HostPlan) -> list[File]:
        if self.role is not None and host.role != self.role:
            return []
        return [f for f in self.files if f.when(plan, host)]
