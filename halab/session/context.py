"""A lab as every command sees it: its topology read once, its plan, its directory and state,
its provider and (lazily) its SSH runner. Used as a context manager, so connections close.

The timeouts of waiting for hosts are here, since every command that boots hosts uses them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from halab import providers, ui
from halab.config import owned, plan, students
from halab.config.topology import Loaded, load
from halab.errors import HalabError
from halab.providers.protocol import Provider
from halab.remote.runner import Runner
from halab.session import choice, labdir
from halab.session.choice import Asked
from halab.session.labdir import State

SSH_TIMEOUT = 420  # a TCG VM takes 1–3 minutes to boot when several boot at once
NATIVE_SSH_TIMEOUT = 120  # a container or KVM guest is up in seconds: do not wait 7 minutes


def ssh_timeout(accel: str) -> int:
    return SSH_TIMEOUT if accel == "tcg" else NATIVE_SSH_TIMEOUT


def read(path: str, student: int | None = None) -> Loaded:
    """A topology file as written, or with `student` that student's copy (validated the same
    way), for the commands that read a file and not a lab (`validate`, `doctor`)."""
    return _warned(load(path), student)


def resolved(arg: str | None, student: int | None = None, save: bool = False
             ) -> tuple[str, Loaded]:
    """The file a command reads for the lab it was given (`labdir.resolve`; said in one line
    when that is not the file given), read once; with `student` student N's copy of the file
    given, saved in its lab directory when `save` (by `up`, so its state names that copy)."""
    found = labdir.resolve(arg, student)
    if found.note:
        ui.warn(found.note)
    derive = student if found.note is None else None
    loaded = _warned(found.loaded or load(found.topology), derive, save)
    return (str(loaded.path) if derive is not None and save else found.topology), loaded


def _warned(loaded: Loaded, student: int | None = None, save: bool = False) -> Loaded:
    """Student N's copy, said in one line (saved in its lab directory when `save`), then the
    topology's warnings: the one place they are printed."""
    if student is not None:
        derived = students.derive_lab(loaded, student)
        if save:
            path = labdir.write_topology(labdir.lab_path(derived.topology.name), derived.text)
            loaded = dataclasses.replace(derived.loaded, path=path)
            ui.info(f"{derived.summary()}; saved as {path}")
        else:
            loaded = derived.loaded
            ui.info(derived.summary())
    for w in loaded.warnings:
        ui.warn(w)
    return loaded


@dataclass
class Lab:
    """A lab from its topology file, with its directory and (lazily) its connections."""

    topology: str
    loaded: Loaded
    plan: plan.Plan
    dir: Path
    state: State | None
    why: str = ""  # why its provider (`choice.decide`), said by `up` and `doctor`
    _runner: Runner | None = field(default=None, repr=False)
    _provider: Provider | None = field(default=None, repr=False)

    @classmethod
    def open(cls, arg: str | None, student: int | None = None, asked: Asked | None = None
             ) -> Lab:
        """The lab a command means (by name, topology path, or as the only one; with `student`
        student N's copy of the file given), read once from the file that is its truth (said
        in one line when that is not the file given), planned once for the provider and
        acceleration decided here. `up` (asked.creating) saves a student's copy first, and
        the lab's directory then names it."""
        asked = asked or Asked()
        topology, loaded = resolved(arg, student, save=asked.creating)
        return cls.planned(topology, loaded, asked)

    @classmethod
    def planned(cls, topology: str, loaded: Loaded, asked: Asked | None = None) -> Lab:
        """The lab of a file already read: its state read, its provider and acceleration
        decided (`choice.decide`), its one plan built."""
        asked = asked or Asked()
        topo = loaded.topology
        d = labdir.lab_path(topo.name)
        state = labdir.read_state(d)
        chosen = choice.decide(topo.provider, state.created_with if state else None,
                               state.accel if state else None, asked, topo.name, topology)
        remote = choice.remote(topo.incus.remote if topo.incus else None,
                               state.incus_remote if state else None, asked, topo.name)
        joined = tuple(state.joined) if state else ()
        legacy = state is not None and state.naming < labdir.NAMING
        return cls(topology, loaded,
                   plan.build(topo, chosen.accel, joined, chosen.provider,  # type: ignore[arg-type]
                              legacy, remote),
                   d, state, chosen.why)

    @classmethod
    def existing(cls, arg: str | None) -> Lab:
        """A lab that `up` has created, as `open` finds it."""
        lab = cls.open(arg)
        if lab.state is None:
            raise HalabError(f"lab {lab.plan.lab!r} has not been brought up",
                             f"run `halab up {lab.topology}` first")
        return lab

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(self.ssh_config)
        return self._runner

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = providers.for_lab(self.dir, self.plan)
        return self._provider

    def recorded(self) -> owned.Objects:
        """What this lab created on this host, as its state recorded it. A lab from before
        records owns the exact names its topology gives (never a prefix)."""
        if self.state is None:
            return {}
        if self.state.naming < labdir.NAMING:
            return owned.merged(self.state.objects, self.provider.objects(self.plan))
        return self.state.objects

    def host(self, name: str) -> plan.HostPlan:
        h = self.plan.host(name)
        if h is None:
            names = ", ".join(x.name for x in self.plan.hosts)
            raise HalabError(f"lab {self.plan.lab!r} has no host {name!r}", f"hosts: {names}")
        return h

    def running(self) -> list[str]:
        """The lab's hosts that run now, as the provider says (daemons started first)."""
        self.provider.prepare()
        states = self.provider.states(self.plan)
        return [h.name for h in self.plan.hosts if states[h.name] == "running"]

    def close(self) -> None:
        """Close the SSH connections and the provider's (safe to call again; a later use
        reopens them)."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self._provider is not None:
            self._provider.close()
            self._provider = None

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
