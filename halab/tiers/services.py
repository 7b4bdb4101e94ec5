"""Starting and restarting systemd services on lab hosts: the one way every tier does it."""

from __future__ import annotations

from collections.abc import Callable

from halab import ui
from halab.remote.runner import Runner, parallel


def is_active(runner: Runner, host: str, service: str) -> bool:
    r = runner.run(host, f"systemctl is-active {service}", check=False)
    return r.stdout.strip() == "active"


def ensure(runner: Runner, host: str, service: str, changed: bool, block: bool = False) -> int:
    """Enable and start `service` if it is stopped, restart it if its files changed."""
    if not is_active(runner, host, service):
        how = "" if block else "--no-block "
        runner.run(host, f"systemctl enable {service} && systemctl start {how}{service}",
                   what=f"starting {service}", timeout=240)
        return 1
    if changed:
        runner.run(host, f"systemctl restart {service}", what=f"restarting {service}",
                   timeout=240)
        return 1
    return 0


def roll(runner: Runner, hosts: list[str], service: str, changed: Callable[[str], bool],
         wait: Callable[[], object], first_alone: bool = False) -> int:
    """Start every stopped instance at once, then `wait`; then restart the running instances
    whose files changed one host at a time, waiting after each, so the others keep serving
    (and a cluster keeps quorum). Returns the number of starts and restarts.

    With `first_alone`, a stopped first host starts and is waited for before the others: one
    instance then writes the cluster's bootstrap objects (the apiserver's RBAC roles) without
    two more competing with it for a slow host's CPU and etcd."""
    started: dict[str, int] = {}
    waited = False
    if first_alone and hosts and ensure(runner, hosts[0], service, False):
        ui.info(f"  {service}: started on {hosts[0]} alone first")
        wait()
        started[hosts[0]] = 1
        waited = True
    rest = [h for h in hosts if h not in started]
    started.update(parallel(rest, lambda h: ensure(runner, h, service, False)))
    now = [h for h in rest if started[h]]
    if now:
        ui.info(f"  {service}: started on {', '.join(now)}")
    if now or not waited:
        wait()
    actions = sum(started.values())
    for h in hosts:
        if not started[h] and changed(h):
            ui.info(f"  {service}: restarting on {h} (its files changed)")
            actions += ensure(runner, h, service, True)
            wait()
    return actions
