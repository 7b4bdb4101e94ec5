"""Plan → files: every host's configuration, as it will be on the hosts, plus the provider's
own files (a Vagrantfile) that it is given.

`render()` is pure and deterministic (same plan, byte-identical output). `write()` puts the result
under `.halab/<lab>/` atomically, so a failed render never leaves a half-updated lab directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from halab.artifacts import images
from halab.config import layout
from halab.config.plan import APISERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, HostPlan, Plan
from halab.home import data_root
from halab.render import tierfiles
from halab.render.tierfiles.model import Template

SANDBOX_IMAGE = images.PAUSE.ref


@dataclass(frozen=True)
class LBService:
    """One port the load balancer forwards to every master."""

    name: str
    port: int
    tls: bool
    # Where it listens: every address on an LB host, loopback for a minion's own API proxy.
    address: str = "0.0.0.0"


@dataclass(frozen=True)
class Rendered:
    hosts: dict[str, dict[str, str]]  # host -> {absolute path on the VM -> text}
    lab_files: dict[str, str] = field(default_factory=dict)  # the provider's: 'Vagrantfile'

    def files(self) -> dict[str, str]:
        """Every file relative to the lab directory: 'Vagrantfile', 'hosts/<h>/etc/...'."""
        out = dict(self.lab_files)
        for host, files in self.hosts.items():
            for path, text in files.items():
                out[f"hosts/{host}{path}"] = text
        return out


def environment() -> jinja2.Environment:
    """Templates from `templates/` (and the project root, for a provider's `Vagrantfile.j2`)."""
    root = data_root()  # the checkout or an install's share/halab/; a HalabError if neither
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(root / "templates"), str(root)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def lb_services(plan: Plan) -> list[LBService]:
    """The ports the LB hosts forward. A Pound LB host forwards etcd only: through it, every
    client would reach the apiservers as Pound's certificate (a kube lab puts Pound on the
    minions instead, with lb.mode per-node)."""
    services = [LBService("etcd", ETCD_CLIENT_PORT, plan.etcd.tls)]
    if plan.kube and plan.lb_kind != "pound":
        services.append(LBService("kube-apiserver", APISERVER_PORT, True))
    return services


def node_proxy_services() -> list[LBService]:
    """A minion's own API proxy (lb.mode per-node): the apiservers only, on loopback."""
    return [LBService("kube-apiserver", APISERVER_PORT, True, address="127.0.0.1")]


def flannel_etcd_endpoints(plan: Plan) -> str:
    """flanneld speaks gRPC to etcd: through a TCP LB it is fine, through Pound it is not."""
    if plan.lb_kind == "pound" or plan.lb is None:
        return ",".join(plan.etcd.member_client_urls)
    return plan.etcd.client_url


@dataclass(frozen=True)
class Vrrp:
    """One LB host's part in the VIP pair: lb1 is preferred (highest priority), then lb2..."""

    router_id: int  # 1–255, the same on every LB of the lab
    priority: int
    password: str  # VRRP's PASS authentication takes 8 characters
    peers: tuple[HostPlan, ...]


def vrrp(plan: Plan, host: HostPlan) -> Vrrp:
    digest = hashlib.sha256(plan.lab.encode()).hexdigest()
    index = [h.name for h in plan.lbs].index(host.name)
    return Vrrp(router_id=int(digest[:4], 16) % 255 + 1, priority=150 - 10 * index,
                password=digest[4:12], peers=tuple(h for h in plan.lbs if h.name != host.name))


def context(plan: Plan) -> dict[str, object]:
    """What every template sees."""
    return {
        "plan": plan, "etcd": plan.etcd, "kube": plan.kube, "layout": layout,
        "ports": {"etcd_client": ETCD_CLIENT_PORT, "etcd_peer": ETCD_PEER_PORT,
                  "apiserver": APISERVER_PORT},
        "services": lb_services(plan), "backends": plan.masters,
        "flannel_etcd_endpoints": flannel_etcd_endpoints(plan),
        "sandbox_image": SANDBOX_IMAGE,
    }


def render(plan: Plan, lab_files: dict[str, str] | None = None) -> Rendered:
    """Every host's templates, as its tiers declare them (`render.tierfiles`), for every tier
    of the plan; `lab_files` are the provider's own (`Provider.files`), kept as they are."""
    env = environment()
    base = context(plan)
    hosts: dict[str, dict[str, str]] = {}
    for host in plan.hosts:
        ctx = {**base, "host": host, "node_proxy": host in plan.node_proxies}
        if ctx["node_proxy"]:
            ctx["services"] = node_proxy_services()
        if host.role == "lb" and plan.vip:
            ctx["vrrp"] = vrrp(plan, host)
        hosts[host.name] = {f.path: env.get_template(f.source.name).render(ctx)
                            for f in tierfiles.on_host(plan, host)
                            if isinstance(f.source, Template)}
    return Rendered(hosts=hosts, lab_files=dict(lab_files or {}))


def write(rendered: Rendered, out: Path) -> list[str]:
    """Write the provider's files and `hosts/` under `out`; other contents (Vagrant's state)
    stay.

    The new `hosts/` tree is built beside the old one and swapped in with renames, so an error
    half-way leaves the previous render intact. Returns the relative paths that changed.
    """
    out.mkdir(parents=True, exist_ok=True)
    old = _read_tree(out / "hosts")
    staging = Path(tempfile.mkdtemp(prefix=".hosts-", dir=out))
    try:
        made: set[Path] = set()
        for host, files in rendered.hosts.items():
            for path, text in files.items():
                target = staging / host / path.lstrip("/")
                if target.parent not in made:  # mkdir is a slow syscall; make each dir once
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                target.write_text(text, encoding="utf-8")
        for name, text in rendered.lab_files.items():
            _write_atomic(out / name, text)
        retired = out / ".hosts-old"
        shutil.rmtree(retired, ignore_errors=True)
        if (out / "hosts").exists():
            os.rename(out / "hosts", retired)
        os.rename(staging, out / "hosts")
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    new = {k[len("hosts/"):]: v for k, v in rendered.files().items() if k.startswith("hosts/")}
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _read_tree(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
