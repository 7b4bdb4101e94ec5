"""Provisioning of the Kubernetes tiers: the control plane on the masters, then the minions.

Called by `halab up` after etcd and the load balancer are healthy, with the files already in
place. Each tier starts what is stopped, restarts what its changed files belong to, and waits
until it is healthy: every apiserver ready through the LB and both leases held; then every
minion registered and Ready.
"""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from halab import ui
from halab.artifacts import images
from halab.config import layout
from halab.facts import etcd, kube
from halab.remote.runner import RemoteError, parallel
from halab.render.desired import Tier
from halab.tiers import services

if TYPE_CHECKING:
    from halab.lab.context import Lab

# The first apiserver writes the RBAC bootstrap roles alone; under TCG on a busy 2-core host
# etcd answered reads in 7-13 s then, and three apiservers at once missed 420 s.
APISERVER_TIMEOUT = 900
LEASE_TIMEOUT = 300
NODES_TIMEOUT = 420
FLANNEL_KEY = f"{layout.FLANNEL_ETCD_PREFIX}/config"


def _flannel_network(lab: Lab) -> int:
    """flanneld reads its network from etcd: put the rendered JSON there once."""
    first = lab.plan.masters[0].name
    get = etcd.etcdctl(lab.plan, f"get {FLANNEL_KEY} --print-value-only")
    put = etcd.etcdctl(lab.plan, f'put {FLANNEL_KEY} "$want"')
    script = (f'want=$(cat {layout.FLANNEL_NETWORK_JSON}); have=$({get}); '
              f'if [ "$want" = "$have" ]; then echo same; else {put} >/dev/null && echo put; fi')
    out = lab.runner.run(first, script, what="putting flannel's network config in etcd").stdout
    if "put" in out:
        ui.info(f"  flannel network config written to etcd ({FLANNEL_KEY})")
        return 1
    return 0


def control_plane(lab: Lab, tier: Tier, changed: dict[str, list[str]]) -> int:
    masters = [m.name for m in lab.plan.masters]
    actions = _flannel_network(lab)
    for service in tier.services:
        def ready(service: str = service) -> None:
            if service == "kube-apiserver":  # the others are checked by their leases below
                wait_apiserver(lab, APISERVER_TIMEOUT)
        actions += services.roll(lab.runner, masters, service,
                                 lambda m, svc=service: svc in tier.services_for(changed[m]),
                                 ready, first_alone=service == "kube-apiserver")
    wait_leases(lab, LEASE_TIMEOUT)
    return actions


def wait_apiserver(lab: Lab, timeout: float) -> None:
    """Until /readyz answers `ok` through the load balancer, from the first master."""
    first = lab.plan.masters[0].name
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        r = lab.runner.run(first, kube.kubectl("get --raw /readyz", "10s"), check=False,
                           timeout=60)
        if r.ok and r.stdout.strip() == "ok":
            ui.info(f"  kube-apiserver ready through {lab.plan.kube.api_url}")  # type: ignore
            return
        last = r.stdout + r.stderr
        time.sleep(5)
    raise RemoteError(first, f"waiting {timeout:.0f}s for kube-apiserver /readyz", last,
                      "look at `journalctl -u kube-apiserver` on the masters")


def lease_holders(lab: Lab, via: str | None = None) -> dict[str, str]:
    via = via or lab.plan.masters[0].name
    r = lab.runner.run(via, kube.kubectl("-n kube-system get leases -o json"),
                       what="kubectl get leases", timeout=60)
    return kube.parse_lease_holders(r.stdout)


def wait_leases(lab: Lab, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    holders: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            holders = lease_holders(lab)
        except RemoteError:
            holders = {}
        if all(holders.get(name) for name in kube.LEASES):
            ui.info("  leases: " + ", ".join(f"{n} held by {kube.holder_host(holders[n])}"
                                             for n in kube.LEASES))
            return holders
        time.sleep(5)
    raise RemoteError(lab.plan.masters[0].name, f"waiting {timeout:.0f}s for the leases of "
                      f"{' and '.join(kube.LEASES)}", str(holders),
                      "look at `journalctl -u kube-controller-manager -u kube-scheduler`")


def _import_images(lab: Lab, host: str, changed: list[str]) -> int:
    """Import each image archive into containerd's k8s.io namespace if missing or changed."""
    have = lab.runner.run(host, "ctr -n k8s.io images ls -q", what="listing images").stdout
    actions = 0
    for spec in images.IMAGES:
        archive = images.remote_archive(spec)
        if spec.ref in have.split() and archive not in changed:
            continue
        lab.runner.run(host, f"ctr -n k8s.io images import --base-name {spec.repository} "
                             f"{shlex.quote(archive)}", what=f"importing {spec.ref}",
                       timeout=240)
        actions += 1
    return actions


def nodes(lab: Lab, tier: Tier, changed: dict[str, list[str]]) -> int:
    minions = [m.name for m in lab.plan.minions]

    def one(m: str) -> int:
        restart = tier.services_for(changed[m])
        # Cheap and idempotent, so always: the modules and sysctls pods need (also set at boot).
        lab.runner.run(m, f"modprobe -a overlay br_netfilter && "
                          f"/usr/lib/systemd/systemd-sysctl {layout.NODE_SYSCTL}",
                       what="loading overlay and br_netfilter, setting sysctls")
        r = lab.runner
        n = services.ensure(r, m, "containerd", "containerd" in restart, block=True)
        n += _import_images(lab, m, changed[m])
        # flanneld is Type=notify: a blocking start returns once it holds a subnet lease.
        n += services.ensure(r, m, "flanneld", "flanneld" in restart, block=True)
        n += services.ensure(r, m, "kubelet", "kubelet" in restart)
        n += services.ensure(r, m, "kube-proxy", "kube-proxy" in restart)
        return n
    done = parallel(minions, one)
    for m, n in done.items():
        if n:
            ui.info(f"  {m}: {n} services started, restarted or images imported")
    wait_nodes(lab, NODES_TIMEOUT)
    return sum(done.values())


def wait_nodes(lab: Lab, timeout: float) -> list[kube.Node]:
    first = lab.plan.masters[0].name
    minions = [m.name for m in lab.plan.minions]
    deadline = time.monotonic() + timeout
    why = "no answer yet"
    while time.monotonic() < deadline:
        r = lab.runner.run(first, kube.kubectl("get nodes -o json"), check=False, timeout=60)
        if r.ok:
            found = kube.parse_nodes(r.stdout)
            problems = kube.node_problems(found, minions)
            if not problems:
                ui.info(f"  nodes Ready: {', '.join(minions)}")
                return found
            why = "; ".join(problems)
        else:
            why = ((r.stderr or r.stdout).strip().splitlines() or ["kubectl failed"])[-1]
        time.sleep(5)
    raise RemoteError(first, f"waiting {timeout:.0f}s for the minions to be Ready", why,
                      "look at `journalctl -u kubelet -u flanneld` on the minions")
