"""What the load balancers reach, asked of the hosts over SSH: the masters each LB host (or a
minion's own API proxy, with lb.mode per-node) opens a TCP connection to, and who holds the VIP.
Every probe is bounded; a host that cannot be asked answers None (or "does not hold it")."""

from __future__ import annotations

from halab.config.plan import APISERVER_PORT, Plan
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError, parallel
from halab.render.files import lb_services


def reach(plan: Plan, remote: Remote, lb: str) -> list[str] | None:
    """The masters LB host `lb` reaches on every forwarded port (None: it could not be asked)."""
    by_port = reach_by_service(plan, remote, lb)
    if by_port is None:
        return None
    return [m.name for m in plan.masters if all(m.name in got for got in by_port.values())]


def reach_by_service(plan: Plan, remote: Remote, lb: str) -> dict[str, list[str]] | None:
    """Per forwarded service (etcd, kube-apiserver), the masters whose port LB host `lb` opens
    a TCP connection to (None: it could not be asked)."""
    services = lb_services(plan)
    out = open_ports(remote, lb, [(f"{m.name}:{s.port}", m.ip, s.port)
                                  for m in plan.masters for s in services])
    if out is None:
        return None
    return {s.name: [m.name for m in plan.masters if f"{m.name}:{s.port}" in out]
            for s in services}


def proxy_reach(plan: Plan, remote: Remote, host: str) -> tuple[bool, list[str]] | None:
    """A minion's own API proxy (lb.mode per-node): whether it listens on 127.0.0.1, and the
    masters whose apiserver port the minion opens a TCP connection to (None: no answer)."""
    out = open_ports(remote, host, [("self", "127.0.0.1", APISERVER_PORT)]
                     + [(m.name, m.ip, APISERVER_PORT) for m in plan.masters])
    if out is None:
        return None
    return "self" in out, [m.name for m in plan.masters if m.name in out]


def open_ports(remote: Remote, host: str, targets: list[tuple[str, str, int]]) -> set[str] | None:
    """The labels of the (label, ip, port) targets `host` opens a TCP connection to, all tried
    at once for 2 s (None: the host could not be asked). At once, because a halted master's
    ports answer nothing: one after another, six of them took 12 s."""
    probes = " ".join(f"( timeout 2 bash -c '</dev/tcp/{ip}/{port}' 2>/dev/null "
                      f"&& echo {label} ) &" for label, ip, port in targets)
    try:
        return set(remote.run(host, probes + " wait ; true", sudo=False,
                              timeout=60).stdout.split())
    except RemoteError:
        return None


def vip_holders(plan: Plan, remote: Remote, running: list[str]) -> list[str]:
    """The running LB hosts that hold the VIP on their private NIC (one, when all is well)."""
    if not plan.vip:
        return []
    command = (f"ip -o -4 addr show dev {plan.nic} | grep -q ' {plan.vip}/' "
               "&& echo holds")

    def holds(name: str) -> bool:
        try:
            return "holds" in remote.run(name, command + " ; true", sudo=False,
                                         timeout=30).stdout
        except RemoteError:
            return False
    found = parallel([h.name for h in plan.lbs if h.name in running], holds)
    return [name for name, yes in found.items() if yes]
