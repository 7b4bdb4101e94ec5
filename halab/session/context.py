"""A lab as every command sees it: its topology read once, its plan, its directory and state,
its provider and (lazily) its SSH runner. Used as a context manager, so connections close.

The timeouts of waiting for hosts are here, since every command that boots hosts uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from halab import providers, ui
from halab.config import owned, plan
from halab.config.topology import Loaded, load
from halab.errors import HalabError
from halab.providers.protocol import Provider
from halab.remote.runner import Runner
from halab.session import labdir
from halab.session.labdir import State

SSH_TIMEOUT = 420  # a TCG VM takes 1–3 minutes to boot when several boot at once
NATIVE_SSH_TIMEOUT = 120  # a container or KVM guest is up in seconds: do not wait 7 minutes


def ssh_timeout(accel: str) -> int:
    return SSH_TIMEOUT if accel == "tcg" else NATIVE_SSH_TIMEOUT


def load_warned(topology: str) -> Loaded:
    loaded = load(topology)
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
    _runner: Runner | None = field(default=None, repr=False)
    _provider: Provider | None = field(default=None, repr=False)

    @classmethod
    def open(cls, topology: str, loaded: Loaded | None = None) -> Lab:
        """`loaded` is the file already read (by `labdir.resolve`): it is not read again."""
        if loaded is None:
            loaded = load_warned(topology)
        else:
            for w in loaded.warnings:
                ui.warn(w)
        d = labdir.lab_path(loaded.topology.name)
        state = labdir.read_state(d)
        kind = state.created_with if state else providers.choose(loaded.topology.provider)[0]
        accel = state.accel if state else ("native" if kind == "container" else "tcg")
        joined = tuple(state.joined) if state else ()
        legacy = state is not None and state.naming < labdir.NAMING
        return cls(topology, loaded,
                   plan.build(loaded.topology, accel, joined, kind,  # type: ignore[arg-type]
                              legacy),
                   d, state)

    @classmethod
    def resolved(cls, arg: str | None) -> Lab:
        """The lab a command means (by name, topology path, or as the only one), read from the
        file that is its truth; said in one line when that is not the file given."""
        found = labdir.resolve(arg)
        if found.note:
            ui.warn(found.note)
        return cls.open(found.topology, found.loaded)

    @classmethod
    def existing(cls, arg: str | None) -> Lab:
        """A lab that `up` has created, as `resolved` finds it."""
        lab = cls.resolved(arg)
        if lab.state is None:
            raise HalabError(f"lab {lab.plan.lab!r} has not been brought up",
                             f"run `halab up {lab.topology}` first")
        return lab

    def with_accel(self, accel: str) -> Lab:
        """The same lab planned for another acceleration (etcd's timings follow it)."""
        if accel == self.plan.accel:
            return self
        joined = tuple(self.state.joined) if self.state else ()
        self.close()
        return Lab(self.topology, self.loaded,
                   plan.build(self.loaded.topology, accel, joined,  # type: ignore[arg-type]
                              self.plan.provider, self.plan.legacy_names),
                   self.dir, self.state)

    def with_provider(self, kind: str) -> Lab:
        """The same lab on another provider (before it is created: `up --provider`)."""
        if kind == self.plan.provider:
            return self
        self.close()
        accel = "native" if kind == "container" else "tcg"
        joined = tuple(self.state.joined) if self.state else ()
        return Lab(self.topology, self.loaded,
                   plan.build(self.loaded.topology, accel, joined, kind,  # type: ignore[arg-type]
                              self.plan.legacy_names),
                   self.dir, self.state)

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
