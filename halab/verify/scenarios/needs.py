"""What a scenario needs from its lab, checked against the plan before anything runs, so that
a scenario the lab cannot carry is refused up front with a ready lab that can."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from halab.config.plan import Plan
from halab.errors import HalabError


@dataclass(frozen=True)
class Need:
    """One requirement: what it is in words, the test on the plan, and a ready lab meeting it."""

    what: str
    met: Callable[[Plan], bool]
    ready: str  # a topology file under labs/ that has it


def _zones(plan: Plan) -> set[str]:
    return {h.zone for h in plan.masters if h.zone}


THREE_MASTERS = Need("3 or more masters", lambda p: len(p.masters) >= 3, "labs/etcd-only.yaml")
ZONES = Need("masters in two or more zones", lambda p: len(_zones(p)) >= 2,
             "labs/etcd-only.yaml")
KUBE_MINIONS = Need("the kube tier with 2 or more minions",
                    lambda p: p.kube is not None and len(p.minions) >= 2, "labs/seed.yaml")
VIP_PAIR = Need("a VIP pair (`lb: {replicas: 2, vip: ...}` and two LB hosts)",
                lambda p: bool(p.vip) and len(p.lbs) >= 2, "labs/lb-pair.yaml")


def refusal(scenario: str, needs: tuple[Need, ...], plan: Plan) -> HalabError | None:
    """The error refusing `scenario` on this lab, naming each missing need; None if all met."""
    missing = [n for n in needs if not n.met(plan)]
    if not missing:
        return None
    return HalabError(
        f"lab {plan.lab!r} cannot run the {scenario} scenario: it needs "
        + "; ".join(n.what for n in missing),
        "; ".join(f"{n.ready} has {n.what}" for n in missing)
        + f" (`halab up {missing[0].ready}`, then `halab verify --scenario {scenario}`)")
