"""A fake `LabActions` for driving scenarios without a host: it records every action in order
and answers from a small in-memory etcd (members that go down, an elected leader, a raft index
that grows with each write, a partition and its heal), through the real etcd client
(`halab.probes.etcdclient.for_lab`) the scenarios use on a real lab; only the gateway under it
is fake."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts import etcd
from halab.facts.snapshots import SnapshotStatus
from halab.probes import etcdclient
from halab.probes.etcdclient import Cluster
from halab.probes.gateway import GatewayError
from halab.render.pki import PKIStore
from halab.verify import kubedemo


@dataclass
class FakeEtcd:
    """The cluster's state: which members run, who leads in which term, what is stored."""

    names: list[str]
    urls: list[str]  # each member's client URL, as the plan gives it
    leader: str | None = None
    term: int = 1
    index: int = 100
    down: set[str] = field(default_factory=set)
    isolated: str | None = None
    isolated_at: tuple[int, int] = (0, 0)  # its term and raft index when it was cut off
    store: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.leader = self.names[0]

    def ident(self, name: str) -> int:
        return self.names.index(name) + 1

    def member_at(self, url: str) -> str | None:
        return self.names[self.urls.index(url)] if url in self.urls else None

    def elect(self, without: set[str]) -> None:
        """A new term, led by the first member that runs and is not in `without`."""
        up = [n for n in self.names if n not in self.down | without]
        if 2 * len(up) > len(self.names):
            self.leader, self.term = up[0], self.term + 1
        else:
            self.leader = None

    def serving(self) -> bool:
        """A leader runs, with a majority of the members running: writes commit."""
        up = [n for n in self.names if n not in self.down]
        return self.leader is not None and self.leader in up and 2 * len(up) > len(self.names)

    def status(self, name: str, url: str) -> etcd.EndpointStatus:
        if name in self.down:
            raise GatewayError(f"{name} does not answer")
        if name == self.isolated:  # cut off: a follower of nobody, its index frozen
            term, index = self.isolated_at
            return etcd.EndpointStatus(url, self.ident(name), 0, term, index, "3.5")
        lead = self.ident(self.leader) if self.serving() and self.leader else 0
        return etcd.EndpointStatus(url, self.ident(name), lead, self.term, self.index, "3.5")

    def members(self) -> list[etcd.Member]:
        return [etcd.Member(self.ident(n), n, (u.replace(":2379", ":2380"),), (u,))
                for n, u in zip(self.names, self.urls, strict=True)]


class FakeGateway:
    """`halab.probes.gateway.Gateway` on a `FakeEtcd`: a member's URL, or the LB's."""

    def __init__(self, state: FakeEtcd, url: str):
        self.state, self.url = state, url
        self.member = state.member_at(url)

    def _answering(self) -> None:
        if self.member in self.state.down or not self.state.serving():
            raise GatewayError(f"{self.url}: no leader reachable")

    def put(self, key: str, value: str) -> None:
        with self.state.lock:
            self._answering()
            self.state.store[key] = value
            self.state.index += 1

    def keys(self, prefix: str) -> list[str]:
        with self.state.lock:
            self._answering()
            return sorted(k for k in self.state.store if k.startswith(prefix))

    def delete_prefix(self, prefix: str) -> None:
        with self.state.lock:
            for k in [k for k in self.state.store if k.startswith(prefix)]:
                del self.state.store[k]

    def status(self) -> etcd.EndpointStatus:
        with self.state.lock:
            assert self.member is not None, "status is asked of a member"
            return self.state.status(self.member, self.url)

    def members(self) -> list[etcd.Member]:
        with self.state.lock:
            if self.member in self.state.down:
                raise GatewayError(f"{self.member} does not answer")
            return self.state.members()

    def close(self) -> None:
        pass


BACKUP = Path("/fake/.halab/lab/backups/etcd-20260101-000000.db")


@dataclass
class Script:
    """What the fake lab does unlike a healthy one, to make a verdict fail."""

    forget_on_halt: bool = False  # a halt loses every key (acknowledged writes lost)
    stays_on: tuple[str, ...] = ()  # hosts a halt of every host leaves running
    catches_up: bool = True  # after a heal the isolated member catches up
    restores: bool = True  # a restore brings back the backup (else it fails)
    checks: dict[str, int] = field(default_factory=lambda: {"passed": 12, "failed": 0,
                                                             "skipped": 1})


class FakeLab:
    """`LabActions` over a `FakeEtcd`: each call is recorded in `calls`, in order."""

    def __init__(self, plan: Plan, script: Script | None = None):
        self.plan, self.script = plan, script or Script()
        masters = [m.name for m in plan.masters]
        self.state = FakeEtcd(masters, list(plan.etcd.member_client_urls))
        self.dir = Path("/nonexistent")  # no certificates: the gateway under the client is fake
        self.cluster = etcdclient.for_lab(self)
        self.cluster.gateway = self._gateway  # type: ignore[method-assign]
        self.off: set[str] = set()
        self.snapshot: dict[str, str] = {}
        self.calls: list[tuple] = []

    def _record(self, *call: object) -> None:
        self.calls.append(call)

    def actions(self) -> list[str]:
        """The names of the calls, in order."""
        return [c[0] for c in self.calls]

    def _gateway(self, url: str, timeout: float = 2.0) -> FakeGateway:
        return FakeGateway(self.state, url)

    def etcd(self) -> Cluster:
        return self.cluster

    def kube(self) -> kubedemo.KubeProbe | None:
        self._record("kube")
        return None

    def machines(self) -> dict[str, str]:
        self._record("machines")
        return {h.name: "shut off" if h.name in self.off else "running" for h in self.plan.hosts}

    def vip_holders(self, lbs: list[str]) -> list[str]:
        self._record("vip_holders", tuple(lbs))
        return [n for n in lbs if n not in self.off][:1]

    def lb_reach(self, lb: str) -> list[str]:
        self._record("lb_reach", lb)
        return [m.name for m in self.plan.masters if m.name not in self.off]

    def checks(self) -> dict[str, int]:
        self._record("checks")
        return dict(self.script.checks)

    def _power_off(self, hosts: list[str]) -> None:
        with self.state.lock:
            self.off |= set(hosts)
            self.state.down |= set(hosts) & set(self.state.names)
            if self.state.leader in self.state.down:
                self.state.elect(set())
            if self.script.forget_on_halt:
                self.state.store.clear()

    def _power_on(self, hosts: list[str]) -> None:
        with self.state.lock:
            self.off -= set(hosts)
            self.state.down -= set(hosts)
            if not self.state.serving():
                self.state.elect(set())

    def halt(self, hosts: list[str], hard: bool) -> None:
        self._record("halt", tuple(hosts), hard)
        self._power_off(hosts)

    def halt_all(self, hard: bool) -> list[str]:
        self._record("halt_all", hard)
        self._power_off([h.name for h in self.plan.hosts if h.name not in self.script.stays_on])
        return []

    def start(self, hosts: list[str]) -> None:
        self._record("start", tuple(hosts))
        self._power_on(hosts)

    def up(self) -> None:
        self._record("up")
        self._power_on([h.name for h in self.plan.hosts])

    def partition(self, host: str, others: list[str]) -> float:
        self._record("partition", host, tuple(others))
        with self.state.lock:
            self.state.isolated = host
            self.state.isolated_at = (self.state.term, self.state.index)
            if self.state.leader == host:
                self.state.elect({host})
        return time.monotonic()

    def heal(self) -> None:
        self._record("heal")
        with self.state.lock:
            if self.script.catches_up:
                self.state.isolated = None

    def shape(self, zone: str | None, delay_ms: int) -> None:
        self._record("shape", zone, delay_ms)

    def backup(self) -> tuple[Path, SnapshotStatus]:
        self._record("backup")
        with self.state.lock:
            self.snapshot = dict(self.state.store)
            return BACKUP, SnapshotStatus(0x1234, self.state.index, len(self.snapshot), 20480)

    def restore(self, snapshot: Path) -> float:
        self._record("restore", snapshot)
        if not self.script.restores:
            raise HalabError("etcd did not come back after the restore: 1 of 3 members answered")
        with self.state.lock:
            self.state.store = dict(self.snapshot)
            self.state.elect(set())
        return 2.0

    def pki(self) -> PKIStore:
        self._record("pki")
        return PKIStore(self.dir / "pki")

    def renew_certs(self, restart: bool) -> None:
        self._record("renew_certs", restart)

    def upgrade(self, to: str, drain: bool
                ) -> tuple[list[tuple[str, float, float]], dict[str, dict[str, str]]]:
        self._record("upgrade", to, drain)
        return [], {}

    def keep(self, name: str, data: bytes) -> Path:
        self._record("keep", name, len(data))
        return self.dir / name
