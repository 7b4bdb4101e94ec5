"""One module per tier, each owning what restarts when its files change, how it is applied and
what it waits for. `steps(plan)` is the order `halab up` applies them in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from halab.config.plan import Plan
from halab.remote.protocol import Remote
from halab.tiers import etcd, kube_control, kube_nodes, lb
from halab.tiers.base import Tier

Apply = Callable[[Plan, Remote, Tier, dict[str, list[str]]], int]


@dataclass(frozen=True)
class Step:
    tier: Tier
    apply: Apply

    def __call__(self, plan: Plan, remote: Remote, changed: dict[str, list[str]]) -> int:
        return self.apply(plan, remote, self.tier, changed)


def steps(plan: Plan, kube: bool = True) -> list[Step]:
    """The tiers in order; the kube ones only when the topology enables them and `kube` is on
    (it is off while the kube binaries are missing)."""
    out = [Step(etcd.tier(plan), etcd.apply)]
    if plan.lb:
        out.append(Step(lb.tier(plan), lb.apply))
    if plan.kube and kube:
        out += [Step(kube_control.tier(plan), kube_control.apply),
                Step(kube_nodes.tier(plan), kube_nodes.apply)]
    return out
