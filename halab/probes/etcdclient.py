"""The lab's etcd as seen from this host, through its JSON gateway: each member's status, the
member list, the cluster's health (`halab.probes.etcd.wait_healthy`) and a leadership move.

`for_lab` is the one place the client is made, from the lab's plan and the certificates
`halab up` keeps in the lab's directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts import etcd
from halab.poll import wait_until
from halab.probes.etcd import wait_healthy
from halab.probes.gateway import Gateway, GatewayError

HEALTH_INTERVAL = 2  # seconds between two looks at the cluster while waiting for its health


class LabDir(Protocol):
    """What the client needs of a lab (`halab.session.context.Lab` has it)."""

    @property
    def plan(self) -> Plan: ...

    @property
    def dir(self) -> Path: ...


def for_lab(lab: LabDir) -> Cluster:
    """The lab's etcd client: its plan, and the etcd CA and client certificate in `pki/`."""
    return Cluster(lab.plan, lab.dir / "pki")


@dataclass
class Cluster:
    """The lab's etcd as seen from this host through the JSON gateway."""

    plan: Plan
    pki_dir: Path

    def gateway(self, url: str, timeout: float = 2.0) -> Gateway:
        return Gateway.for_lab(self.plan, self.pki_dir, url, timeout)

    def member_urls(self) -> dict[str, str]:
        names = (m.name for m in self.plan.masters)
        return dict(zip(names, self.plan.etcd.member_client_urls, strict=True))

    def member_gateways(self, timeout: float = 1.0) -> dict[str, Gateway]:
        return {name: self.gateway(url, timeout) for name, url in self.member_urls().items()}

    def status_at(self, url: str) -> etcd.EndpointStatus | None:
        """One member's status at its client URL, or None when it does not answer within 1 s."""
        gw = self.gateway(url, timeout=1.0)
        try:
            return gw.status()
        except GatewayError:
            return None
        finally:
            gw.close()

    def statuses(self) -> dict[str, etcd.EndpointStatus | None]:
        return {name: self.status_at(url) for name, url in self.member_urls().items()}

    def problems_within(self, members: int, timeout: float = 60) -> list[str]:
        """Why the cluster is not `members` healthy members, asked until it is or `timeout`
        passes (under load a member can miss one status poll's 1 s deadline)."""
        return wait_healthy(self.view, lambda view: view.problems(members), timeout=timeout,
                            interval=HEALTH_INTERVAL).problems

    def listed_problems_within(self, timeout: float = 60) -> tuple[int, list[str]]:
        """How many members etcd lists, and why they are not all healthy with one leader or
        differ from the topology (`etcd.ClusterView.listed_problems`), asked until they are or
        `timeout` passes."""
        names = [m.name for m in self.plan.masters]
        health = wait_healthy(self.listed_view, lambda view: view.listed_problems(names),
                              timeout=timeout, interval=HEALTH_INTERVAL)
        return (len(health.view.members) if health.view else 0), health.problems

    def listed_view(self) -> etcd.ClusterView:
        """etcd's member list, each member asked for its status at its own client URL, so a
        member the topology does not know is counted too."""
        members = self.members([m.name for m in self.plan.masters])
        # a member added but not started yet has no client URL: it answers nothing
        found = (self.status_at(m.client_urls[0]) for m in members if m.client_urls)
        statuses = [st for st in found if st is not None]
        return etcd.ClusterView(tuple(members), tuple(statuses))

    def move_leader(self, to: str, timeout: float = 30) -> bool:
        """Hand etcd's leadership to member `to`, and wait until it leads; False if it did not."""
        statuses = self.statuses()
        leader = next((n for n, s in statuses.items() if s and s.is_leader), None)
        target = statuses.get(to)
        if leader is None or target is None:
            return False
        if leader != to:
            gw = self.gateway(self.member_urls()[leader], timeout=10)
            try:
                gw.move_leader(target.member_id)
            except GatewayError:
                return False
            finally:
                gw.close()
        def leads() -> bool:
            now = self.statuses().get(to)
            return now is not None and now.is_leader
        return wait_until(leads, timeout, 0.5)

    def members(self, via: list[str]) -> list[etcd.Member]:
        """The member list, asked of the first of `via` (member names) that answers."""
        urls = self.member_urls()
        last = ""
        for name in via:
            gw = self.gateway(urls[name])
            try:
                return gw.members()
            except GatewayError as exc:
                last = str(exc)
            finally:
                gw.close()
        raise HalabError(f"no etcd member answered the member list ({last})",
                         "`halab status` shows which hosts run")

    def view(self, via: list[str] | None = None) -> etcd.ClusterView:
        statuses = self.statuses()
        answering = [n for n, s in statuses.items() if s is not None]
        members = self.members(via or answering or [m.name for m in self.plan.masters])
        return etcd.ClusterView(tuple(members), tuple(s for s in statuses.values() if s))
