"""`halab kubeconfig LAB [--merge]`: kubectl on this host reaches the lab, as kind's contexts
do; `down` forgets the context again. kubectl itself is the lab's own version from the
binaries cache, linked as `.halab/bin/kubectl`."""

from __future__ import annotations

import os
from pathlib import Path

from halab import ui
from halab.artifacts import binaries
from halab.config.plan import Plan
from halab.home import labs_dir
from halab.render import kubecontexts, pki
from halab.session.context import Lab

ADMIN_FILE = "admin.kubeconfig"


def kubeconfig(arg: str | None, merge: bool) -> int:
    with Lab.existing(arg) as lab:
        path = write_admin(lab)
        ui.info(f"wrote {path} (0600): cluster, user and context "
                f"{kubecontexts.context_name(lab.plan.lab)}, server "
                f"{kubecontexts.admin_server(lab.plan)}")
        kubectl = link_kubectl(lab.plan)
        if merge:
            target = merge_context(path)
            ui.info(f"merged context {kubecontexts.context_name(lab.plan.lab)} into {target} "
                    "(other contexts and the current one left as they were)")
            ui.info(f"try: {kubectl} --context {kubecontexts.context_name(lab.plan.lab)} "
                    "get nodes")
        else:
            ui.info(f"try: {kubectl} --kubeconfig {path} get nodes "
                    f"(or `halab kubeconfig {lab.plan.lab} --merge` for a context)")
    return 0


def write_admin(lab: Lab) -> Path:
    """`.halab/<lab>/admin.kubeconfig`, from the lab's PKI, 0600."""
    path = lab.dir / ADMIN_FILE
    text = kubecontexts.admin_kubeconfig(lab.plan, pki.PKIStore(lab.dir / "pki"))
    kubecontexts.write_private(path, text)
    return path


def merge_context(admin: Path) -> Path:
    """Add the lab's entries to the user's kubeconfig; returns the file written."""
    target = kubecontexts.user_config_path(os.environ, Path.home())
    ours = kubecontexts.load(admin) or {}
    doc = kubecontexts.merged(kubecontexts.load(target), ours)
    kubecontexts.write_private(target, kubecontexts.dump(doc))
    return target


def forget(lab: str) -> Path | None:
    """Remove `halab-<lab>` from the user's kubeconfig; the file, when it held it."""
    target = kubecontexts.user_config_path(os.environ, Path.home())
    doc = kubecontexts.load(target)
    if doc is None:
        return None
    out, found = kubecontexts.without(doc, kubecontexts.context_name(lab))
    if not found:
        return None
    kubecontexts.write_private(target, kubecontexts.dump(out))
    return target


def kubectl_path() -> Path:
    return labs_dir() / "bin" / "kubectl"


def link_kubectl(p: Plan) -> str:
    """`.halab/bin/kubectl` → the lab's kubectl in the binaries cache (the same version as its
    apiservers); 'kubectl' (whatever is on PATH) when the cache has none."""
    assert p.kube is not None
    ok, why = binaries.available(p.kube.version)
    if not ok:
        ui.warn(f"no kubectl of the lab's version here: {why}")
        return "kubectl"
    link = kubectl_path()
    link.parent.mkdir(parents=True, exist_ok=True)
    source = binaries.version_dir(p.kube.version) / "kubectl"
    if not (link.is_symlink() and link.resolve() == source.resolve()):
        tmp = link.with_name(".kubectl.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(source)
        os.replace(tmp, link)
    return str(link)


def usage_line(p: Plan) -> str:
    """What `up`'s last line says about kubectl."""
    ctx = kubecontexts.context_name(p.lab)
    return (f"kubectl from this host: `halab kubeconfig {p.lab} --merge`, then "
            f"`{kubectl_path()} --context {ctx} get nodes`")
