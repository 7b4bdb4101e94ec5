"""The Kubernetes half of the failover scenario: lease holders, kubectl through the LB, pods.

Every kubectl runs on a master that stays up, with the admin kubeconfig, so it goes through the
load balancer like a user's would. The times are taken on this host's clock, around each call;
the arithmetic is `halab.verify.figures`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from halab.config.plan import APISERVER_PORT, Plan
from halab.facts import kube, workloads
from halab.poll import Reason, Timeout, poll
from halab.remote.runner import RemoteError, Runner
from halab.verify.figures import LeasePoll

LEASE_POLL = 1.0  # seconds between `kubectl get leases` while a master is down
POLL_LIMIT = 900  # no polling for longer than this, whatever happens
PODS_TIMEOUT = 240  # a Deployment created while a master is down, until its pods run
APISERVER_TIMEOUT = 300  # the halted master's apiserver, after its VM booted again
NEXT = "web-next"
# the seeds' `nginx-next`: a Deployment created while the master is down, its `kubectl apply`
# retried 5 s apart for this long (six tries or more)
APPLY_TIMEOUT = 25


class LeaseWatcher(threading.Thread):
    """Polls the lease holders through the LB from one master until stopped."""

    def __init__(self, probe: KubeProbe, via: str):
        super().__init__(name="halab-leases", daemon=True)
        self.probe, self.via = probe, via
        self.polls: list[LeasePoll] = []
        self.started = self.stopped = time.monotonic()
        self._done = threading.Event()

    def run(self) -> None:
        self.started = time.monotonic()
        deadline = self.started + POLL_LIMIT
        while not self._done.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                leases: dict[str, tuple[str, str]] | None = self.probe.leases(self.via, "5s")
            except RemoteError:
                leases = None
            self.polls.append(LeasePoll(t0, time.monotonic(), leases, time.time()))
            self._done.wait(max(0.0, LEASE_POLL - (time.monotonic() - t0)))
        self.stopped = time.monotonic()

    def snapshot(self) -> list[LeasePoll]:
        return list(self.polls)

    def finish(self) -> list[LeasePoll]:
        self._done.set()
        self.join(timeout=30)
        return self.snapshot()


@dataclass
class PodsReport:
    name: str
    seconds: float | None  # from `kubectl apply` until every replica ran on a minion
    placement: list[str] = field(default_factory=list)  # `pod on node`
    why: str = ""


@dataclass
class KubeProbe:
    """kubectl on the lab's masters, over the runner's SSH connections."""

    plan: Plan
    runner: Runner

    def kubectl(self, via: str, args: str, timeout: str = "20s") -> str:
        return self.runner.run(via, kube.kubectl(args, timeout), what=f"kubectl {args}",
                               timeout=60).stdout

    def leases(self, via: str, timeout: str = "20s") -> dict[str, tuple[str, str]]:
        """Lease → (the host holding it, `""` when nobody does; its last renewal time): the
        controller-manager's and scheduler's, and each minion's node lease (its kubelet's)."""
        found = kube.parse_lease_records(self.kubectl(via, "get leases -A -o json", timeout))
        names = [*kube.LEASES, *(kube.node_lease(m.name) for m in self.plan.minions)]
        return {lease: found.get(lease, ("", "")) for lease in names}

    def holders(self, via: str) -> dict[str, str]:
        return {lease: holder for lease, (holder, _) in self.leases(via).items()}

    def run_deployment(self, via: str, name: str, replicas: int, node_port: int | None = None,
                       budget: bool = False, grace: int = 2) -> PodsReport:
        """Create the web Deployment `name` (`workloads.web`) and time it until its pods run
        on minions."""
        minions = {m.name for m in self.plan.minions}
        manifest = workloads.namespace() + "---\n" + workloads.web(name, replicas, node_port,
                                                                   budget, grace)
        report = PodsReport(name, None)
        # An apiserver whose etcd connection went to the halted member can fail a request or
        # two ("keepalive ping failed") until its client moves on: retry, as a user would.
        def applied(why: Reason) -> bool | None:
            r = self.runner.run(via, kube.kubectl_stdin("apply -f -", manifest), check=False,
                                timeout=120)
            if not r.ok:
                why(((r.stderr or r.stdout).strip().splitlines() or ["no output"])[-1])
            return True if r.ok else None
        try:
            poll(applied, timeout=APPLY_TIMEOUT, interval=5, what=f"kubectl apply of {name}")
        except Timeout as exc:
            report.why = f"kubectl apply failed {exc.tries} time(s): {exc.last}"
            return report
        t0 = time.monotonic()

        def running(why: Reason) -> PodsReport | None:
            try:
                pods = kube.parse_pods(self.kubectl(
                    via, f"-n {workloads.NAMESPACE} get pods -l app={name} -o json"))
            except RemoteError as exc:
                report.why = str(exc).splitlines()[-1]
                return None
            report.placement = [f"{p.name} on {p.node or 'no node'} ({p.phase})" for p in pods]
            up = [p for p in pods if p.phase == "Running" and p.ready and p.node in minions]
            if len(up) < replicas:
                report.why = f"{len(up)} of {replicas} pods Running and Ready"
                return None
            report.seconds = time.monotonic() - t0
            return report
        try:
            return poll(running, timeout=PODS_TIMEOUT, interval=2, what=f"{name}'s pods")
        except Timeout:
            return report  # seconds None; `why` says what was missing last

    def delete(self, via: str, name: str) -> None:
        self.runner.run(via, kube.kubectl(f"-n {workloads.NAMESPACE} delete deployment,service,"
                                          f"poddisruptionbudget {name} --ignore-not-found "
                                          "--wait=false"),
                        what=f"deleting {name}", check=False, timeout=60)

    def wait_apiserver(self, via: str, host: str) -> float | None:
        """Seconds until `host`'s own apiserver answers /readyz (asked directly, not via the LB)."""
        ip = next(m.ip for m in self.plan.masters if m.name == host)
        ask = kube.kubectl(f"--server=https://{ip}:{APISERVER_PORT} get --raw /readyz", "10s")
        t0 = time.monotonic()

        def ready(why: Reason) -> float | None:
            r = self.runner.run(via, ask, check=False, timeout=60)
            return time.monotonic() - t0 if r.ok and r.stdout.strip() == "ok" else None
        try:
            return poll(ready, timeout=APISERVER_TIMEOUT, interval=3,
                        what=f"{host}'s apiserver")
        except Timeout:
            return None
