"""A tier: one role's services, restarted when a file declared to restart them changes
(`render.tierfiles`), and the one way every tier starts and restarts services (`ensure`, and
`roll` for services that must keep serving or keep quorum).

The decisions here are made over the `Remote` protocol only, so they are unit-tested with
`remote.fake.RecordingRemote`, and run over SSH by `remote.runner.Runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from halab import ui
from halab.remote.protocol import Remote
from halab.remote.runner import parallel
from halab.render.tierfiles import RESTARTS
from halab.render.tierfiles.model import TierFiles


@dataclass(frozen=True)
class Tier:
    """One provisioning step: a role's files and services, healthy before the next tier."""

    files: TierFiles  # its declaration: its name, role and files
    services: tuple[str, ...]  # in the order they start

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def role(self) -> str | None:
        return self.files.role

    def services_for(self, changed: list[str]) -> list[str]:
        """Its services that a changed path is declared to restart (in start order)."""
        hit = {svc for path in changed for svc in RESTARTS.get(path, ())}
        return [s for s in self.services if s in hit]


def is_active(remote: Remote, host: str, service: str) -> bool:
    r = remote.run(host, f"systemctl is-active {service}", check=False)
    return r.stdout.strip() == "active"


def ensure(remote: Remote, host: str, service: str, changed: bool, block: bool = False) -> int:
    """Enable and start `service` if it is stopped, restart it if its files changed."""
    if not is_active(remote, host, service):
        how = "" if block else "--no-block "
        remote.run(host, f"systemctl enable {service} && systemctl start {how}{service}",
                   what=f"starting {service}", timeout=240)
        return 1
    if changed:
        remote.run(host, f"systemctl restart {service}", what=f"restarting {service}",
                   timeout=240)
        return 1
    return 0


def roll(remote: Remote, hosts: list[str], service: str, changed: Callable[[str], bool],
         wait: Callable[[], object], first_alone: bool = False, block: bool = False,
         settled: Callable[[str], object] | None = None) -> int:
    """Start every stopped instance at once, then `wait`; then restart the running instances
    whose files changed one host at a time, waiting after each, so the others keep serving
    (and a cluster keeps quorum). Returns the number of starts and restarts.

    With `first_alone`, a stopped first host starts and is waited for before the others: one
    instance then writes the cluster's bootstrap objects (the apiserver's RBAC roles) without
    two more competing with it for a slow host's CPU and etcd. With `block`, a start returns
    once the service is up (a service that fails to start fails here, not in `wait`). With
    `settled`, a restarted host is waited for by `settled(host)` instead: `wait` may be
    answered by the others (through a load balancer) before the restarted one is back."""
    started: dict[str, int] = {}
    waited = False
    if first_alone and hosts and ensure(remote, hosts[0], service, False, block):
        ui.info(f"  {service}: started on {hosts[0]} alone first")
        wait()
        started[hosts[0]] = 1
        waited = True
    rest = [h for h in hosts if h not in started]
    started.update(parallel(rest, lambda h: ensure(remote, h, service, False, block)))
    now = [h for h in rest if started[h]]
    if now:
        ui.info(f"  {service}: started on {', '.join(now)}")
    if now or not waited:
        wait()
    actions = sum(started.values())
    for h in hosts:
        if not started[h] and changed(h):
            ui.info(f"  {service}: restarting on {h} (its files changed)")
            actions += ensure(remote, h, service, True)
            (settled or (lambda _: wait()))(h)
    return actions
