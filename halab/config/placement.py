"""Where each host of a lab runs on an Incus cluster (pure): decided before anything is created,
printed by `up`, and handed to Incus as each instance's target member.

A zone is a failure domain, so every host of one zone goes to one member: the one the topology
names (`incus.zones`), else the member with the most free memory left once the named zones are
counted. The hosts without a zone go together, the same way: a lab without zones (a student's)
is placed whole, so a class spreads lab by lab. "Free" is what Incus reports of each member's
memory less what its instances are promised (`limits.memory`), so labs brought up one after
another spread even where the members are one machine (the simulation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from halab.errors import HalabError

ONLINE = "Online"
STEP_MIB = 512


@dataclass(frozen=True)
class Room:
    """What Incus reports of one member: its status and free memory."""

    member: str
    status: str
    free_mib: int


@dataclass(frozen=True)
class Guest:
    """Something to place: a host (with its zone) or a whole lab; `memory` in MiB."""

    name: str
    zone: str | None
    memory: int


@dataclass(frozen=True)
class Placement:
    where: dict[str, str]  # guest → member
    why: dict[str, str]  # guest → the reason, in words

    def lines(self) -> list[str]:
        return [f"{g} → {m} ({self.why[g]})" for g, m in self.where.items()]

    def members(self) -> list[str]:
        return sorted(set(self.where.values()))


class PlacementError(HalabError):
    exit_code = 2


@dataclass(frozen=True)
class ClusterFacts:
    """What `halab doctor` asks of a lab's cluster: its members, whether the box's image is
    there, and where the lab's hosts would go (or why they cannot)."""

    remote: str
    rooms: list[Room]
    image: str | None  # the box image's alias when the cluster has it
    placed: Placement | None
    problem: str = ""


def place(guests: Sequence[Guest], zones: Mapping[str, str], rooms: Sequence[Room]) -> Placement:
    """Each guest's member, or PlacementError naming every problem (nothing was created)."""
    by_name = {r.member: r for r in rooms}
    problems = [f"incus.zones.{z}: {m!r} is not a member of the cluster (members: "
                f"{', '.join(sorted(by_name)) or 'none'})"
                for z, m in zones.items() if m not in by_name]
    problems += [f"incus.zones.{z}: member {m} is {by_name[m].status}, not {ONLINE}"
                 for z, m in zones.items() if m in by_name and by_name[m].status != ONLINE]
    if problems:
        raise PlacementError("the lab cannot be placed on the cluster; nothing was created:\n  "
                             + "\n  ".join(problems),
                             "fix `incus.zones` in the topology, or bring the member back "
                             "(`incus cluster list` shows them)")
    # Counted in steps, so that members of equal room (the simulation's, one machine's) fill
    # in name order, not by a few MiB of noise.
    free = {r.member: r.free_mib // STEP_MIB * STEP_MIB for r in rooms if r.status == ONLINE}
    if not free:
        raise PlacementError("no member of the cluster is online",
                             "`incus cluster list` shows them; bring one back")
    where: dict[str, str] = {}
    why: dict[str, str] = {}
    for group, zone in _groups(guests):
        if zone is not None and zone in zones:
            member, reason = zones[zone], f"zone {zone}: incus.zones"
        else:
            member = max(sorted(free), key=lambda m: free[m])
            reason = (f"zone {zone}: " if zone else "") + f"most free memory ({free[member]} MiB)"
        for g in group:
            where[g.name], why[g.name] = member, reason
            free[member] -= g.memory
    _check_room(free)
    return Placement(where, why)


def _groups(guests: Sequence[Guest]) -> list[tuple[list[Guest], str | None]]:
    """The guests of each zone together (in the order their zone first appears), then the
    zoneless ones together."""
    zoned: dict[str, list[Guest]] = {}
    rest: list[Guest] = []
    for g in guests:
        if g.zone is None:
            rest.append(g)
        else:
            zoned.setdefault(g.zone, []).append(g)
    return [(gs, z) for z, gs in zoned.items()] + ([(rest, None)] if rest else [])


def _check_room(free: Mapping[str, int]) -> None:
    short = {m: -f for m, f in free.items() if f < 0}
    if short:
        raise PlacementError(
            "the cluster has too little free memory; nothing was created: "
            + ", ".join(f"{m} lacks {mib} MiB" for m, mib in sorted(short.items())),
            "give the hosts less `memory`, add a member, or bring fewer labs up at once")
