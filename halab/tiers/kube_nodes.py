"""The kube nodes on the minions: with lb.mode per-node their own API proxy first, then
containerd with the lab's images, flanneld, kubelet and kube-proxy, then every minion
registered and Ready."""

from __future__ import annotations

import shlex

from halab import ui
from halab.artifacts import images
from halab.config import layout
from halab.config.plan import Plan
from halab.facts import kube
from halab.poll import Timeout, poll
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError, parallel
from halab.render.desired import (
    CONTAINERD_CONFIG,
    KP,
    KUBELET_KUBECONFIG,
    KUBELET_PKI,
    PROXY_KUBECONFIG,
    kube_bin,
)
from halab.tiers import lb
from halab.tiers.base import Tier, ensure, unit

NODES_TIMEOUT = 420

TIER = Tier(
    "kube nodes", "minion", ("containerd", "flanneld", "kubelet", "kube-proxy"),
    {"containerd": (CONTAINERD_CONFIG,),
     "flanneld": ("/etc/default/flanneld", unit("flanneld"), kube_bin("flanneld"),
                  layout.CLIENT_PKI + "/"),
     "kubelet": (unit("kubelet"), f"{layout.KUBELET_DIR}/kubelet-config.yaml",
                 KUBELET_KUBECONFIG, KUBELET_PKI + "/", KP + "/", kube_bin("kubelet")),
     "kube-proxy": (unit("kube-proxy"), f"{layout.KUBE_PROXY_DIR}/kube-proxy-config.yaml",
                    PROXY_KUBECONFIG, kube_bin("kube-proxy"))})


def tier(plan: Plan) -> Tier:
    """TIER, and with lb.mode per-node the minions' API proxy (the LB kind), started first."""
    if not plan.node_proxies:
        return TIER
    kind = plan.lb_kind
    return Tier(TIER.name, TIER.role, (kind, *TIER.services),
                {kind: lb.SERVICES[kind], **TIER.triggers})


def import_images(remote: Remote, host: str, changed: list[str]) -> int:
    """Import each image archive into containerd's k8s.io namespace if missing or changed."""
    have = remote.run(host, "ctr -n k8s.io images ls -q", what="listing images").stdout
    actions = 0
    for spec in images.IMAGES:
        archive = images.remote_archive(spec)
        if spec.ref in have.split() and archive not in changed:
            continue
        remote.run(host, f"ctr -n k8s.io images import --base-name {spec.repository} "
                         f"{shlex.quote(archive)}", what=f"importing {spec.ref}", timeout=240)
        actions += 1
    return actions


def apply(plan: Plan, remote: Remote, tier: Tier, changed: dict[str, list[str]]) -> int:
    def one(m: str) -> int:
        restart = tier.services_for(changed.get(m, []))
        # Cheap and idempotent, so always: the modules and sysctls pods need (also set at boot).
        # A system container has no modules of its own kernel (there they are the host's).
        remote.run(m, f"{{ [ ! -d /lib/modules/$(uname -r) ] || "
                      f"modprobe -a overlay br_netfilter; }} && "
                      f"/usr/lib/systemd/systemd-sysctl {layout.NODE_SYSCTL}",
                   what="loading overlay and br_netfilter, setting sysctls")
        n = 0
        if plan.node_proxies:  # before kubelet and kube-proxy, which talk through it
            n += ensure(remote, m, plan.lb_kind, plan.lb_kind in restart, block=True)
        n += ensure(remote, m, "containerd", "containerd" in restart, block=True)
        n += import_images(remote, m, changed.get(m, []))
        # flanneld is Type=notify: a blocking start returns once it holds a subnet lease.
        n += ensure(remote, m, "flanneld", "flanneld" in restart, block=True)
        n += ensure(remote, m, "kubelet", "kubelet" in restart)
        n += ensure(remote, m, "kube-proxy", "kube-proxy" in restart)
        return n
    done = parallel([m.name for m in plan.minions], one)
    for m, n in done.items():
        if n:
            ui.info(f"  {m}: {n} services started, restarted or images imported")
    wait_nodes(plan, remote, NODES_TIMEOUT)
    return sum(done.values())


def wait_nodes(plan: Plan, remote: Remote, timeout: float) -> list[kube.Node]:
    first = plan.masters[0].name
    minions = [m.name for m in plan.minions]

    def ready(why) -> list[kube.Node] | None:
        r = remote.run(first, kube.kubectl("get nodes -o json"), check=False, timeout=60)
        if not r.ok:
            why(((r.stderr or r.stdout).strip().splitlines() or ["kubectl failed"])[-1])
            return None
        found = kube.parse_nodes(r.stdout)
        problems = kube.node_problems(found, minions)
        if problems:
            why("; ".join(problems))
            return None
        return found
    try:
        found = poll(ready, timeout=timeout, interval=5, what="the minions to be Ready")
    except Timeout as exc:
        raise RemoteError(first, f"waiting {timeout:.0f}s for the minions to be Ready",
                          exc.last or "no answer yet",
                          "look at `journalctl -u kubelet -u flanneld` on the minions") from None
    ui.info(f"  nodes Ready: {', '.join(minions)}")
    return found
