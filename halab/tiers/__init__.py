"""One module per tier, each owning its services, how it is applied and what it waits for (its
files and what they restart are declared in `render.tierfiles`). `steps(plan)` is the order
`halab up` applies them in: the declared tiers the plan lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from halab.config.plan import Plan
from halab.remote.protocol import Remote
from halab.render import tierfiles
from halab.tiers import etcd, kube_control, kube_nodes, lb
from halab.tiers.base import Tier

Apply = Callable[[Plan, Remote, Tier, dict[str, list[str]]], int]


@dataclass(frozen=True)
class Step:
    tier: Tier
    apply: Apply

    def __call__(self, plan: Plan, remote: Remote, changed: dict[str, list[str]]) -> int:
        return self.apply(plan, remote, self.tier, changed)


# A declared tier's name → how its Tier is made for a plan, and applied.
APPLY: dict[str, tuple[Callable[[Plan], Tier], Apply]] = {
    tierfiles.ETCD.name: (etcd.tier, etcd.apply),
    tierfiles.LB.name: (lb.tier, lb.apply),
    tierfiles.KUBE_CONTROL.name: (kube_control.tier, kube_control.apply),
    tierfiles.KUBE_NODES.name: (kube_nodes.tier, kube_nodes.apply),
}


def steps(plan: Plan, kube: bool = True) -> list[Step]:
    """The listed tiers in order (but the common files, which no service of their own reads);
    the kube ones only when the topology enables them and `kube` is on (it is off while the
    kube binaries are missing)."""
    return [Step(APPLY[t.name][0](plan), APPLY[t.name][1])
            for t in tierfiles.listed(plan, kube) if t is not tierfiles.COMMON]
