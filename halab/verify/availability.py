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
