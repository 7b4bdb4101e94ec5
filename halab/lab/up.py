"""`halab up`: an ordered list of steps (kind's create actions), each printed with its time.

preflight → image → Kubernetes binaries → render and certificates → boot → upload files (and
binaries) → the tiers in order (`halab.tiers.steps`). Every step converges: a second `up` on a
healthy lab changes nothing. The state file records the tiers done.

A lab whose kube tier was wanted but could not be provisioned still gets etcd and the LB, and
`up` then ends with what is missing and exit status 1: a newcomer's `make lab-up` must not look
like a success without Kubernetes.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from halab import home, tiers, ui
from halab.artifacts import binaries
from halab.config import owned, placement, plan, preflight
from halab.errors import HalabError
from halab.lab import kubeconfig
from halab.providers import hostfacts, sshconfig
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError, Runner, parallel
from halab.render import desired, files, hostkeys, pki
from halab.session import labdir
from halab.session.choice import Asked
from halab.session.context import Lab, ssh_timeout
from halab.session.labdir import State


def up(topology: str, student: int | None = None, provider: str | None = None,
       kube: bool = True, renew: bool = False, restart: bool = True,
       incus_remote: str | None = None) -> int:
    """Bring the lab up; 1 when its kube tier was wanted but could not be provisioned. With
    `renew` every leaf certificate is reissued first; without `restart` the changed files go
    up but no tier is applied, so no service restarts (`halab certs --renew --no-restart`)."""
    started = time.monotonic()
    with Lab.open(topology, student,
                  Asked(provider, creating=True, incus_remote=incus_remote)) as lab:
        ui.info(f"provider: {lab.plan.provider} ({lab.why})")
        changes, kube_missing = _up(lab, kube, renew, restart)
    p = lab.plan
    took = time.monotonic() - started
    counted = f"{changes} change{'s' if changes != 1 else ''}, {took:.0f}s"
    if kube_missing:
        ui.info(f"[bold red]lab {p.lab!r} is up WITHOUT Kubernetes[/] — {counted}: etcd and the "
                f"load balancer run, the kube tier does not.\n"
                + "\n".join(f"  - {r}" for r in kube_missing)
                + f"\n  Fix that, then run `halab up {lab.topology}` again (it adds the kube "
                  f"tier); or `halab up {lab.topology} --no-kube` for etcd and the LB only.")
        return 1
    ui.info(f"[bold green]lab {p.lab!r} is up[/] — {counted}. Next: `halab status {p.lab}`, "
            f"`halab ssh {p.masters[0].name}`, `halab halt {p.masters[0].name}`, "
            f"`halab verify {p.lab}`, `halab down {p.lab}`"
            + (f". {kubeconfig.usage_line(p)}" if p.kube and kube else ""))
    return 0


def _up(lab: Lab, kube: bool = True, renew: bool = False, restart: bool = True
        ) -> tuple[int, list[str]]:
    """The steps; returns the changes made and why a wanted kube tier is missing."""
    p = lab.plan
    ui.info(f"[bold]halab up[/]: lab {p.lab!r} from {lab.topology} — {len(p.hosts)} "
            f"{lab.provider.kind}s ({len(p.masters)} masters, LB {p.lb_kind if p.lb else 'none'})")
    if p.kube and not kube:
        ui.info("  --no-kube: the kube tier is left out this time")
        if p.minions:
            ui.warn(f"minions {', '.join(h.name for h in p.minions)} will boot and run nothing "
                    "without the kube tier")
    running, facts = preflight_step(lab)
    with ui.step(f"box halab/{p.box}"):
        ui.info(f"  {lab.provider.ensure_image(p.box)}")
    kube_missing = kube_binaries_step(p) if p.kube and kube else []
    accel = p.accel
    ui.info(ACCEL_LINES.get(accel, ACCEL_LINES["tcg"]))
    too_small = preflight.kube_capacity(p, accel, facts.cores)
    if too_small:
        ui.info(f"  [yellow]warning[/]: {too_small}; use {preflight.KUBE_CAPACITY_FIX}")
    where = str(Path(lab.topology).resolve())
    state = lab.state or State(topology=where, accel=accel)
    state.accel, state.topology, state.provider = accel, where, p.provider
    state.incus_remote = p.cluster.remote if p.cluster else ""
    # Recorded before the provider creates them, so `down` finds them even after a failed boot.
    state.objects = owned.merged(lab.recorded(), lab.provider.objects(p))

    with ui.step("render and certificates"):
        rendered = files.render(p, lab.provider.files(p))
        changed = files.write(rendered, lab.dir)
        store = pki.PKIStore(lab.dir / "pki")
        summary = desired.sync_secrets(p, store, renew)
        keys, made = hostkeys.ensure(store, [h.name for h in p.hosts])
        known = hostkeys.known_hosts([(h.name, h.ip) for h in p.hosts], keys)
        known_path = sshconfig.known_hosts_path(lab.dir)
        # A lab brought up before halab pinned host keys has no known_hosts yet.
        unpinned = lab.state is not None and not known_path.exists()
        lab.ssh_config.write_text(lab.provider.ssh_config(p, home.ssh_key_path()))
        if not unpinned:
            known_path.write_text(known)
        labdir.write_state(lab.dir, state)
        ui.info(f"  {len(changed)} rendered files changed; certificates: {summary}; SSH host "
                f"keys: {len(made)} made, {len(keys) - len(made)} kept")
    changes = pin_running_hosts(lab, keys, sorted(running), known) if unpinned else 0
    changes += boot_step(lab, running)
    skip = ("left out (--no-kube)" if not kube else
             "its binaries could not be had (see the end)" if kube_missing else None)
    changes += _provision(lab, rendered, store, state, skip, restart)
    return changes, kube_missing


def kube_binaries_step(p: plan.Plan) -> list[str]:
    """Have the Kubernetes binaries in the cache (fetched, else built); [] when they are, else
    one line per route that failed, ending with the command to try by hand."""
    from halab.build import obtain

    with ui.step(f"Kubernetes {p.kube.version} binaries"):
        got = obtain.obtain(p.kube.version)
        if got.directory is not None:
            ui.info(f"  in {got.directory}")
            return []
    return [f"Kubernetes {p.kube.version} binaries: {r}" for r in got.reasons]


ACCEL_LINES = {
    "kvm": "  KVM works: VMs use hardware virtualisation",
    "tcg": "  KVM is not usable here: VMs use software emulation (TCG); etcd timings are "
           f"relaxed to {plan.ETCD_TIMINGS['tcg'][0]}/{plan.ETCD_TIMINGS['tcg'][1]} ms",
    "native": "  containers run on this host's kernel at native speed; etcd and leader-election "
              f"timings are KVM's ({plan.ETCD_TIMINGS['native'][0]}/"
              f"{plan.ETCD_TIMINGS['native'][1]} ms)",
}


def preflight_step(lab: Lab) -> tuple[set[str], preflight.HostFacts]:
    """Daemons, then RAM, disk and subnets against the lab; returns the hosts running now."""
    p = lab.plan
    with ui.step("preflight"):
        lab.provider.prepare()
        states = lab.provider.states(p)
        running = {h for h, s in states.items() if s == "running"}
        facts = hostfacts.gather(lab.provider.networks_in_use())
        found = preflight.problems(p, facts, running)
        found += owned.foreign_problems(p.lab, str(lab.dir / "state.json"),
                                        lab.provider.present(lab.provider.objects(p)),
                                        lab.recorded())
        if p.cluster is not None:
            cluster = lab.provider.cluster_facts(p)  # placed again, for real, when booting
            found += [cluster.problem] if cluster.placed is None else []
            found += [f"{r.member} of {cluster.remote} is {r.status}: the lab's network spans "
                      "every member; bring it back first" for r in cluster.rooms
                      if r.status != placement.ONLINE]
        if found:
            listing = "\n".join(f"  - {x}" for x in found)
            raise HalabError(f"this host cannot run the lab:\n{listing}")
    return running, facts


def pin_running_hosts(lab: Lab, keys: dict[str, hostkeys.HostKey], hosts: list[str],
                      known: str) -> int:
    """A lab brought up before halab pinned host keys: each running host gets halab's key over
    one last connection that takes the key it presents on trust, as every connection did
    before; the lab's known_hosts is written after, and pins them from then on. Hosts booted
    now get their key before they boot, as in any lab."""
    with ui.step("pin SSH host keys"):
        ui.info("  this lab came up before halab pinned SSH host keys: each running host's "
                "current key is trusted once more, to install halab's")
        trusting = Runner(lab.ssh_config, pinned=False)

        def install(host: str) -> None:
            trusting.wait_reachable(host, ssh_timeout(lab.plan.accel))
            trusting.upload(host, {path: desired.FileSpec(content, mode) for path, (content, mode)
                                   in keys[host].files(host).items()})
            trusting.run(host, "systemctl restart ssh", what="restarting sshd with its new key")
        try:
            parallel(hosts, install)
        finally:
            trusting.close()
        sshconfig.known_hosts_path(lab.dir).write_text(known)
        ui.info(f"  {len(hosts)} hosts pinned" if hosts else "  no host was running")
    return len(hosts)


def boot_step(lab: Lab, running: set[str]) -> int:
    p = lab.plan
    kind = lab.provider.kind
    with ui.step(f"boot {len(p.hosts)} {kind}s"):
        missing = [h.name for h in p.hosts if h.name not in running]
        if missing:
            ui.info(f"  booting {', '.join(missing)}"
                    + ("; this takes minutes under emulation" if p.accel == "tcg" else ""))
            try:
                lab.provider.boot(None, lambda line: ui.info(f"  {line}"))
            except HalabError as exc:
                exc.hint = (f"each host's console is in {lab.dir / 'console'}/<host>.log; "
                            f"{exc.hint}")
                raise
        else:
            ui.info(f"  all {len(p.hosts)} {kind}s are already running")
        try:
            parallel([h.name for h in p.hosts],
                     lambda h: lab.runner.wait_reachable(h, ssh_timeout(p.accel)))
        except RemoteError:
            _stopped_during_boot(lab)
            raise
    return len(missing)


# Colours and terminal controls in a console log (CSI and OSC sequences), not worth showing.
TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?!]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")


def _stopped_during_boot(lab: Lab) -> None:
    """When SSH never came, a host that is not even running says more: the end of its console
    log (where a container's systemd says why it exited) is raised instead."""
    states = lab.provider.states(lab.plan)
    down = [h.name for h in lab.plan.hosts if states[h.name] != "running"]
    if not down:
        return
    log = lab.dir / "console" / f"{down[0]}.log"
    try:
        text = TERMINAL_CODES.sub("", log.read_text(errors="replace"))
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        tail = "\n".join(f"    | {line}" for line in lines[-6:])
    except OSError:
        tail = "    | (no console log)"
    raise HalabError(f"{', '.join(down)}: stopped while booting ({states[down[0]]}); the end of "
                     f"{log}:\n{tail}",
                     "fix what the log says, then `halab up` again resumes") from None


def _provision(lab: Lab, rendered: files.Rendered, store: pki.PKIStore, state: State,
               skip: str | None = None, restart: bool = True) -> int:
    """Upload and apply the tiers; the kube ones unless `skip` says why not; none without
    `restart`."""
    p = lab.plan
    kube_reason = skip or kube_skip_reason(p)
    kube_on = p.kube is not None and kube_reason is None
    wanted = desired.desired_files(p, rendered, store, kube=kube_on)
    if kube_on:
        with ui.step("container images"):
            from halab.build import images as imagebuild

            archives = {ref: path.read_bytes() for ref, path in imagebuild.ensure_all().items()}
        for h in p.hosts:
            wanted[h.name].update(desired.image_files(p, h, archives))
    with ui.step("upload files"):
        def sync(host: str) -> list[str]:
            remote = lab.runner.sha256(host, wanted[host])
            diff = desired.changed_paths(wanted[host], remote)
            lab.runner.upload(host, {path: wanted[host][path] for path in diff})
            if any(desired.is_unit(path) for path in diff):
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
    if not restart:
        ui.info("  --no-restart: the files are in place, and no service was restarted")
    for step in tiers.steps(p, kube=kube_on) if restart else []:
        with ui.step(f"tier {step.tier.name}"):
            restarts += step(p, lab.runner, changed)
        if step.tier.name not in state.tiers_done:
            state.tiers_done.append(step.tier.name)
            labdir.write_state(lab.dir, state)
    if p.kube and kube_reason:
        ui.info(f"[yellow]kube tier skipped[/]: {kube_reason}")
    return n_files + restarts


def kube_skip_reason(p: plan.Plan) -> str | None:
    """Why the kube tier cannot be provisioned (its binaries are missing), with the fix."""
    if p.kube is None:
        return None
    ok, reason = binaries.available(p.kube.version)
    return None if ok else reason


def _sync_binaries(lab: Lab) -> dict[str, list[str]]:
    """Upload the kube binaries each host runs where its copy differs (SFTP, in parallel)."""
    p = lab.plan
    assert p.kube is not None
    with ui.step("upload Kubernetes binaries"):
        done = sync_binaries(lab.runner, p, [h.name for h in p.hosts])
        cache = binaries.binaries_dir(p.kube.version)
        total = sum(len(v) for v in done.values())
        names = {h.name: desired.binaries_for(p, h) for h in p.hosts}
        mb = sum((cache / names[h][path]).stat().st_size
                 for h, v in done.items() for path in v) / 1e6
        ui.info(f"  {total} binaries uploaded ({mb:.0f} MB)" if total else
                "  every binary is already in place")
    return done


def sync_binaries(remote: Remote, p: plan.Plan, hosts: list[str]) -> dict[str, list[str]]:
    """Put the plan's version of each host's kube binaries where its copy differs; the paths
    put, per host (`up` for every host, `upgrade` for one at a time)."""
    assert p.kube is not None
    cache = binaries.binaries_dir(p.kube.version)
    sums = binaries.parse_sha256sums((cache / "SHA256SUMS").read_text())
    wanted = {h.name: desired.binaries_for(p, h) for h in p.hosts if h.name in hosts}

    def sync(host: str) -> list[str]:
        targets = wanted[host]
        want = {path: sums[name] for path, name in targets.items()}
        # Hashing 300 MB of binaries takes ~40 s of an emulated CPU: compare with the hashes
        # recorded at upload time instead, for the files that are still there.
        recorded = desired.parse_binary_manifest(remote.run(
            host, f"cat {desired.BINARY_MANIFEST} 2>/dev/null; "
                  f"for f in {' '.join(targets)}; do [ -x $f ] || echo missing $f; done; true",
            what="reading the binary manifest").stdout)
        diff = sorted(path for path in targets if recorded.get(path) != want[path])
        for path in diff:
            remote.put_file(host, cache / targets[path], path)
        if diff:
            remote.upload(host, {desired.BINARY_MANIFEST: desired.FileSpec(
                desired.binary_manifest(want).encode())})
        return diff
    done = parallel([h for h, t in wanted.items() if t], sync)
    return {h: done.get(h, []) for h in wanted}
