"""Each tier's files, declared once (pure): one module per tier, each with one `TierFiles`.

`listed(plan, kube)` is the tiers a plan has, in the order `halab up` applies them; skipping
the kube tiers leaves them out here, files and all. Rendering, the upload list and the restart
triggers (`RESTARTS`) are derived from these declarations. A new tier is one module here with
its `TierFiles`, added to `TIERS`, and its apply in `halab.tiers`.
"""

from __future__ import annotations

from halab.config.plan import HostPlan, Plan
from halab.render.tierfiles.common import COMMON
from halab.render.tierfiles.etcd import ETCD
from halab.render.tierfiles.kube_control import KUBE_CONTROL
from halab.render.tierfiles.kube_nodes import KUBE_NODES
from halab.render.tierfiles.lb import LB
from halab.render.tierfiles.model import File, TierFiles

TIERS: tuple[TierFiles, ...] = (COMMON, ETCD, LB, KUBE_CONTROL, KUBE_NODES)



def _restarts(tiers: tuple[TierFiles, ...]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for tier in tiers:
        for file in tier.files:
            out[file.path] = out.get(file.path, frozenset()) | set(file.restarts)
    return out


# A path → the services its change restarts, on whichever host it is (a tier restarts only its
# own services of these: the kube CA restarts the kubelet on a minion, the apiserver on a master).
RESTARTS = _restarts(TIERS)


def listed(plan: Plan, kube: bool = True) -> list[TierFiles]:
    """The plan's tiers; the kube ones only when `kube` is on."""
    return [t for t in TIERS if t.needs(plan) and (kube or not t.kube)]


def on_host(plan: Plan, host: HostPlan, kube: bool = True) -> list[File]:
    """Every file the listed tiers put on `host`."""
    return [f for t in listed(plan, kube) for f in t.on(plan, host)]
