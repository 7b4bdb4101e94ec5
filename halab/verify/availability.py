"""Probes a drill keeps running from this host while it works on the lab (2.5 per second): the
API through the load balancer, and a workload through its NodePort on each minion in turn. The
marks they leave are judged in `halab.verify.figures` (`longest_outage`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from halab.config.plan import Plan
from halab.probes import availability
from halab.verify.figures import Mark

INTERVAL = 0.4  # seconds from one probe's start to the next: 2.5 Hz
LIMIT = 1800  # no probing for longer than this, whatever happens


class Prober(threading.Thread):
    """Calls `ask(n)` for n = 0, 1, … every INTERVAL until stopped; `ask` returns "" on an
    answer, else why not."""

    def __init__(self, name: str, ask: Callable[[int], str]):
        super().__init__(name=f"halab-probe-{name}", daemon=True)
        self.ask = ask
        self.marks: list[Mark] = []
        self._done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + LIMIT
        n = 0
        while not self._done.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            why = self.ask(n)
            self.marks.append(Mark(t0, time.monotonic(), not why, why))
            n += 1
            self._done.wait(max(0.0, INTERVAL - (time.monotonic() - t0)))

    def finish(self) -> list[Mark]:
        self._done.set()
        self.join(timeout=30)
        return list(self.marks)


def api_prober(plan: Plan, ca: Path) -> Prober:
    """/readyz at the address clients use (the LB, or the VIP)."""
    assert plan.kube is not None
    url = urlsplit(plan.kube.api_url)
    host, port = url.hostname or "", url.port or 443
    return Prober("api", lambda _: availability.readyz(host, port, ca))


def workload_prober(plan: Plan, node_port: int) -> Prober:
    """The workload's NodePort, on each minion in turn."""
    ips = [m.ip for m in plan.minions]
    return Prober("workload", lambda n: availability.http_ok(ips[n % len(ips)], node_port))


def ready_prober(plan: Plan, ca: Path, client: tuple[Path, Path], namespace: str,
                 name: str) -> Prober:
    """Deployment `name`'s ready replicas, through the LB: "" while at least one is ready,
    "0 ready" when none, else why the API did not say."""
    assert plan.kube is not None
    url = urlsplit(plan.kube.api_url)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

    def ask(_: int) -> str:
        got = availability.ready_replicas(url.hostname or "", url.port or 443, ca, client, path)
        if isinstance(got, str):
            return f"{NOT_ASKED}{got}"
        return "" if got > 0 else ZERO_READY
    return Prober("ready", ask)


ZERO_READY = "0 ready"
NOT_ASKED = "not asked: "  # the API did not answer: the count is unknown, not zero
