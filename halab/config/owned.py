"""Which objects on this host a lab owns: those its state recorded when it created them (pure).

Containers, bridges, libvirt domains, networks and volumes are host-wide, while a lab's state is
in one directory's `.halab/<lab>/`. So ownership is never read from a name's prefix: `up` records
every object before the provider creates it, refuses when one already exists that the lab did
not record (the same lab brought up from another directory), and `down` removes only what was
recorded.
"""

from __future__ import annotations

# kind ("container", "bridge", "domain", "network", "volume") -> names
Objects = dict[str, list[str]]

MACHINE_KINDS = ("container", "domain")


def merged(recorded: Objects, more: Objects) -> Objects:
    """The record with `more` added (order kept, no duplicates)."""
    out = {k: list(v) for k, v in recorded.items()}
    for kind, names in more.items():
        have = out.setdefault(kind, [])
        have.extend(n for n in names if n not in have)
    return out


def machines(objects: Objects) -> set[str]:
    """The containers or VMs among `objects`."""
    return {n for kind in MACHINE_KINDS for n in objects.get(kind, [])}


def foreign(present: Objects, recorded: Objects) -> list[tuple[str, str]]:
    """(kind, name) of the objects that exist on this host but are not in the lab's record."""
    return [(kind, n) for kind, names in present.items() for n in names
            if n not in recorded.get(kind, [])]


def foreign_problems(lab: str, state_file: str, present: Objects, recorded: Objects) -> list[str]:
    """The objects `up` would take over from someone else, in one problem with what to do
    (none: [])."""
    found = foreign(present, recorded)
    if not found:
        return []
    listing = ", ".join(f"{kind} {name!r}" for kind, name in found)
    return [f"{listing} already exist{'s' if len(found) == 1 else ''} on this host but lab "
            f"{lab!r} did not create {'it' if len(found) == 1 else 'them'} (not recorded in "
            f"{state_file}): the same lab is probably up from another directory or "
            f"HALAB_LABS_DIR; run `halab down {lab}` there, or give this lab another `name:`"]


def describe(objects: Objects) -> str:
    """"2 containers, 1 bridge": what `down` is about to remove."""
    return ", ".join(f"{len(v)} {k}{'s' if len(v) != 1 else ''}" for k, v in objects.items()
                     if v) or "nothing"
