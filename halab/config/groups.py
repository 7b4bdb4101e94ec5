"""Which hosts a `halt` or `start` touches (one host, a zone, or all) and what that leaves of
etcd's quorum. Pure, so the refusals and the quorum warning are unit-tested without VMs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError


@dataclass(frozen=True)
class Selection:
    hosts: tuple[HostPlan, ...]
    what: str  # for progress lines: "master1", "zone b (master-b, minion-b1)", "all 4 VMs"
    #            (or "all 4 containers": the provider's own word)
    args: str  # the command-line words that choose them again: "master1", "--zone b", "--all"


def machines(plan: Plan, n: int) -> str:
    """n of the lab's hosts in its provider's own word: "1 VM", "3 containers"."""
    return f"{n} {'container' if plan.containers else 'VM'}{'s' if n != 1 else ''}"


def zones(plan: Plan) -> dict[str, tuple[HostPlan, ...]]:
    """Zone → its hosts, in topology order (hosts without a zone are in none)."""
    out: dict[str, list[HostPlan]] = {}
    for h in plan.hosts:
        if h.zone:
            out.setdefault(h.zone, []).append(h)
    return {z: tuple(hs) for z, hs in out.items()}


def select(plan: Plan, host: str | None, zone: str | None, everything: bool,
           verb: str = "halt") -> Selection:
    """Exactly one of HOST, --zone Z and --all; an unknown name lists what exists."""
    given = [x for x in (host and f"host {host!r}", zone and f"--zone {zone}",
                         everything and "--all") if x]
    if len(given) != 1:
        what = "nothing" if not given else " and ".join(given)
        raise HalabError(f"`halab {verb}` takes one of HOST, --zone Z or --all (got {what})",
                         f"for example `halab {verb} {plan.masters[0].name}`")
    if everything:
        return Selection(plan.hosts, f"all {machines(plan, len(plan.hosts))}", "--all")
    if host:
        h = plan.host(host)
        if h is None:
            names = ", ".join(x.name for x in plan.hosts)
            raise HalabError(f"lab {plan.lab!r} has no host {host!r}", f"hosts: {names}")
        return Selection((h,), h.name, h.name)
    known = zones(plan)
    if zone not in known:
        hint = (f"zones: {', '.join(sorted(known))}" if known else
                "no host of this lab has a zone; give hosts `zone: a` in the topology "
                "(labs/zones.yaml does)")
        raise HalabError(f"lab {plan.lab!r} has no zone {zone!r}", hint)
    hosts = known[zone]  # type: ignore[index]
    return Selection(hosts, f"zone {zone} ({', '.join(h.name for h in hosts)})", f"--zone {zone}")


@dataclass(frozen=True)
class QuorumLeft:
    members: int
    left: int

    @property
    def needed(self) -> int:
        return self.members // 2 + 1

    @property
    def kept(self) -> bool:
        return self.left >= self.needed

    def line(self) -> str:
        if self.kept:
            return (f"etcd keeps {self.left} of {self.members} members (quorum "
                    f"{self.needed}): it keeps a leader and accepts writes")
        return (f"etcd keeps {self.left} of {self.members} members, {self.needed} needed: no "
                "quorum, so no leader and no writes until enough of them are back")


def quorum_left(plan: Plan, halted: Iterable[str]) -> QuorumLeft:
    down = set(halted)
    masters = plan.masters
    return QuorumLeft(len(masters), sum(m.name not in down for m in masters))


def on_member(plan: Plan, placed: dict[str, str], member: str, others: bool) -> Selection:
    """The hosts on one member of the lab's cluster (`placed`: host → member, as Incus says);
    `others`: HOST, --zone or --all given too."""
    if others:
        raise HalabError("--member takes no HOST, --zone or --all beside it",
                         f"for example `halab halt --member {member}`")
    if plan.cluster is None:
        raise HalabError(f"lab {plan.lab!r} runs on this machine, not on an Incus cluster",
                         "--member is for labs brought up with `--incus-remote` (docs/cluster.md)")
    hosts = tuple(h for h in plan.hosts if placed.get(h.name) == member)
    if not hosts:
        used = sorted(set(placed.values()))
        raise HalabError(f"no host of lab {plan.lab!r} is on member {member!r}",
                         f"its members: {', '.join(used) or 'none (no host is created)'}")
    return Selection(hosts, f"member {member} ({', '.join(h.name for h in hosts)})",
                     f"--member {member}")
