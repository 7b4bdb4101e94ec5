"""`halab partition`, `heal`, `netem`, `backup` and `restore`: the faults of the drills and the
recovery from them, acted out inside the hosts over SSH (iptables, tc, etcdctl, etcdutl), so
they work whatever runs the hosts. The rules and command lines are `halab.facts.faults` and
`halab.facts.snapshots`; this module runs them on the lab's hosts and says what it did.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

from halab import ui
from halab.config import layout
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts import faults, snapshots
from halab.facts.snapshots import SnapshotStatus
from halab.probes import etcdclient
from halab.probes.etcd import HEALTH_TIMEOUT
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError, parallel
from halab.session.context import Lab
from halab.tiers import kube_control, kube_nodes


def running(lab: Lab) -> list[str]:
    """The lab's hosts that run: the only ones that can take or drop rules."""
    return lab.running()


def names(arg: str | None) -> list[str] | None:
    return [n.strip() for n in arg.split(",") if n.strip()] if arg else None


# ── partition and heal ──────────────────────────────────────────────────────────────────────


def apply_partition(lab: Lab, part: faults.Partition, up: list[str]) -> None:
    hosts = [h for h in part.blocks if h in up]
    parallel(hosts, lambda h: lab.runner.run(h, faults.partition_script(part.blocks[h]),
                                             what="adding halab's partition rules"))


def isolate(lab: Lab, host: str, others: list[str]) -> float:
    """Cut `host` off from `others`: its own rules first (they alone cut it off, both ways), then
    the others'; returns when (monotonic) its own rules were all in place."""
    part = faults.split(lab.plan, [host], others)
    lab.runner.run(host, faults.partition_script(part.blocks[host]),
                   what="adding halab's partition rules")
    isolated_at = time.monotonic()
    apply_partition(lab, dataclasses.replace(
        part, blocks={h: ips for h, ips in part.blocks.items() if h != host}), running(lab))
    return isolated_at


def partition(arg: str | None, cut: str | None, others: str | None, zone: str | None) -> int:
    lab = Lab.existing(arg)
    try:
        part = faults.split(lab.plan, names(cut), names(others), zone)
        up = running(lab)
        with ui.step(f"partition: {part.summary()}"):
            apply_partition(lab, part, up)
            down = [h for h in part.blocks if h not in up]
            if down:
                ui.warn(f"  not running, so without rules of their own: {', '.join(down)} (the "
                        "running side still drops their traffic)")
        ui.info("  this host still reaches every lab host; next: `halab status` shows who is "
                "cut off from whom, `halab heal` removes every rule halab added")
    finally:
        lab.close()
    return 0


def heal_hosts(lab: Lab, up: list[str]) -> int:
    """Remove halab's partition rules from the running hosts; returns how many had some."""
    def heal_one(h: str) -> bool:
        had = bool(faults.blocked(lab.runner.run(h, faults.LIST_RULES).stdout))
        lab.runner.run(h, faults.heal_script(), what="removing halab's partition rules")
        return had
    return sum(parallel(up, heal_one).values())


def heal(arg: str | None) -> int:
    lab = Lab.existing(arg)
    try:
        with ui.step(f"heal lab {lab.plan.lab!r}"):
            healed = heal_hosts(lab, running(lab))
            ui.info(f"  removed halab's partition rules from {healed} host"
                    f"{'s' if healed != 1 else ''}" if healed else "  no partition rules found")
    finally:
        lab.close()
    return 0


# ── netem ───────────────────────────────────────────────────────────────────────────────────


def milliseconds(text: str | None, what: str) -> int:
    if not text:
        return 0
    m = re.fullmatch(r"(\d+)\s*(ms|s)?", text.strip())
    if not m:
        raise HalabError(f"{what} {text!r}: give milliseconds, e.g. 100ms")
    return int(m.group(1)) * (1000 if m.group(2) == "s" else 1)


def percent(text: str | None) -> float:
    if not text:
        return 0.0
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%?", text.strip())
    if not m:
        raise HalabError(f"--loss {text!r}: give a percentage, e.g. 1%")
    return float(m.group(1))


def apply_shaping(lab: Lab, s: faults.Shaping | None, up: list[str]) -> None:
    """Shape what `s` says on every running host and clear it elsewhere (None: clear all)."""
    def one(h: str) -> None:
        peers = s.to.get(h) if s else None
        dev = lab.plan.nic
        script = faults.netem_script(s, peers, dev) if s and peers else faults.clear_script(dev)
        lab.runner.run(h, script, what="setting halab's tc qdisc")
    try:
        parallel(up, one)
    except RemoteError as exc:
        if not (s is not None and lab.plan.containers and "qdisc" in str(exc)):
            raise
        raise HalabError(
            "netem shapes traffic in the kernel, and system containers share this host's kernel, "
            "which refused the netem qdisc (is CONFIG_NET_SCH_NETEM missing?)",
            "run the netem and slow-zone drills on a VM lab (`halab up LAB --provider vm`); "
            "partition, backup, restore and quorum-loss work on containers") from None


def netem(arg: str | None, zone: str | None, between: bool, delay: str | None,
          jitter: str | None, loss: str | None, clear: bool) -> int:
    lab = Lab.existing(arg)
    try:
        s = None if clear else faults.shaping(
            lab.plan, zone, between, milliseconds(delay, "--delay"),
            milliseconds(jitter, "--jitter"), percent(loss))
        up = running(lab)
        title = ("clear halab's shaping" if s is None else
                 f"netem {s.summary()} between zone {zone} and the others" if zone else
                 f"netem {s.summary()} between every pair of zones")
        with ui.step(title):
            apply_shaping(lab, s, up)
        if s:
            ui.info("  each direction gets it, so a round trip between zones grows by twice the "
                    "delay; `halab netem --clear` removes it")
    finally:
        lab.close()
    return 0


# ── backup and restore ──────────────────────────────────────────────────────────────────────


def _healthy_master(lab: Lab) -> str:
    statuses = etcdclient.for_lab(lab).statuses()
    for m in lab.plan.masters:
        if statuses.get(m.name) is not None:
            return m.name
    raise HalabError("no etcd member answers, so there is nothing to back up",
                     "`halab status` shows which masters run; `halab start --all` boots them")


def take_backup(lab: Lab) -> tuple[Path, SnapshotStatus]:
    """An etcd snapshot from a member that answers, checked, saved in .halab/<lab>/backups/."""
    via = _healthy_master(lab)
    h = lab.host(via)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lab.runner.run(via, snapshots.save_command(lab.plan, h), what="etcdctl snapshot save",
                   timeout=180)
    status = snapshots.parse_status(lab.runner.run(
        via, snapshots.status_command(), what="etcdutl snapshot status").stdout)
    local = lab.dir / snapshots.backup_name(stamp)
    lab.runner.get_file(via, snapshots.REMOTE_SNAPSHOT, local)
    lab.runner.run(via, f"rm -f {snapshots.REMOTE_SNAPSHOT}", check=False)
    return local, status


def backup(arg: str | None) -> int:
    lab = Lab.existing(arg)
    try:
        with ui.step(f"backup of lab {lab.plan.lab!r}'s etcd"):
            path, status = take_backup(lab)
            ui.info(f"  {path}: {status.summary()}, hash {status.hash:x}")
        ui.info(f"  restore it with `halab restore --lab {lab.plan.lab} {path}`")
    finally:
        lab.close()
    return 0


def _current_revision(lab: Lab) -> int | None:
    found = [s.revision for s in etcdclient.for_lab(lab).statuses().values()
             if s is not None]
    return max(found) if found else None


def do_restore(lab: Lab, snapshot: Path) -> float:
    """etcd's disaster recovery on every master; returns the seconds from stopping etcd to a
    healthy cluster with one leader."""
    p = lab.plan
    masters = [m.name for m in p.masters]
    if not snapshot.is_file() or snapshot.stat().st_size == 0:
        raise HalabError(f"{snapshot}: no such snapshot (or it is empty)",
                         f"`halab backup --lab {p.lab}` makes one in {lab.dir / 'backups'}/")
    off = [m for m in masters if m not in running(lab)]
    if off:
        raise HalabError(f"a restore needs every master running; not running: {', '.join(off)}",
                         f"`halab start --lab {p.lab} --all` first")
    with ui.step(f"upload and check {snapshot.name} on {len(masters)} masters"):
        parallel(masters, lambda m: lab.runner.put_file(m, snapshot, snapshots.REMOTE_SNAPSHOT,
                                                       mode=0o600))
        try:
            checked = parallel(masters, lambda m: snapshots.parse_status(lab.runner.run(
                m, snapshots.status_command(), what="etcdutl snapshot status").stdout))
        except (RemoteError, ValueError, KeyError) as exc:
            parallel(masters, lambda m: lab.runner.run(
                m, f"rm -f {snapshots.REMOTE_SNAPSHOT}", check=False))
            raise HalabError(f"{snapshot} does not verify as an etcd snapshot, so nothing was "
                             f"stopped or changed: {str(exc).splitlines()[0]}",
                             "give a file `halab backup` wrote") from None
        status = checked[masters[0]]
        ui.info(f"  {status.summary()}; " + snapshots.what_is_lost(_current_revision(lab),
                                                                   status.revision))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    units = snapshots.units_to_stop(p)
    started = time.monotonic()
    with ui.step(f"stop {', '.join(units)} on every master"):
        parallel(masters, lambda m: lab.runner.run(
            m, f"systemctl stop {' '.join(units)}", what="stopping etcd", timeout=180))
    with ui.step("etcdutl snapshot restore on every master (old data kept aside)"):
        parallel(masters, lambda m: lab.runner.run(
            m, snapshots.restore_script(p, lab.host(m), stamp), what="etcdutl snapshot restore",
            timeout=300))
        ui.info(f"  the data before the restore is in {layout.ETCD_DATA_DIR}"
                f".before-restore-{stamp} on each master")
    with ui.step("start etcd on every master and wait for one leader"):
        parallel(masters, lambda m: lab.runner.run(m, "systemctl start --no-block etcd",
                                                   what="starting etcd"))
        left = etcdclient.for_lab(lab).problems_within(len(masters), HEALTH_TIMEOUT)
        if left:
            raise HalabError("etcd did not come back after the restore: " + "; ".join(left),
                             "`halab ssh MASTER sudo journalctl -u etcd` shows why")
    took = time.monotonic() - started
    if p.kube:
        restart_kube(p, lab.runner, units)
    ui.info(f"  etcd restored from revision {status.revision} on {len(masters)} members in "
            f"{took:.1f}s")
    return took


def restart_kube(plan: Plan, remote: Remote, units: tuple[str, ...]) -> None:
    """After a restore every component that watches the API holds a view newer than etcd's:
    the control plane starts and answers, then the minions' components restart (as Kubernetes'
    etcd-restore guidance says) and the nodes are Ready again: `halab verify` passes at once."""
    masters, minions = [m.name for m in plan.masters], [m.name for m in plan.minions]
    control = " ".join(reversed(units[:-1]))
    with ui.step(f"start {control} on every master"):
        parallel(masters, lambda m: remote.run(m, f"systemctl start --no-block {control}",
                                               what="starting the control plane"))
        kube_control.wait_apiserver(plan, remote, kube_control.APISERVER_TIMEOUT)
    if not minions:
        return
    nodes = " ".join(snapshots.KUBE_NODE_UNITS)
    with ui.step(f"restart {nodes} on {', '.join(minions)}: they watch the API"):
        parallel(minions, lambda n: remote.run(n, f"systemctl restart {nodes}",
                                               what="restarting the node components"))
        kube_nodes.wait_nodes(plan, remote, kube_nodes.NODES_TIMEOUT)
    ui.info(f"  restarted {nodes} on {', '.join(minions)}; started {control} on "
            f"{', '.join(masters)}")


def restore(arg: str | None, snapshot: str, yes: bool) -> int:
    lab = Lab.existing(arg)
    try:
        if not yes:
            question = (f"restore lab {lab.plan.lab!r}'s etcd from {snapshot}? Every write after "
                        "it is lost (the old data is kept aside)")
            if not os.isatty(0):
                raise HalabError(f"`halab restore` would replace lab {lab.plan.lab!r}'s etcd "
                                 "data", "add --yes to confirm")
            if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
                ui.info("nothing restored")
                return 1
        do_restore(lab, Path(snapshot))
    finally:
        lab.close()
    return 0
