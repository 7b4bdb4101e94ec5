"""The numbers of a failover: writes acknowledged and found, write gaps, time to a new leader.

Pure: `halab.verify.demo` records what happened (writes through the load balancer, status
answers of each member) and this module turns the records into the figures the demo prints and
the verdicts the failover scenario asserts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Write:
    """One put of key number `seq`; `acked` when etcd answered it with success."""

    seq: int
    started: float
    finished: float
    acked: bool
    error: str = ""


@dataclass
class WriteLog:
    """Every write of one run, between the writer's start and stop (monotonic seconds)."""

    started: float
    stopped: float | None = None
    writes: list[Write] = field(default_factory=list)

    def acked(self) -> list[int]:
        return [w.seq for w in self.writes if w.acked]

    def failed(self) -> list[Write]:
        return [w for w in self.writes if not w.acked]

    def longest_gap(self) -> float:
        """The longest time in which no write was acknowledged, from the writer's start to stop.

        Measured between the moments acknowledgements arrived; a run with no acknowledgement at
        all is one gap as long as the run.
        """
        end = self.stopped if self.stopped is not None else max(
            (w.finished for w in self.writes), default=self.started)
        marks = [self.started, *sorted(w.finished for w in self.writes if w.acked), end]
        return max((b - a for a, b in zip(marks, marks[1:], strict=False)), default=0.0)

    def lost(self, found: Iterable[int]) -> list[int]:
        """Acknowledged writes that are not there afterwards: must be none."""
        present = set(found)
        return [s for s in self.acked() if s not in present]

    def unacked_but_applied(self, found: Iterable[int]) -> list[int]:
        """Writes that timed out for the client but were committed (allowed, reported)."""
        failed = {w.seq for w in self.failed()}
        return sorted(failed & set(found))


@dataclass(frozen=True)
class Sample:
    """One status poll of a member: the leader id it named, or None when it did not answer."""

    at: float
    member: str
    leader: int | None


def went_silent(samples: Sequence[Sample], member: str, since: float) -> float | None:
    """When `member` stopped answering for good, at or after `since`: the first unanswered poll
    after its last answer (a poll that timed out while it still ran does not count)."""
    mine = sorted((s for s in samples if s.member == member and s.at >= since),
                  key=lambda s: s.at)
    last_answer = max((s.at for s in mine if s.leader is not None), default=since - 1)
    return next((s.at for s in mine if s.leader is None and s.at > last_answer), None)


def new_leader_seen(samples: Sequence[Sample], old_leader: int, since: float
                    ) -> tuple[float, int] | None:
    """The first answer at or after `since` that names a leader other than `old_leader`."""
    for s in sorted(samples, key=lambda s: s.at):
        if s.at >= since and s.leader not in (None, 0, old_leader):
            return s.at, s.leader
    return None


@dataclass(frozen=True)
class LeaderChange:
    """How long the cluster was without a usable leader after the old one was lost."""

    lost_at: float  # the old leader stopped answering (or the halt began, if it never answered)
    new_at: float | None
    new_leader: int | None

    @property
    def seconds(self) -> float | None:
        """Time from losing the old leader to seeing a new one; 0 when it handed over first."""
        if self.new_at is None:
            return None
        return max(0.0, self.new_at - self.lost_at)


def leader_change(samples: Sequence[Sample], old_leader_name: str, old_leader: int,
                  halt_started: float) -> LeaderChange:
    lost = went_silent(samples, old_leader_name, halt_started)
    seen = new_leader_seen(samples, old_leader, halt_started)
    if seen and lost is None:
        # A new leader while the old one still answers: it handed over (etcd's ExecStop on a
        # graceful halt), however long its host took to get there.
        lost = seen[0]
    return LeaderChange(lost_at=lost if lost is not None else halt_started,
                        new_at=seen[0] if seen else None, new_leader=seen[1] if seen else None)


@dataclass(frozen=True)
class LeasePoll:
    """One `kubectl get leases` through the LB: lease → (holder host, renewTime), or None when
    the call failed (which also counts against "kubectl keeps working")."""

    started: float
    finished: float
    leases: dict[str, tuple[str, str]] | None
    wall: float = 0.0  # the finish on the wall clock (renewTimes are wall-clock times)


@dataclass(frozen=True)
class LeaseMove:
    """A lease taken over by another host, on this host's clock."""

    last_renewal: float  # when the old holder's last renewal (or release) was first seen
    new_at: float  # when the new holder was first seen
    new_holder: str

    @property
    def seconds(self) -> float:
        """From the old holder's last renewal to the new holder: what the lease duration bounds."""
        return self.new_at - self.last_renewal


def holder_moved(polls: Sequence[LeasePoll], lease: str, old_host: str, since: float
                 ) -> LeaseMove | None:
    """The first poll at or after `since` that shows a host other than `old_host` holding
    `lease`, and when the lease record last changed before that."""
    last_change, previous = since, None
    for p in sorted(polls, key=lambda p: p.started):
        record = (p.leases or {}).get(lease)
        if record is None:
            continue
        if p.started >= since and record[0] not in ("", old_host):
            return LeaseMove(last_change, p.finished, record[0])
        if record != previous:
            last_change, previous = p.finished, record
    return None


def renewal_gap(polls: Sequence[LeasePoll], lease: str) -> float | None:
    """The longest time between two renewals of `lease` that the polls saw, counting the time
    from the last one seen to the last poll: with a node's lease, the longest time its kubelet
    could not reach the API (it renews every 10 s). None when no renewal was seen at all."""
    seen = sorted({_wall(p.leases[lease][1]) for p in polls
                   if p.leases and p.leases.get(lease, ("", ""))[1]})
    if not seen:
        return None
    end = max((p.wall for p in polls), default=seen[-1])
    marks = [*seen, max(end, seen[-1])]
    return max(b - a for a, b in zip(marks, marks[1:], strict=False))


def _wall(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def call_log(polls: Sequence[LeasePoll], started: float, stopped: float) -> WriteLog:
    """The polls as a log of calls, so their longest gap is measured like the writes'."""
    return WriteLog(started, stopped, [Write(i, p.started, p.finished, p.leases is not None)
                                       for i, p in enumerate(polls, 1)])


def key_seq(key: str, prefix: str) -> int | None:
    """The write number in a key the writer made (`<prefix><seq>`), or None for other keys."""
    if not key.startswith(prefix):
        return None
    tail = key[len(prefix):]
    return int(tail) if tail.isdigit() else None


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of nothing")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True)
class Mark:
    """One availability probe from this host (monotonic seconds): it got its answer, or why not."""

    started: float
    finished: float
    ok: bool
    why: str = ""


def outages(marks: Sequence[Mark]) -> list[tuple[float, float, str]]:
    """Each run of failed probes: from the start of its first failed probe to the start of the
    next probe that succeeded (to the last probe's end when none did), with the first failure's
    reason. Probes 0.4 s apart resolve them to about that."""
    out: list[tuple[float, float, str]] = []
    first: Mark | None = None
    ordered = sorted(marks, key=lambda m: m.started)
    for m in ordered:
        if not m.ok and first is None:
            first = m
        elif m.ok and first is not None:
            out.append((first.started, m.started, first.why))
            first = None
    if first is not None:
        out.append((first.started, ordered[-1].finished, first.why))
    return out


def longest_outage(marks: Sequence[Mark]) -> float:
    """The longest run of failed probes (`outages`); 0 when none failed."""
    return max((end - start for start, end, _ in outages(marks)), default=0.0)


def failures(marks: Sequence[Mark]) -> tuple[int, int]:
    """(failed, all) probes."""
    return sum(1 for m in marks if not m.ok), len(marks)
