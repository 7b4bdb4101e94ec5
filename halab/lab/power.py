"""Halting and starting VMs: one host (for a master, the failover demo), a zone, or the whole
lab, gracefully or by pulling the plug. `halab halt --all` then `halab up` is a cold restart."""

from __future__ import annotations

import time
from collections.abc import Callable

from halab import ui
from halab.config import groups, plan
from halab.errors import HalabError
from halab.probes import etcdclient
from halab.probes.etcd import HEALTH_TIMEOUT
from halab.remote.runner import RemoteError, parallel
from halab.render import pki
from halab.render.pki import PKIStore
from halab.session.context import SSH_TIMEOUT, Lab
from halab.verify import availability, demo, figures


def power_off(lab: Lab, h: plan.HostPlan, hard: bool) -> Callable[[], None]:
    """How one host is halted: a guest shutdown, or (`hard`) a power cut."""
    return lambda: lab.provider.halt(h, hard)


def boot(lab: Lab, h: plan.HostPlan) -> Callable[[], None]:
    def run() -> None:
        lab.provider.boot([h.name], lambda line: ui.info(f"  {line}"))
        lab.runner.wait_reachable(h.name, SSH_TIMEOUT)
    return run


def _has_failover(lab: Lab, h: plan.HostPlan) -> bool:
    """A master of a cluster that can lose one member: the demo has something to show."""
    return h.role == "master" and len(lab.plan.masters) >= 3


def halt(arg: str | None, host_name: str | None, hard: bool, zone: str | None = None,
         everything: bool = False, member: str | None = None) -> int:
    """Halt a VM (for a master, the failover demo), or a zone's VMs, or every VM of the lab;
    or lose a cluster member with every host on it."""

    lab = Lab.existing(arg)
    if member is not None:
        return _lose_member(lab, member, bool(host_name or zone or everything))
    chosen = groups.select(lab.plan, host_name, zone, everything, "halt")
    lab.provider.prepare()
    how = "power off" if hard else "graceful shutdown"
    if host_name is None:
        return _halt_group(lab, chosen, hard)
    h = chosen.hosts[0]
    if lab.provider.states(lab.plan)[h.name] != "running":
        ui.info(f"{h.name} is not running; nothing to halt (`halab start {h.name}` boots it)")
        return 0
    if not _has_failover(lab, h):
        with ui.step(f"halt {h.name} ({how})"):
            power_off(lab, h, hard)()
        return 0
    with ui.step(f"failover demo: halt {h.name} ({how})"):
        report = demo.halt_master(etcdclient.for_lab(lab), h, hard, power_off(lab, h, hard))
    for line in report.lines():
        ui.info(f"  {line}")
    ui.info("  member list now:")
    for row in demo.member_rows(report.after):
        ui.info(f"    {row}")
    ui.info(f"  next: `halab start {h.name}` brings it back and times its catch-up")
    return 0


PROBE_AROUND = 3.0  # s of API probes before a member is lost, and after etcd settled
GROUP_HALT_TIMEOUT = 240  # a graceful guest shutdown took up to 111 s under TCG


def halt_hosts(lab: Lab, hosts: tuple[plan.HostPlan, ...], hard: bool) -> list[str]:
    """Halt several VMs at once: each guest is asked to power off over SSH (or, with `hard`,
    its plug is pulled), then the provider is polled until they are off; a guest still on
    after GROUP_HALT_TIMEOUT is powered off. Returns the hosts that had to be forced."""
    states = lab.provider.states(lab.plan)
    on = [h for h in hosts if states[h.name] == "running"]
    if hard:
        for h in on:
            lab.provider.halt(h, hard=True)
        return []

    def ask(name: str) -> None:
        try:
            lab.runner.run(name, "systemctl poweroff --no-block", timeout=30, check=False)
        except RemoteError:
            pass  # unreachable: it is forced off below
    parallel([h.name for h in on], ask)
    forced = lab.provider.wait_off(on, GROUP_HALT_TIMEOUT)
    for h in on:
        if h.name in forced:
            lab.provider.halt(h, hard=True)
    return forced


def _lose_member(lab: Lab, member: str, others: bool) -> int:
    """A whole machine of the lab's cluster gone at once (the simulation kills its incusd and
    every process of its containers), then what etcd has left, as for a zone."""
    lab.provider.prepare()
    chosen = groups.on_member(lab.plan, lab.provider.members(lab.plan), member, others)
    _say_quorum(lab, chosen)
    api = (availability.api_prober(lab.plan, PKIStore(lab.dir / "pki").cert_path(pki.KUBE_CA))
           if lab.plan.kube and lab.plan.lb else None)
    if api is not None:
        api.start()
        time.sleep(PROBE_AROUND)  # a few answers before, to compare with
    try:
        with ui.step(f"lose {chosen.what}"):
            ui.info(f"  {lab.provider.lose_member(member)}")
        code = _after_group(lab, chosen)
        if api is not None:
            time.sleep(PROBE_AROUND)
    finally:
        marks = api.finish() if api is not None else []
    if marks:
        failed, n = figures.failures(marks)
        ui.info(f"  the API through {lab.plan.kube.api_url if lab.plan.kube else 'the LB'}: "
                f"{n - failed} of {n} probes answered ({1 / availability.INTERVAL:.1f} per "
                f"second, a new connection each), longest outage "
                f"{figures.longest_outage(marks):.1f}s")
    return code


def _say_quorum(lab: Lab, chosen: groups.Selection) -> None:
    quorum = groups.quorum_left(lab.plan, [h.name for h in chosen.hosts])
    if quorum.members:
        (ui.info if quorum.kept else ui.warn)(f"  {quorum.line()}")


def _halt_group(lab: Lab, chosen: groups.Selection, hard: bool) -> int:
    _say_quorum(lab, chosen)
    with ui.step(f"halt {chosen.what} ({'power off' if hard else 'graceful shutdown'})"):
        forced = halt_hosts(lab, chosen.hosts, hard)
        if forced:
            ui.warn(f"  {', '.join(forced)} did not shut down within {GROUP_HALT_TIMEOUT}s "
                    "and were powered off")
    return _after_group(lab, chosen)


def _after_group(lab: Lab, chosen: groups.Selection) -> int:
    """What etcd has left once a group of hosts is gone, and how to get them back."""
    p = lab.plan
    names = [h.name for h in chosen.hosts]
    quorum = groups.quorum_left(p, names)
    lab.close()
    survivors = [m.name for m in p.masters if m.name not in names]
    if survivors and len(survivors) < len(p.masters):
        cluster = etcdclient.for_lab(lab)
        if quorum.kept:
            still = cluster.problems_within(quorum.left, GROUP_SETTLE)
            ui.info("  etcd: " + ("; ".join(still) if still else
                                  f"{quorum.left} members healthy without the halted ones"))
        ui.info("  member list now:")
        try:
            for row in demo.member_rows(cluster.view(via=survivors)):
                ui.info(f"    {row}")
        except HalabError as exc:
            ui.warn(f"    {exc.message}")
    ui.info(f"  next: `halab start {chosen.args}` boots them" + (
        ", or `halab up` brings every tier back" if len(chosen.hosts) == len(p.hosts) else ""))
    return 0


GROUP_SETTLE = 60  # seconds for the surviving members to agree on a leader


def start(arg: str | None, host_name: str | None, zone: str | None = None,
          everything: bool = False, member: str | None = None) -> int:
    """Boot a halted VM (for a master, time until it rejoined and caught up with the leader),
    or every VM of a zone or of the lab; or bring a lost cluster member back with its hosts."""

    lab = Lab.existing(arg)
    lab.provider.prepare()
    if member is not None:
        with ui.step(f"bring member {member} back"):
            ui.info(f"  {lab.provider.restore_member(member)}")
        chosen = groups.on_member(lab.plan, lab.provider.members(lab.plan), member,
                                  bool(host_name or zone or everything))
    else:
        chosen = groups.select(lab.plan, host_name, zone, everything, "start")
    try:
        if host_name is None or member is not None:
            return _start_group(lab, chosen)
        h = chosen.hosts[0]
        if not _has_failover(lab, h):
            with ui.step(f"start {h.name}"):
                boot(lab, h)()
            return 0
        with ui.step(f"start {h.name} and wait until it catches up"):
            report = demo.start_master(etcdclient.for_lab(lab), h, boot(lab, h))
        for line in report.lines():
            ui.info(f"  {line}")
        return 0 if report.rejoin_seconds is not None else 1
    finally:
        lab.close()


def _start_group(lab: Lab, chosen: groups.Selection) -> int:

    p = lab.plan
    names = [h.name for h in chosen.hosts]
    with ui.step(f"start {chosen.what}"):
        lab.provider.boot(names, lambda line: ui.info(f"  {line}"))
        parallel(names, lambda h: lab.runner.wait_reachable(h, SSH_TIMEOUT))
    if not any(h.role == "master" for h in chosen.hosts):
        return 0
    with ui.step("wait for every etcd member"):
        still = etcdclient.for_lab(lab).problems_within(len(p.masters), HEALTH_TIMEOUT)
        ui.info("  etcd: " + ("; ".join(still) if still else
                              f"{len(p.masters)} members healthy"))
    if still:
        ui.warn("  `halab up` restarts what did not come back by itself")
    return 1 if still else 0


