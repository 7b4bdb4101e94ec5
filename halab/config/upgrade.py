"""What a rolling Kubernetes upgrade of a lab may do, and in which order: Kubernetes'
version-skew policy (one minor version at a time, never down, no kubelet newer than the
apiservers), and the hosts one at a time, masters first with the etcd leader's master last (it
hands its leadership over once, not at every step), then the minions. Pure: the command asks
the lab for the leader, the versions running and what was done before it was interrupted."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from halab.config.plan import Plan

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")

# The binaries each role's step replaces (the binary cache's names).
MASTER_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
MINION_BINARIES = ("kubelet", "kube-proxy")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.fullmatch(text.strip())
        if m is None:
            raise ValueError(f"{text!r} is not a Kubernetes version: use X.Y.Z, e.g. 1.36.3")
        return cls(*(int(g) for g in m.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def refusals(current: str, target: str, kubelets: Mapping[str, str] | None = None) -> list[str]:
    """Why the version-skew policy refuses `current` → `target` (empty: it allows it).
    `kubelets` maps each minion to the version its kubelet reports, where known."""
    try:
        now, to = Version.parse(current), Version.parse(target)
    except ValueError as exc:
        return [str(exc)]
    out = []
    if to < now:
        out.append(f"{to} is older than the lab's {now}: halab upgrades, it does not downgrade "
                   "(a new lab at the older version is the way back)")
    elif (to.major, to.minor) > (now.major, now.minor + 1):
        out.append(f"{now} → {to} skips a minor version: Kubernetes' version-skew policy "
                   f"allows one at a time; upgrade to {now.major}.{now.minor + 1}.x first")
    for minion, version in sorted((kubelets or {}).items()):
        try:
            newer = Version.parse(version) > to
        except ValueError:
            continue
        if newer:
            out.append(f"{minion}'s kubelet is {version}, newer than {to}: no kubelet may be "
                       "newer than the apiservers")
    return out


@dataclass(frozen=True)
class HostStep:
    """One host's turn: which binaries it gets, in the order the steps run."""

    host: str
    role: Literal["master", "minion"]
    binaries: tuple[str, ...]
    hand_over: bool = False  # hand etcd's leadership to another master first


def order(plan: Plan, leader: str | None) -> list[HostStep]:
    """Masters one at a time, the etcd leader's last (handing over first); then the minions."""
    masters = [m.name for m in plan.masters if m.name != leader]
    masters += [m.name for m in plan.masters if m.name == leader]
    steps = [HostStep(m, "master", MASTER_BINARIES,
                      hand_over=m == leader and len(plan.masters) > 1) for m in masters]
    return steps + [HostStep(n.name, "minion", MINION_BINARIES) for n in plan.minions]


def remaining(steps: Iterable[HostStep], done: Iterable[str]) -> list[HostStep]:
    """The steps still to run after an interrupted upgrade: a host is done only once its whole
    step finished (recorded after it), so a host cut off half-way is taken again from the top."""
    finished = set(done)
    return [s for s in steps if s.host not in finished]
