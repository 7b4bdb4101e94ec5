"""Who holds the kube control plane's leases (kube-controller-manager's, kube-scheduler's),
asked with kubectl on a master over SSH."""

from __future__ import annotations

from halab.config.plan import Plan
from halab.facts import kube
from halab.remote.protocol import Remote


def holders(plan: Plan, remote: Remote, via: str | None = None) -> dict[str, str]:
    """Lease name → its holder's identity as the lease says it (`kube.holder_host` makes it a
    host name); asked on `via`, by default the first master."""
    via = via or plan.masters[0].name
    r = remote.run(via, kube.kubectl("-n kube-system get leases -o json"),
                   what="kubectl get leases", timeout=60)
    return kube.parse_lease_holders(r.stdout)
