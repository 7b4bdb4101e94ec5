"""A tier: one role's services, the files whose change restarts each, and the one way every
tier starts and restarts services (`ensure`, and `roll` for clusters that must keep quorum).

The decisions here are made over the `Remote` protocol only, so they are unit-tested with
`remote.fake.RecordingRemote`, and run over SSH by `remote.runner.Runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from halab import ui
from halab.remote.protocol import Remote
from halab.remote.runner import parallel
from halab.render.desired import UNIT_DIR


def unit(name: str) -> str:
    return f"{UNIT_DIR}{name}.service"


@dataclass(frozen=True)
class Tier:
    """One provisioning step: a role's files and services, healthy before the next tier."""

    name: str
    role: str
    services: tuple[str, ...]
    # Files (path prefixes) whose change restarts a service; everything else restarts nothing.
    triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def services_for(self, changed: list[str]) -> list[str]:
        hit = [svc for svc, prefixes in self.triggers.items()
               if any(p.startswith(prefix) for p in changed for prefix in prefixes)]
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
         wait: Callable[[], object], first_alone: bool = False) -> int:
    """Start every stopped instance at once, then `wait`; then restart the running instances
    whose files changed one host at a time, waiting after each, so the others keep serving
    (and a cluster keeps quorum). Returns the number of starts and restarts.

    With `first_alone`, a stopped first host starts and is waited for before the others: one
    instance then writes the cluster's bootstrap objects (the apiserver's RBAC roles) without
    two more competing with it for a slow host's CPU and etcd."""
    started: dict[str, int] = {}
    waited = False
    if first_alone and hosts and ensure(remote, hosts[0], service, False):
        ui.info(f"  {service}: started on {hosts[0]} alone first")
        wait()
        started[hosts[0]] = 1
        waited = True
    rest = [h for h in hosts if h not in started]
    started.update(parallel(rest, lambda h: ensure(remote, h, service, False)))
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
            wait()
    return actions
