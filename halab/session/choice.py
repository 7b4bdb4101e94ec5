"""Which provider a lab's hosts come from and how fast they run: decided once per command.

A lab keeps the provider it was created with; before it is created, `--provider` (or the
topology's `provider`, auto: VMs where KVM works) chooses. The acceleration comes from the
provider: containers are native, VMs use KVM where it really works, else TCG. `up` asks the
provider; other commands take what `up` recorded (or the `--accel` given to `render`).
"""

from __future__ import annotations

from dataclasses import dataclass

from halab import providers
from halab.errors import HalabError

CREATED_WITH = "the lab was created with it"


@dataclass(frozen=True)
class Choice:
    provider: str  # "vm" or "container"
    why: str  # said in one line by `up` and `doctor`
    accel: str  # "kvm", "tcg" or "native"


@dataclass(frozen=True)
class Asked:
    """What the command line asked for: `up --provider`, `render --provider/--accel`."""

    provider: str | None = None
    accel: str | None = None
    creating: bool = False  # `up`: the provider is asked what it can do, a change is refused
    incus_remote: str | None = None  # `up --incus-remote NAME`: the hosts on that cluster


def remote(topology_remote: str | None, had: str | None, asked: Asked, lab: str) -> str | None:
    """The Incus remote of the cluster the lab's hosts run on, or None for this machine: what
    the lab was created with, else `--incus-remote`, else the topology's `incus.remote`."""
    wanted = asked.incus_remote or topology_remote
    if had is not None:
        if asked.incus_remote and asked.incus_remote != had:
            raise HalabError(f"lab {lab!r} runs on {_where(had)}, not on "
                             f"{_where(asked.incus_remote)}",
                             f"a lab keeps its machines: `halab down {lab}` first")
        return had or None
    return wanted


def _where(remote: str) -> str:
    return f"the cluster of remote {remote}" if remote else "this machine"


def decide(setting: str, had: str | None, recorded_accel: str | None, asked: Asked,
           lab: str, topology: str) -> Choice:
    """The choice for a lab whose topology says `setting`, created with `had` (None before it
    was created), whose last `up` recorded `recorded_accel`."""
    wanted = asked.provider or ("container" if asked.incus_remote else setting)
    if had is not None and (asked.creating or asked.provider is None):
        if asked.creating and wanted not in ("auto", had):
            raise HalabError(
                f"lab {lab!r} was created with provider {had!r}, not {wanted!r}",
                f"a lab keeps its provider: `halab down {lab}` first, then `halab up "
                f"{topology} --provider {wanted}`")
        kind, why = had, CREATED_WITH
    else:
        kind, why = providers.choose(wanted)
    return Choice(kind, why, _accel(kind, recorded_accel, asked))


def _accel(kind: str, recorded: str | None, asked: Asked) -> str:
    if kind == "container" or asked.creating:
        return providers.acceleration(kind)
    return asked.accel or recorded or "tcg"
