"""Lab operations: up, status, halt, start, ssh, down. Each prints its steps and their durations.

This is the conductor: the pure modules say what a lab should be (plan, render, provision), the
providers and the runner make it so on this host and its VMs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from halab import home, ui
from halab.artifacts import binaries
from halab.config import layout, plan, preflight
from halab.config.topology import Loaded, load
from halab.errors import HalabError
from halab.facts import etcd, faults, kube
from halab.lab import labdir
from halab.lab.labdir import State
from halab.providers import hostfacts
from halab.providers.vagrant_libvirt.domains import Libvirt
from halab.providers.vagrant_libvirt.vagrantlab import VagrantLab
from halab.remote.runner import RemoteError, Runner, parallel
from halab.render import desired as provision
from halab.render import files as render
from halab.render import pki
from halab.tiers import kube as kubetier
from halab.tiers import services
from halab.workshop import diagram

SSH_TIMEOUT = 420  # a TCG VM takes 1–3 minutes to boot when several boot at once
ETCD_TIMEOUT = 240
LB_TIMEOUT = 90


def _load(topology: str) -> Loaded:
    loaded = load(topology)
    for w in loaded.warnings:
        ui.warn(w)
    return loaded


@dataclass
class Lab:
    """A lab from its topology file, with its directory and (lazily) its connections."""

    topology: str
    loaded: Loaded
    plan: plan.Plan
    dir: Path
    state: State | None
    _runner: Runner | None = field(default=None, repr=False)

    @classmethod
    def open(cls, topology: str, accel: str | None = None) -> Lab:
        loaded = _load(topology)
        d = labdir.lab_path(loaded.topology.name)
        state = labdir.read_state(d)
        chosen = accel or (state.accel if state else "tcg")
        joined = tuple(state.joined) if state else ()
        return cls(topology, loaded, plan.build(loaded.topology, chosen, joined),  # type: ignore[arg-type]
                   d, state)

    @classmethod
    def resolved(cls, arg: str | None) -> Lab:
        """The lab a command means (by name, topology path, or as the only one), read from the
        file that is its truth; said in one line when that is not the file given."""
        found = labdir.resolve(arg)
        if found.note:
            ui.warn(found.note)
        return cls.open(found.topology)

    @classmethod
    def existing(cls, arg: str | None) -> Lab:
        """A lab that `up` has created, as `resolved` finds it."""
        lab = cls.resolved(arg)
        if lab.state is None:
            raise HalabError(f"lab {lab.plan.lab!r} has not been brought up",
                             f"run `halab up {lab.topology}` first")
        return lab

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(self.ssh_config)
        return self._runner

    def host(self, name: str) -> plan.HostPlan:
        h = self.plan.host(name)
        if h is None:
            names = ", ".join(x.name for x in self.plan.hosts)
            raise HalabError(f"lab {self.plan.lab!r} has no host {name!r}", f"hosts: {names}")
        return h

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


# ── up ──────────────────────────────────────────────────────────────────────────────────────


def up(topology: str, student: int | None = None) -> int:
    from halab.providers.build import box as boxbuild
    from halab.providers.vagrant_libvirt import host

    started = time.monotonic()
    topology = source_of_truth(topology, student)
    lab = Lab.open(topology)
    p = lab.plan
    ui.info(f"[bold]halab up[/]: lab {p.lab!r} from {topology} — {len(p.hosts)} VMs "
            f"({len(p.masters)} masters, LB {p.lb_kind if p.lb else 'none'})")
    with ui.step("preflight"):
        host.ensure_daemons()
        lv = Libvirt()
        states = lv.states(p)
        running = {h for h, s in states.items() if s == "running"}
        facts = hostfacts.gather(lv.network_subnets())
        found = preflight.problems(p, facts, running)
        if found:
            listing = "\n".join(f"  - {x}" for x in found)
            raise HalabError(f"this host cannot run the lab:\n{listing}")
    with ui.step(f"box halab/{p.box}"):
        record, how = boxbuild.ensure_box(p.box)
        ui.info(f"  {how}: {record.box_name}")
    accel = host.detect_accel()
    ui.info("  KVM works: VMs use hardware virtualisation" if accel == "kvm" else
            "  KVM is not usable here: VMs use software emulation (TCG); etcd timings are "
            f"relaxed to {plan.ETCD_TIMINGS['tcg'][0]}/{plan.ETCD_TIMINGS['tcg'][1]} ms")
    too_small = preflight.kube_capacity(p, accel, facts.cores)
    if too_small:
        ui.info(f"  [yellow]warning[/]: {too_small}; use {preflight.KUBE_CAPACITY_FIX}")
    if accel != p.accel:
        lab = Lab.open(topology, accel)
        p = lab.plan
    state = lab.state or State(topology=str(Path(topology).resolve()), accel=accel)
    state.accel, state.topology = accel, str(Path(topology).resolve())
    changes = 0

    with ui.step("render and certificates"):
        rendered = render.render(p)
        changed = render.write(rendered, lab.dir)
        store = pki.PKIStore(lab.dir / "pki")
        summary = store.sync(pki.lab_certificates(provision.pki_input(p)))
        lab.ssh_config.write_text(labdir.ssh_config_text(p, home.ssh_key_path()))
        labdir.write_state(lab.dir, state)
        ui.info(f"  {len(changed)} rendered files changed; certificates: {summary}")

    with ui.step(f"boot {len(p.hosts)} VMs"):
        missing = [h.name for h in p.hosts if h.name not in running]
        if missing:
            ui.info(f"  vagrant up ({', '.join(missing)}); this takes minutes under emulation")
            try:
                VagrantLab(lab.dir, accel).up(None, lambda line: ui.info(f"  {line}"))
            except HalabError as exc:
                exc.hint = (f"each VM's console is in {lab.dir / 'console'}/<host>.log; "
                            f"{exc.hint}")
                raise
            changes += len(missing)
        else:
            ui.info(f"  all {len(p.hosts)} VMs are already running")
        parallel([h.name for h in p.hosts],
                 lambda h: lab.runner.wait_reachable(h, SSH_TIMEOUT))

    try:
        changes += _provision(lab, rendered, store, state)
    finally:
        lab.close()
    took = time.monotonic() - started
    ui.info(f"[bold green]lab {p.lab!r} is up[/] — {changes} change{'s' if changes != 1 else ''}"
            f", {took:.0f}s. Next: `halab status`, `halab ssh {p.masters[0].name}`, "
            f"`halab halt {p.masters[0].name}`, `halab down {p.lab}`")
    return 0


def source_of_truth(topology: str, student: int | None = None) -> str:
    """The file `up` reads: as `labdir.resolve` finds it, and with `student` (until that lab is
    changed) student N's copy of the file given, saved anew."""
    found = labdir.resolve(topology, student)
    if found.note:
        ui.warn(found.note)
        return found.topology
    return _student_topology(topology, student) if student is not None else found.topology


def _student_topology(topology: str, student: int) -> str:
    """Save student N's copy of the file in its lab directory and bring up that copy: the state
    then names it, so `status`, `verify` and `down` by the student lab's name see that lab."""
    from halab.config import students

    derived = students.derive_lab(load(topology), student)
    path = labdir.write_topology(labdir.lab_path(derived.topology.name), derived.text)
    ui.info(f"{derived.summary()}; saved as {path}")
    return str(path)


def _provision(lab: Lab, rendered: render.Rendered, store: pki.PKIStore, state: State) -> int:
    p = lab.plan
    kube_reason = _kube_skip_reason(p)
    kube_on = p.kube is not None and kube_reason is None
    desired = provision.desired_files(p if kube_on else _without_kube(p), rendered, store)
    if p.kube and not kube_on:
        desired = {h: {path: f for path, f in files.items() if not render.is_kube_file(path)}
                   for h, files in desired.items()}
    if kube_on:
        with ui.step("container images"):
            from halab.providers.build import images as imagebuild

            archives = {ref: path.read_bytes() for ref, path in imagebuild.ensure_all().items()}
        for h in p.hosts:
            desired[h.name].update(provision.image_files(p, h, archives))
    with ui.step("upload files"):
        def sync(host: str) -> list[str]:
            remote = lab.runner.sha256(host, desired[host])
            diff = provision.changed_paths(desired[host], remote)
            lab.runner.upload(host, {path: desired[host][path] for path in diff})
            if any(provision.is_unit(path) for path in diff):
                lab.runner.run(host, "systemctl daemon-reload", what="systemctl daemon-reload")
            return diff
        changed = parallel([h.name for h in p.hosts], sync)
        if kube_on:
            for h, paths in _sync_binaries(lab).items():
                changed[h] += paths
        n_files = sum(len(v) for v in changed.values())
        for h, diff in changed.items():
            if diff:
                ui.info(f"  {h}: {len(diff)} file{'s' if len(diff) != 1 else ''}")
        if not n_files:
            ui.info("  every file is already in place")
    restarts = 0
    for tier in provision.tiers(p, kube=kube_on):
        with ui.step(f"tier {tier.name}"):
            restarts += TIER_ACTIONS[tier.name](lab, tier, changed)
        if tier.name not in state.tiers_done:
            state.tiers_done.append(tier.name)
            labdir.write_state(lab.dir, state)
    if kube_reason:
        ui.info(f"[yellow]kube tier skipped[/]: {kube_reason}")
    return n_files + restarts


def _kube_skip_reason(p: plan.Plan) -> str | None:
    """Why the kube tier cannot be provisioned (its binaries are missing), with the fix."""
    if p.kube is None:
        return None
    ok, reason = binaries.available(p.kube.version)
    return None if ok else reason


def _without_kube(p: plan.Plan) -> plan.Plan:
    """The plan with the kube tier off: no kube certificates are read while it is skipped."""
    return dataclasses.replace(p, kube=None)


def _sync_binaries(lab: Lab) -> dict[str, list[str]]:
    """Upload the kube binaries each host runs where its copy differs (SFTP, in parallel)."""
    p = lab.plan
    assert p.kube is not None
    cache = binaries.binaries_dir(p.kube.version)
    sums = binaries.parse_sha256sums((cache / "SHA256SUMS").read_text())
    wanted = {h.name: provision.binaries_for(p, h) for h in p.hosts}

    def sync(host: str) -> list[str]:
        targets = wanted[host]
        want = {path: sums[name] for path, name in targets.items()}
        # Hashing 300 MB of binaries takes ~40 s of an emulated CPU: compare with the hashes
        # recorded at upload time instead, for the files that are still there.
        recorded = provision.parse_binary_manifest(lab.runner.run(
            host, f"cat {provision.BINARY_MANIFEST} 2>/dev/null; "
                  f"for f in {' '.join(targets)}; do [ -x $f ] || echo missing $f; done; true",
            what="reading the binary manifest").stdout)
        diff = sorted(path for path in targets if recorded.get(path) != want[path])
        for path in diff:
            lab.runner.put_file(host, cache / targets[path], path)
        if diff:
            lab.runner.upload(host, {provision.BINARY_MANIFEST: provision.FileSpec(
                provision.binary_manifest(want).encode())})
        return diff
    with ui.step("upload Kubernetes binaries"):
        done = parallel([h for h, t in wanted.items() if t], sync)
        total = sum(len(v) for v in done.values())
        mb = sum((cache / wanted[h][path]).stat().st_size for h, v in done.items()
                 for path in v) / 1e6
        ui.info(f"  {total} binaries uploaded ({mb:.0f} MB)" if total else
                "  every binary is already in place")
    return {h: done.get(h, []) for h in wanted}


def _etcd_tier(lab: Lab, tier: provision.Tier, changed: dict[str, list[str]]) -> int:
    """Start a new cluster all at once; restart changed members one at a time (keeps quorum)."""
    return services.roll(lab.runner, [m.name for m in lab.plan.masters], "etcd",
                         lambda m: bool(tier.services_for(changed.get(m, []))),
                         lambda: wait_etcd(lab, ETCD_TIMEOUT))


def etcd_view(lab: Lab, via: str | None = None) -> etcd.ClusterView:
    """Members and per-member status, asked from one reachable master."""
    p = lab.plan
    via = via or p.masters[0].name
    members = etcd.parse_member_list(lab.runner.run(
        via, etcd.etcdctl(p, "member list -w json"), what="etcdctl member list").stdout)
    statuses = etcd.parse_endpoint_status(lab.runner.run(
        via, etcd.etcdctl(p, "endpoint status -w json"), check=False,
        what="etcdctl endpoint status").stdout or "[]")
    return etcd.ClusterView(tuple(members), tuple(statuses))


def wait_etcd(lab: Lab, timeout: float) -> etcd.ClusterView:
    """Until every member answers and all agree on one leader (bounded by `timeout`)."""
    expected = len(lab.plan.masters)
    deadline = time.monotonic() + timeout
    why = "no answer yet"
    while time.monotonic() < deadline:
        try:
            view = etcd_view(lab)
            issues = view.problems(expected)
            if not issues:
                ui.info(f"  etcd: {expected} members healthy, leader {view.leader_name()}, "
                        f"term {max(view.terms())}")
                return view
            why = "; ".join(issues)
        except (RemoteError, ValueError) as exc:
            why = str(exc).splitlines()[-1]
        time.sleep(3)
    raise RemoteError(lab.plan.masters[0].name, f"waiting {timeout:.0f}s for etcd quorum", why,
                      "look at `journalctl -u etcd` on the masters (`halab ssh master1`)")


def _lb_tier(lab: Lab, tier: provision.Tier, changed: dict[str, list[str]]) -> int:
    """The LB service on every LB host (then keepalived, with a VIP); one host at a time, so a
    VIP pair keeps serving while the other restarts."""
    actions = 0
    for lb in lab.plan.lbs:
        hit = tier.services_for(changed.get(lb.name, []))
        for service in tier.services:
            if service in hit or not services.is_active(lab.runner, lb.name, service):
                ui.info(f"  (re)starting {service} on {lb.name}")
                lab.runner.run(lb.name,
                               f"systemctl enable {service} && systemctl restart {service}",
                               what=f"starting {service}")
                actions += 1
    wait_lb(lab, LB_TIMEOUT)
    return actions


def wait_lb(lab: Lab, timeout: float) -> None:
    """Until etcd answers /health through every LB host's address, and then through the address
    clients use (the VIP, when the LBs share one)."""
    p = lab.plan
    targets = [(h.name, f"{p.etcd.scheme}://{h.ip}:{plan.ETCD_CLIENT_PORT}") for h in p.lbs]
    if p.vip:
        targets.append((p.lbs[0].name, p.etcd.client_url))
    deadline = time.monotonic() + timeout
    for name, url in targets:
        last = ""
        while True:
            r = lab.runner.run(name, etcd.curl_health(p, url), check=False)
            if r.ok and '"health":"true"' in r.stdout.replace(" ", ""):
                ui.info(f"  etcd answers through {p.lb_kind} at {url}")
                break
            last = r.stdout + r.stderr
            if time.monotonic() > deadline:
                raise RemoteError(name, f"waiting {timeout:.0f}s for etcd through {url}", last,
                                  f"look at `journalctl -u {p.lb_kind}`"
                                  + (" and `journalctl -u keepalived`" if p.vip else "")
                                  + f" on {name}")
            time.sleep(2)


TIER_ACTIONS = {"etcd": _etcd_tier, "load balancer": _lb_tier,
                "kube control plane": kubetier.control_plane, "kube nodes": kubetier.nodes}


# ── status, halt, start, ssh, down ─────────────────────────────────────────────────────────


def status(arg: str | None) -> int:
    from rich.table import Table

    from halab.providers.vagrant_libvirt import host

    lab = Lab.existing(arg)
    p = lab.plan
    host.ensure_daemons()
    states = Libvirt().states(p)
    running = [h.name for h in p.hosts if states[h.name] == "running"]
    masters_up = [m.name for m in p.masters if m.name in running]
    view = None
    for m in masters_up:
        try:
            view = etcd_view(lab, via=m)
            break
        except RemoteError:
            continue
    backends = _lb_cells(lab, running)
    cut = partition_view(lab, running)
    table = Table(title=f"lab {p.lab} ({lab.topology})")
    columns = ["host", "role", "zone", "VM", "ip", "etcd", "raft term", "LB backends up"]
    for col in columns + (["cut off from"] if any(cut.values()) else []):
        table.add_column(col)
    by_name = {m.name: m for m in view.members} if view else {}
    status_of = {s.member_id: s for s in view.statuses} if view else {}
    for h in p.hosts:
        etcd_col, term = "", ""
        if h.role == "master":
            member = by_name.get(h.name)
            st = status_of.get(member.id) if member else None
            if member is None:
                etcd_col = "not a member" if view else "?"
            elif st is None:
                etcd_col = "member, unreachable"
            else:
                etcd_col = "leader" if st.is_leader else "follower"
                term = str(st.raft_term)
        row = [h.name, h.role, h.zone or "", states[h.name], h.ip, etcd_col, term,
               backends.get(h.name, "") if h.role == "lb" else ""]
        table.add_row(*row, *([", ".join(cut.get(h.name, []))] if any(cut.values()) else []))
    ui.console.print(table)
    if any(cut.values()):
        ui.info("partitioned by `halab partition`; `halab heal` removes it")
    lab.close()
    return 0


def partition_view(lab: Lab, running: list[str]) -> dict[str, list[str]]:
    """Who each running host is cut off from, as halab's rules on it say (empty: nobody)."""
    def ask(h: str) -> list[str]:
        try:
            rules = lab.runner.run(h, faults.LIST_RULES, timeout=30).stdout
        except RemoteError:
            return []
        return faults.cut_off_from(lab.plan, faults.blocked(rules))
    return parallel(running, ask)


def status_all() -> int:
    """One row per lab brought up on this host (a workshop's student labs): its hosts and how
    many VMs run. Only libvirt is asked, so forty labs take seconds; `halab status LAB` tells
    more."""
    from rich.table import Table

    from halab.providers.vagrant_libvirt import host

    labs = labdir.known_labs()
    if not labs:
        ui.info(f"no lab has been brought up here ({home.labs_dir()}); "
                "`halab up labs/etcd-only.yaml` makes one")
        return 0
    host.ensure_daemons()
    lv = Libvirt()
    table = Table(title=f"{len(labs)} lab{'s' if len(labs) != 1 else ''} on this host")
    for col in ("lab", "topology", "hosts", "VMs running", "state"):
        table.add_column(col)
    try:
        for name, state in labs.items():
            try:
                lab = Lab.existing(name)
            except HalabError as exc:
                table.add_row(name, state.topology, "?", "?", exc.message.splitlines()[0])
                continue
            states = lv.states(lab.plan)
            running = sum(s == "running" for s in states.values())
            table.add_row(name, lab.topology, str(len(states)), f"{running}/{len(states)}",
                          vm_summary(states, name, lab.topology))
    finally:
        lv.close()
    ui.console.print(table)
    return 0


def vm_summary(states: dict[str, str], lab: str, topology: str) -> str:
    """One cell for `status --all`: all running, which are not, or that the VMs are gone."""
    if states and all(s == "running" for s in states.values()):
        return "all running"
    if all(s == "not created" for s in states.values()):
        return (f"VMs are gone: `halab up {topology}` recreates them, "
                f"`halab down {lab} --yes` forgets the lab")
    return ", ".join(f"{h} {s}" for h, s in states.items() if s != "running")


def lb_reach(lab: Lab, lb: str) -> list[str] | None:
    """The masters LB host `lb` reaches on every forwarded port (None: it could not be asked)."""
    p = lab.plan
    ports = [s.port for s in render.lb_services(p)]
    probes = " ; ".join(
        f"timeout 2 bash -c '</dev/tcp/{m.ip}/{port}' 2>/dev/null && echo {m.name}:{port}"
        for m in p.masters for port in ports)
    try:
        out = set(lab.runner.run(lb, probes + " ; true", sudo=False, timeout=60).stdout.split())
    except RemoteError:
        return None
    return [m.name for m in p.masters if all(f"{m.name}:{port}" in out for port in ports)]


def vip_holders(lab: Lab, running: list[str]) -> list[str]:
    """The running LB hosts that hold the VIP on their private NIC (one, when all is well)."""
    p = lab.plan
    if not p.vip:
        return []
    command = (f"ip -o -4 addr show dev {layout.PRIVATE_NIC} | grep -q ' {p.vip}/' "
               "&& echo holds")

    def holds(name: str) -> bool:
        try:
            return "holds" in lab.runner.run(name, command + " ; true", sudo=False,
                                             timeout=30).stdout
        except RemoteError:
            return False
    found = parallel([h.name for h in p.lbs if h.name in running], holds)
    return [name for name, yes in found.items() if yes]


def _lb_cells(lab: Lab, running: list[str]) -> dict[str, str]:
    """`status`'s LB column: the masters each running LB reaches, and which holds the VIP."""
    holders = vip_holders(lab, running)
    cells = {}
    for lb in lab.plan.lbs:
        if lb.name not in running:
            continue
        reach = lb_reach(lab, lb.name)
        cells[lb.name] = ("?" if reach is None else ", ".join(reach) or "none") + (
            f"; holds VIP {lab.plan.vip}" if lb.name in holders else "")
    return cells


def live_state(lab: Lab) -> diagram.LiveState:
    """What `halab diagram --live` colours in. Each part is asked on its own and what cannot be
    asked becomes a note, so a lab with hosts down still draws."""
    from halab.providers.vagrant_libvirt import host

    p = lab.plan
    host.ensure_daemons()
    states = Libvirt().states(p)
    halted = frozenset(h.name for h in p.hosts if states[h.name] != "running")
    masters_up = [m.name for m in p.masters if m.name not in halted]
    notes: list[str] = []

    view = None
    for m in masters_up:
        try:
            view = etcd_view(lab, via=m)
            break
        except (HalabError, ValueError):
            continue
    leader = view.leader_name() if view else None
    if leader is None:
        notes.append("etcd: no master answered" if view is None else "etcd: no agreed leader")

    down: frozenset[str] = frozenset()
    if p.lb and p.lb.name not in halted:
        reached = lb_reach(lab, p.lb.name)
        if reached is None:
            notes.append(f"{p.lb.name}: could not ask which masters it reaches")
        else:
            down = frozenset(m.name for m in p.masters if m.name not in reached)

    holders: dict[str, str] = {}
    if p.kube and masters_up:
        try:
            raw = kubetier.lease_holders(lab, via=masters_up[0])
            holders = {name: kube.holder_host(raw[name]) for name in kube.LEASES if raw.get(name)}
        except (HalabError, ValueError):
            notes.append("kube leases: no answer (is the kube tier up?)")
    cut = {h: tuple(names) for h, names in partition_view(
        lab, [h.name for h in p.hosts if h.name not in halted]).items() if names}
    return diagram.LiveState(leader, halted, down, holders, tuple(notes), cut)


def verify(arg: str | None, junit: str | None, scenario: str | None, hard: bool) -> int:
    """The testinfra checks (default), or the failover scenario with its verdicts."""
    from halab.providers.vagrant_libvirt import host
    from halab.verify import run

    lab = Lab.existing(arg)
    if scenario is None:
        ui.info(f"[bold]halab verify[/]: lab {lab.plan.lab!r}, every host over SSH (testinfra)")
        return run.run_checks(lab.plan.lab, junit, keep=labdir.junit_path(lab.dir))
    host.ensure_daemons()
    from halab.lab import drills

    run_scenario = {"cold-restart": cold_restart_scenario, "lb": lb_scenario,
                    **drills.SCENARIOS}.get(scenario or "", failover_scenario)
    ok, _ = run_scenario(lab, hard)
    return 0 if ok else 1


def lb_scenario(lab: Lab, hard: bool) -> tuple[bool, dict[str, float]]:
    """Halt the LB holding the VIP while writing through it (`halab.verify.scenarios.lb`)."""
    from halab.lab import power
    from halab.verify import demo
    from halab.verify.scenarios import lb as lbfailover

    steps = lbfailover.Steps(
        holders=lambda names: vip_holders(lab, names),
        halt=lambda name: power.power_off(lab, lab.host(name), hard)(),
        start=lambda name: power.boot(lab, lab.host(name))())
    try:
        return lbfailover.lb_failover(lab.plan, demo.Cluster(lab.plan, lab.dir / "pki"), hard,
                                      steps)
    finally:
        lab.close()


def cold_restart_scenario(lab: Lab, hard: bool) -> tuple[bool, dict[str, float]]:
    """Every VM off, `halab up`, then every tier judged (`halab.verify.scenarios.coldrestart`)."""
    from halab.lab import power
    from halab.verify import demo, run
    from halab.verify.scenarios import coldrestart

    p = lab.plan

    def halt_all() -> list[str]:
        try:
            return power.halt_hosts(lab, p.hosts, hard)
        finally:
            lab.close()  # its SSH connections die with the VMs

    def vm_states() -> dict[str, str]:
        lv = Libvirt()
        try:
            return lv.lab_domain_states(p, others=labdir.known_labs())
        finally:
            lv.close()

    def backends_missing() -> list[str]:
        reached = {lb.name: lb_reach(lab, lb.name) or [] for lb in p.lbs}
        return [f"{lb}: {m.name}" for lb, names in reached.items() for m in p.masters
                if m.name not in names]

    steps = coldrestart.Steps(
        halt_all=halt_all, vm_states=vm_states, up=lambda: up(lab.topology),
        backends_missing=backends_missing,
        checks=lambda: run.checked(p.lab, None, keep=labdir.junit_path(lab.dir))[1])
    try:
        return coldrestart.cold_restart(p, demo.Cluster(p, lab.dir / "pki"), hard, steps)
    finally:
        lab.close()


def failover_scenario(lab: Lab, hard: bool) -> tuple[bool, dict[str, float]]:
    from halab.lab import power
    from halab.verify import kubedemo
    from halab.verify.scenarios import failover as scenario

    if len(lab.plan.masters) < 3:
        raise HalabError(f"lab {lab.plan.lab!r} has {len(lab.plan.masters)} master(s); the "
                         "failover scenario needs 3 or more", "use labs/etcd-only.yaml")
    try:
        kube_on = lab.plan.kube is not None and _kube_skip_reason(lab.plan) is None
        return scenario.failover(lab.plan, lab.dir / "pki", hard,
                                 lambda h: power.power_off(lab, h, hard),
                                 lambda h: power.boot(lab, h),
                                 kubedemo.KubeProbe(lab.plan, lab.runner) if kube_on else None)
    finally:
        lab.close()


def ssh(arg: str | None, host_name: str, command: list[str]) -> int:
    lab = Lab.existing(arg)
    lab.host(host_name)
    ssh_bin = shutil.which("ssh")
    if not ssh_bin:
        raise HalabError("ssh is not installed", "run `make deps` (openssh-client)")
    os.execv(ssh_bin, ["ssh", "-F", str(lab.ssh_config), host_name, *command])
    return 0  # not reached


def down(arg: str | None, yes: bool) -> int:
    from halab.providers.vagrant_libvirt import host

    lab = Lab.resolved(arg)
    p = lab.plan
    host.ensure_daemons()
    lv = Libvirt()
    others = labdir.known_labs()
    found = lv.lab_objects(p, others)
    if found.empty() and not lab.dir.exists():
        ui.info(f"lab {p.lab!r} has nothing to tear down")
        return 0
    if not yes:
        what = (f"{len(found.domains)} VMs, {len(found.networks)} networks, "
                f"{len(found.volumes)} volumes and {lab.dir}")
        if not os.isatty(0):
            raise HalabError(f"`halab down` would destroy lab {p.lab!r}: {what}",
                             "add --yes to confirm")
        if input(f"destroy lab {p.lab!r} ({what})? [y/N] ").strip().lower() not in ("y", "yes"):
            ui.info("nothing destroyed")
            return 1
    with ui.step(f"destroy lab {p.lab!r}"):
        if (lab.dir / "Vagrantfile").exists() and found.domains:
            try:
                VagrantLab(lab.dir, p.accel).destroy()
            except HalabError as exc:
                ui.warn(f"{exc.message.splitlines()[0]}; removing the lab's libvirt objects "
                        "directly")
        left = lv.lab_objects(p, others)
        if not left.empty():
            lv.remove(left)
        shutil.rmtree(lab.dir, ignore_errors=True)
        ui.info(f"  removed {len(found.domains)} VMs, {len(found.networks)} networks, "
                f"{len(found.volumes)} volumes and {lab.dir}")
    return 0
