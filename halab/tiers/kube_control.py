"""The kube control plane on the masters: flannel's network in etcd, then kube-apiserver (the
first one alone), kube-controller-manager and kube-scheduler, then both leases held."""

from __future__ import annotations

import time

from halab import ui
from halab.config import layout
from halab.config.plan import APISERVER_PORT, Plan
from halab.facts import etcd, kube
from halab.poll import Timeout, poll
from halab.probes import leases
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError
from halab.render import tierfiles
from halab.tiers.base import Tier, roll

# The first apiserver writes the RBAC bootstrap roles alone; under TCG on a busy 2-core host
# etcd answered reads in 7-13 s then, and three apiservers at once missed 420 s.
APISERVER_TIMEOUT = 900
LEASE_TIMEOUT = 300
FLANNEL_KEY = f"{layout.FLANNEL_ETCD_PREFIX}/config"


TIER = Tier(tierfiles.KUBE_CONTROL,
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler"))


def tier(plan: Plan) -> Tier:
    return TIER


def _flannel_network(plan: Plan, remote: Remote) -> int:
    """flanneld reads its network from etcd: put the rendered JSON there once."""
    first = plan.masters[0].name
    get = etcd.etcdctl(plan, f"get {FLANNEL_KEY} --print-value-only")
    put = etcd.etcdctl(plan, f'put {FLANNEL_KEY} "$want"')
    script = (f'want=$(cat {layout.FLANNEL_NETWORK_JSON}); have=$({get}); '
              f'if [ "$want" = "$have" ]; then echo same; else {put} >/dev/null && echo put; fi')
    out = remote.run(first, script, what="putting flannel's network config in etcd").stdout
    if "put" in out:
        ui.info(f"  flannel network config written to etcd ({FLANNEL_KEY})")
        return 1
    return 0


def apply(plan: Plan, remote: Remote, tier: Tier, changed: dict[str, list[str]]) -> int:
    masters = [m.name for m in plan.masters]
    actions = _flannel_network(plan, remote)
    for service in tier.services:
        def ready(service: str = service) -> None:
            if service == "kube-apiserver":  # the others are checked by their leases below
                wait_apiserver(plan, remote, APISERVER_TIMEOUT)
        own = ((lambda m: wait_own_apiserver(plan, remote, m, APISERVER_TIMEOUT))
               if service == "kube-apiserver" else None)
        actions += roll(remote, masters, service,
                        lambda m, svc=service: svc in tier.services_for(changed.get(m, [])),
                        ready, first_alone=service == "kube-apiserver", settled=own)
    wait_leases(plan, remote, LEASE_TIMEOUT)
    return actions


def wait_apiserver(plan: Plan, remote: Remote, timeout: float) -> None:
    """Until /readyz answers `ok` to kubectl on the first master: through the load balancer, or
    with lb.mode per-node from that master's own apiserver."""
    first = plan.masters[0].name

    def ready(why) -> bool | None:
        r = remote.run(first, kube.kubectl("get --raw /readyz", "10s"), check=False,
                       timeout=60)
        if r.ok and r.stdout.strip() == "ok":
            return True
        why(r.stdout + r.stderr)
        return None
    try:
        poll(ready, timeout=timeout, interval=5, what="kube-apiserver /readyz")
    except Timeout as exc:
        raise RemoteError(first, f"waiting {timeout:.0f}s for kube-apiserver /readyz", exc.last,
                          "look at `journalctl -u kube-apiserver` on the masters") from None
    ui.info(f"  kube-apiserver ready through "  # type: ignore[union-attr]
            f"{plan.kube.master_api_url}"
            + (f" on {first}" if plan.kube.master_api_url != plan.kube.api_url else ""))


def wait_own_apiserver(plan: Plan, remote: Remote, host: str, timeout: float) -> None:
    """Until `host`'s own apiserver answers /readyz `ok` (asked on it, not through the LB): a
    rolling restart goes on to the next master only then, so two are never starting at once."""
    ip = next(m.ip for m in plan.masters if m.name == host)
    ask = kube.kubectl(f"--server=https://{ip}:{APISERVER_PORT} get --raw /readyz", "10s")

    def ready(why) -> bool | None:
        r = remote.run(host, ask, check=False, timeout=60)
        if r.ok and r.stdout.strip() == "ok":
            return True
        why(r.stdout + r.stderr)
        return None
    t0 = time.monotonic()
    try:
        poll(ready, timeout=timeout, interval=1, what=f"{host}'s kube-apiserver /readyz")
    except Timeout as exc:
        raise RemoteError(host, f"waiting {timeout:.0f}s for its kube-apiserver /readyz",
                          exc.last, f"look at `journalctl -u kube-apiserver` on {host}") from None
    ui.info(f"  kube-apiserver on {host} ready {time.monotonic() - t0:.1f}s after its restart")


def wait_leases(plan: Plan, remote: Remote, timeout: float) -> dict[str, str]:
    def held(why) -> dict[str, str] | None:
        holders = leases.holders(plan, remote)
        why(str(holders))
        return holders if all(holders.get(name) for name in kube.LEASES) else None
    try:
        holders = poll(held, timeout=timeout, interval=5, what="the leases",
                       retry_on=(RemoteError,))
    except Timeout as exc:
        raise RemoteError(plan.masters[0].name, f"waiting {timeout:.0f}s for the leases of "
                          f"{' and '.join(kube.LEASES)}", exc.last,
                          "look at `journalctl -u kube-controller-manager -u kube-scheduler`"
                          ) from None
    ui.info("  leases: " + ", ".join(f"{n} held by {kube.holder_host(holders[n])}"
                                     for n in kube.LEASES))
    return holders
