"""The failover demo: halt a master while writing through the LB; start it and watch it catch up.

`halab halt HOST` and `halab start HOST` print the figures; `halab verify --scenario failover`
halts whichever master leads and asserts on the same figures. The recording happens here, on
this host's clock; the arithmetic is `halab.verify.figures`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import HostPlan
from halab.errors import HalabError
from halab.facts import etcd
from halab.poll import Reason, Timeout, poll, wait_until
from halab.probes.etcdclient import Cluster
from halab.probes.gateway import Gateway, GatewayError
from halab.verify import figures as failover
from halab.verify.figures import LeaderChange, Sample, Write, WriteLog

WRITE_INTERVAL = 0.1  # seconds between writes (one writer, so at most ~10 writes a second)
POLL_INTERVAL = 0.25  # seconds between status polls of each member
WRITER_LIMIT = 900  # no demo writes for longer than this, whatever happens
SETTLE = 3.0  # keep writing this long after a new leader is seen, so the write gap closes
NEW_LEADER_TIMEOUT = 120
REJOIN_TIMEOUT = 420  # a VM that boots under TCG, then its etcd replays the log
READBACK_TIMEOUT = 60


class Writer(threading.Thread):
    """Puts numbered keys `<prefix>000001`, `…002`, … through one URL until stopped."""

    def __init__(self, gateway: Gateway, prefix: str):
        super().__init__(name="halab-writer", daemon=True)
        self.gateway, self.prefix = gateway, prefix
        self.log = WriteLog(started=time.monotonic())
        self._done = threading.Event()

    def run(self) -> None:
        self.log.started = time.monotonic()
        deadline = self.log.started + WRITER_LIMIT
        seq = 0
        while not self._done.is_set() and time.monotonic() < deadline:
            seq += 1
            t0 = time.monotonic()
            try:
                self.gateway.put(f"{self.prefix}{seq:06d}", str(seq))
                ok, error = True, ""
            except GatewayError as exc:
                ok, error = False, str(exc)
            self.log.writes.append(Write(seq, t0, time.monotonic(), ok, error))
            self._done.wait(max(0.0, WRITE_INTERVAL - (time.monotonic() - t0)))
        self.log.stopped = time.monotonic()

    def finish(self) -> WriteLog:
        self._done.set()
        self.join(timeout=30)
        self.gateway.close()
        return self.log

    def acked_since(self, since: float) -> int:
        return sum(1 for w in list(self.log.writes) if w.acked and w.finished >= since)


class Watcher:
    """Polls every master's status directly: which leader each names, or that it is silent."""

    def __init__(self, gateways: dict[str, Gateway], interval: float = POLL_INTERVAL):
        self.gateways, self.interval = gateways, interval
        self.samples: list[Sample] = []
        # every answer in full (term, raft index), for the partition scenario's judge
        self.answers: list[tuple[float, str, etcd.EndpointStatus | None]] = []
        self.latest: dict[str, etcd.EndpointStatus | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(name,), daemon=True,
                                          name=f"halab-watch-{name}") for name in gateways]

    def start(self) -> Watcher:
        for t in self._threads:
            t.start()
        return self

    def _poll(self, name: str) -> None:
        deadline = time.monotonic() + WRITER_LIMIT
        while not self._stop.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                st: etcd.EndpointStatus | None = self.gateways[name].status()
            except GatewayError:
                st = None
            with self._lock:
                self.samples.append(Sample(t0, name, st.leader if st else None))
                self.answers.append((t0, name, st))
                self.latest[name] = st
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def full(self) -> list[tuple[float, str, etcd.EndpointStatus | None]]:
        with self._lock:
            return list(self.answers)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        for gw in self.gateways.values():
            gw.close()


def name_of(members: list[etcd.Member] | tuple[etcd.Member, ...], member_id: int | None) -> str:
    return next((m.name for m in members if m.id == member_id), f"{member_id or 0:x}")


# ── halt ────────────────────────────────────────────────────────────────────────────────────


@dataclass
class HaltReport:
    host: str
    hard: bool
    election_timeout_ms: int
    old_leader: str
    halt_seconds: float
    change: LeaderChange | None  # None when the halted member was not the leader
    new_leader: str | None
    writes: WriteLog
    found: list[int]
    after: etcd.ClusterView
    readback_error: str = ""

    @property
    def lost(self) -> list[int]:
        return self.writes.lost(self.found)

    def lines(self) -> list[str]:
        acked = len(self.writes.acked())
        out = [f"halted {self.host} ({'power off' if self.hard else 'graceful'}) in "
               f"{self.halt_seconds:.1f}s"]
        if self.change is None:
            out.append(f"{self.host} was a follower: {self.old_leader} still leads")
        elif self.change.seconds is None:
            out.append(f"no new leader was seen within {NEW_LEADER_TIMEOUT}s")
        else:
            out.append(f"new leader {self.new_leader} {self.change.seconds:.2f}s after "
                       f"{self.old_leader} stopped answering (election timeout "
                       f"{self.election_timeout_ms / 1000:.1f}s)")
        out.append(f"longest write gap through the LB: {self.writes.longest_gap():.2f}s")
        found_acked = acked - len(self.lost)
        extra = self.writes.unacked_but_applied(self.found)
        out.append(f"writes: {len(self.writes.writes)} sent, {acked} acknowledged, "
                   f"{found_acked} of them found afterwards, {len(self.lost)} lost"
                   + (f" ({len(extra)} unacknowledged writes were applied too)" if extra else ""))
        if self.readback_error:
            out.append(f"could not read the keys back: {self.readback_error}")
        return out


def member_rows(view: etcd.ClusterView) -> list[str]:
    """The member list with each member's state: leader, follower or unreachable."""
    status = {s.member_id: s for s in view.statuses}
    rows = []
    for m in view.members:
        st = status.get(m.id)
        state = ("unreachable" if st is None else "leader" if st.is_leader else "follower")
        index = f"raft index {st.raft_index}, term {st.raft_term}" if st else ""
        rows.append(f"{m.name:<10} {','.join(m.peer_urls):<28} {state:<12} {index}")
    return rows


def halt_master(cluster: Cluster, host: HostPlan, hard: bool,
                power_off: Callable[[], None]) -> HaltReport:
    """Write through the LB, halt `host` with `power_off`, and measure what the cluster did."""
    plan = cluster.plan
    before = cluster.view()
    old_leader = before.leader_name()
    if old_leader is None:
        why = "; ".join(before.problems(len(plan.masters)))
        raise HalabError(f"etcd has no single leader before the halt ({why})",
                         "wait for the cluster to settle (`halab status`), or `halab up` again")
    old_id = next(m.id for m in before.members if m.name == old_leader)
    ui.info(f"  {old_leader} leads (term {max(before.terms())}); writing numbered keys through "
            f"{plan.etcd.client_url} every {WRITE_INTERVAL:.1f}s")
    prefix = f"/halab/failover/{time.strftime('%Y%m%d-%H%M%S')}/"
    writer = Writer(cluster.gateway(plan.etcd.client_url), prefix)
    watcher = Watcher(cluster.member_gateways()).start()
    writer.start()
    try:
        time.sleep(2)  # a baseline of acknowledged writes before the halt
        halt_started = time.monotonic()
        power_off()
        halt_seconds = time.monotonic() - halt_started
        change, new_name = None, None
        if host.name == old_leader:
            def new_leader_seen() -> bool:
                nonlocal change
                change = failover.leader_change(watcher.snapshot(), old_leader, old_id,
                                                halt_started)
                return change.new_at is not None
            wait_until(new_leader_seen, NEW_LEADER_TIMEOUT, POLL_INTERVAL)
            new_name = name_of(before.members, change.new_leader) if change else None
        settle_from = time.monotonic()
        wait_until(lambda: time.monotonic() - settle_from >= SETTLE
                   and writer.acked_since(settle_from) >= 3, 60, 0.2)
    finally:
        log = writer.finish()
        watcher.stop()
    found, readback_error = read_back(cluster, prefix)
    survivors = [m.name for m in plan.masters if m.name != host.name]
    after = cluster.view(via=survivors)
    return HaltReport(host.name, hard, plan.etcd.election_timeout_ms, old_leader, halt_seconds,
                      change, new_name, log, found, after, readback_error)


def read_back(cluster: Cluster, prefix: str) -> tuple[list[int], str]:
    """The write numbers present under `prefix` (read through the LB), then delete them."""
    gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=5.0)

    def read(why: Reason) -> list[int] | None:
        try:
            keys = gw.keys(prefix)
            seqs = [s for s in (failover.key_seq(k, prefix) for k in keys) if s is not None]
            gw.delete_prefix(prefix)
            return seqs
        except GatewayError as exc:
            why(str(exc))  # the whole message, as the report prints it
            return None
    try:
        return poll(read, timeout=READBACK_TIMEOUT, interval=1, what="reading the keys back"), ""
    except Timeout as exc:
        return [], exc.last
    finally:
        gw.close()


# ── start ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class RejoinReport:
    host: str
    boot_seconds: float
    rejoin_seconds: float | None  # after the boot, until its raft index equals the leader's
    raft_index: int = 0
    leader_index: int = 0
    leader: str = ""
    seen: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.host} booted in {self.boot_seconds:.1f}s"]
        if self.rejoin_seconds is None:
            out.append(f"{self.host} did not catch up within {REJOIN_TIMEOUT}s")
        else:
            out.append(f"{self.host} rejoined and caught up {self.rejoin_seconds:.1f}s after boot"
                       f" (raft index {self.raft_index} = leader {self.leader}'s "
                       f"{self.leader_index})")
        return out


def start_master(cluster: Cluster, host: HostPlan, boot: Callable[[], None]) -> RejoinReport:
    t0 = time.monotonic()
    boot()
    booted = time.monotonic()
    report = RejoinReport(host.name, booted - t0, None)

    def caught_up(why: Reason) -> RejoinReport | None:
        statuses = cluster.statuses()
        mine = statuses.get(host.name)
        leader = next((s for s in statuses.values() if s and s.is_leader), None)
        if not (mine and leader and mine.leader == leader.member_id
                and mine.raft_index >= leader.raft_index):
            return None
        report.rejoin_seconds = time.monotonic() - booted
        report.raft_index, report.leader_index = mine.raft_index, leader.raft_index
        members = cluster.members([host.name])
        report.leader = name_of(members, leader.member_id)
        return report
    try:
        return poll(caught_up, timeout=REJOIN_TIMEOUT, interval=1,
                    what=f"{host.name} to catch up")
    except Timeout:
        return report  # rejoin_seconds None: it did not catch up
