"""`halab upgrade LAB --to VERSION`: a rolling Kubernetes upgrade, one host at a time.

The order and the version-skew refusals are `config.upgrade`'s (pure). Here each host's turn:

- a master: etcd's leadership handed over if it leads (the leader's master comes last), out of
  every LB's apiserver rotation (`tiers.lb.rotate`), a pause for the requests in flight through
  the LB, its binaries replaced, kube-apiserver stopped with SIGTERM (it ends its watches and
  requests) and started, its own /readyz waited for, controller-manager and scheduler
  restarted, back in the rotation;
- a minion: cordoned, drained (PodDisruptionBudgets respected), kubelet and kube-proxy
  replaced, Ready at the new version, uncordoned.

With `drain` off (`--no-drain`, kubeadm #2991's comparison) a master is restarted in place: no
LB drain, no pause, no hand-over; a minion is not drained. Each finished host is recorded in
the lab's upgrade.json, so an interrupted upgrade resumes at the host it stopped on; the lab's
topology copy gets the new version at the end, so a later `up` keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

from halab import ui
from halab.artifacts import binaries
from halab.config import layout
from halab.config import upgrade as upgrade_plan
from halab.config.plan import Plan
from halab.config.upgrade import HostStep
from halab.errors import HalabError
from halab.facts import kube
from halab.lab import membership
from halab.lab.up import kube_binaries_step, sync_binaries
from halab.poll import Timeout, poll
from halab.probes import etcd as etcd_probe
from halab.remote.protocol import Remote
from halab.remote.runner import RemoteError
from halab.session import labdir
from halab.session.context import Lab
from halab.tiers import kube_control, lb

PROGRESS_FILE = "upgrade.json"
IN_FLIGHT = 2.0  # seconds for requests already sent through the LB to a drained master
READY_TIMEOUT = 600  # a restarted apiserver's /readyz, a minion's Ready, under load
DRAIN_TIMEOUT = 300  # kubectl drain: evictions wait for PodDisruptionBudgets
MASTER_SERVICES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
MINION_SERVICES = ("kubelet", "kube-proxy")


@dataclass
class Progress:
    """What upgrade.json records: from and to, how, and the hosts already done."""

    source: str
    target: str
    drain: bool = True
    done: list[str] = field(default_factory=list)


def read_progress(lab: Lab) -> Progress | None:
    doc = labdir.read_json(lab.dir, PROGRESS_FILE)
    try:
        return Progress(**doc) if isinstance(doc, dict) else None
    except TypeError:
        return None


def with_version(plan: Plan, version: str) -> Plan:
    assert plan.kube is not None
    return replace(plan, kube=replace(plan.kube, version=version))


def run_steps(steps: Iterable[HostStep], do: Callable[[HostStep], None],
              done: Callable[[str], None]) -> None:
    """Each step, then `done(host)`: a step cut off half-way is not recorded, so it runs again
    from its top next time (each of its actions is safe to repeat)."""
    for step in steps:
        do(step)
        done(step.host)


def upgrade_host(plan: Plan, remote: Remote, step: HostStep, drain: bool) -> None:
    """One host's turn, with the target version's `plan`."""
    t0 = time.monotonic()
    if step.role == "master":
        _master(plan, remote, step, drain)
    else:
        _minion(plan, remote, step.host, drain)
    ui.info(f"  {step.host} runs {plan.kube.version if plan.kube else '?'} "
            f"({time.monotonic() - t0:.1f}s)")


def _master(plan: Plan, remote: Remote, step: HostStep, drain: bool) -> None:
    host = step.host
    if drain and step.hand_over:
        remote.run(host, f"bash {layout.ETCD_HANDOVER}", what="handing etcd's leadership over")
        ui.info(f"  {host}: etcd's leadership handed to another member")
    if drain:
        fronts = lb.rotate(plan, remote, host, out=True)
        if fronts:
            ui.info(f"  {host}: out of {plan.lb_kind}'s rotation on {', '.join(fronts)}")
        time.sleep(IN_FLIGHT)
    put = sync_binaries(remote, plan, [host])[host]
    ui.info(f"  {host}: {len(put)} binaries replaced")
    if drain:
        # systemd's stop is SIGTERM: the apiserver ends its watches and in-flight requests
        remote.run(host, "systemctl stop kube-apiserver && systemctl start kube-apiserver",
                   what="stopping kube-apiserver gracefully and starting it", timeout=240)
    else:
        remote.run(host, f"systemctl restart {' '.join(MASTER_SERVICES)}",
                   what="restarting the control plane", timeout=240)
    kube_control.wait_own_apiserver(plan, remote, host, READY_TIMEOUT)
    if drain:
        for service in MASTER_SERVICES[1:]:
            remote.run(host, f"systemctl restart {service}", what=f"restarting {service}",
                       timeout=240)
        lb.rotate(plan, remote, host, out=False)
        ui.info(f"  {host}: back in the rotation")


def _minion(plan: Plan, remote: Remote, node: str, drain: bool) -> None:
    via = plan.masters[0].name
    if drain:
        t0 = time.monotonic()
        remote.run(via, kube.kubectl(f"drain {node} --ignore-daemonsets --delete-emptydir-data "
                                     f"--force --timeout={DRAIN_TIMEOUT}s",
                                     f"{DRAIN_TIMEOUT + 30}s"),
                   what=f"draining {node}", timeout=DRAIN_TIMEOUT + 60)
        ui.info(f"  {node}: cordoned and drained ({time.monotonic() - t0:.1f}s)")
    put = sync_binaries(remote, plan, [node])[node]
    remote.run(node, f"systemctl restart {' '.join(MINION_SERVICES)}",
               what="restarting kubelet and kube-proxy", timeout=240)
    ui.info(f"  {node}: {len(put)} binaries replaced, kubelet and kube-proxy restarted")
    wait_node(plan, remote, node, READY_TIMEOUT)
    if drain:
        remote.run(via, kube.kubectl(f"uncordon {node}"), what=f"uncordoning {node}")


def wait_node(plan: Plan, remote: Remote, node: str, timeout: float) -> None:
    """Until `node` is Ready and its kubelet reports the plan's version."""
    assert plan.kube is not None
    want, via = f"v{plan.kube.version}", plan.masters[0].name

    def ready(why) -> bool | None:
        r = remote.run(via, kube.kubectl(f"get node {node} -o json"), check=False, timeout=60)
        got = kube.parse_nodes('{"items": [' + r.stdout + "]}") if r.ok and r.stdout else []
        if got and got[0].ready and got[0].kubelet_version == want:
            return True
        why(f"{got[0].kubelet_version}, ready {got[0].ready}" if got else r.stderr)
        return None
    try:
        poll(ready, timeout=timeout, interval=2, what=f"{node} Ready at {want}")
    except Timeout as exc:
        raise RemoteError(node, f"waiting {timeout:.0f}s for it to be Ready at {want}",
                          exc.last, f"look at `journalctl -u kubelet` on {node}") from None


def running_versions(plan: Plan, remote: Remote) -> dict[str, dict[str, str]]:
    """Each host → each kube service → the version its running process is."""
    out = {}
    for hosts, services in ((plan.masters, MASTER_SERVICES), (plan.minions, MINION_SERVICES)):
        for h in hosts:
            r = remote.run(h.name, kube.running_versions_command(list(services)),
                           what="asking the running services their versions")
            out[h.name] = kube.parse_running_versions(r.stdout)
    return out


def behind(versions: dict[str, dict[str, str]], want: str) -> list[str]:
    """`host service version` for every service not running `want`."""
    return [f"{h} {s} {v}" for h, by in versions.items() for s, v in by.items() if v != want]


# ── the command ──

Spans = list[tuple[str, float, float]]  # each host's turn: its name, monotonic start and end


def upgrade(arg: str | None, to: str, dry_run: bool = False, drain: bool = True,
            spans: Spans | None = None) -> int:
    """The command; each host's turn is appended to `spans` (the upgrade drill's timeline)."""
    lab = Lab.existing(arg)
    p = lab.plan
    if p.kube is None:
        raise HalabError(f"lab {p.lab!r} has no kube tier to upgrade",
                         "`kubernetes.enabled: true` in its topology, then `halab up`")
    target = binaries.normalize_version(to).lstrip("v")  # as the plan has it: 1.36.3
    progress = read_progress(lab)
    if progress and progress.target != target:
        raise HalabError(f"lab {p.lab!r} is half-way through an upgrade to {progress.target} "
                         f"({', '.join(progress.done) or 'no host'} done)",
                         f"finish it first: `halab upgrade {p.lab} --to {progress.target}`")
    current = progress.source if progress else p.kube.version
    if progress is None and current == target:
        ui.info(f"lab {p.lab!r} already runs Kubernetes {target}: nothing to do")
        return 0
    drain = progress.drain if progress else drain
    lab.provider.prepare()
    with lab:
        steps = _plan_steps(lab, current, target, progress)
        ui.info(f"[bold]halab upgrade[/]: lab {p.lab!r} from {current} to {target}, one host "
                f"at a time{'' if drain else ', --no-drain (restarts in place)'}:")
        for s in steps:
            ui.info(f"  {s.host}: {', '.join(s.binaries)}"
                    + (" (etcd leader's master: hands its leadership over first)"
                       if s.hand_over and drain else ""))
        if drain:
            ui.info(f"  LB: {lb.ROTATION.get(p.lb_kind, 'none in front of the apiservers')}")
        if dry_run:
            ui.info("--dry-run: nothing was changed")
            return 0
        if kube_binaries_step(with_version(p, target)):
            raise HalabError(f"Kubernetes {target} binaries could not be had",
                             f"`halab binaries build --version {target}`, then again")
        progress = progress or Progress(current, target, drain)
        labdir.write_json(lab.dir, PROGRESS_FILE, asdict(progress))

        def record(host: str) -> None:
            progress.done.append(host)
            labdir.write_json(lab.dir, PROGRESS_FILE, asdict(progress))
        new = with_version(p, target)
        t0 = time.monotonic()
        run_steps(steps, lambda s: _step(new, lab.runner, s, drain, spans), record)
        with ui.step("every component's running version"):
            late = behind(running_versions(new, lab.runner), f"v{target}")
            if late:
                raise HalabError("not every component runs " + target + ": " + "; ".join(late),
                                 f"`halab upgrade {p.lab} --to {target}` again redoes it")
            ui.info(f"  every kube service on {len(p.masters) + len(p.minions)} hosts runs "
                    f"{target}")
    topo = lab.loaded.topology
    topo = topo.model_copy(update={"kubernetes": topo.kubernetes.model_copy(
        update={"version": target})})
    path = membership.record(lab, f"upgrade {current} → {target}", topo)
    (lab.dir / PROGRESS_FILE).unlink(missing_ok=True)
    ui.info(f"[bold green]lab {p.lab!r} runs Kubernetes {target}[/] "
            f"({time.monotonic() - t0:.0f}s); its topology is now {path}")
    return 0


def _step(plan: Plan, remote: Remote, step: HostStep, drain: bool, spans: Spans | None
          ) -> None:
    t0 = time.monotonic()
    with ui.step(f"{step.role} {step.host}"):
        upgrade_host(plan, remote, step, drain)
    if spans is not None:
        spans.append((step.host, t0, time.monotonic()))


def _plan_steps(lab: Lab, current: str, target: str, progress: Progress | None
                ) -> list[HostStep]:
    """The steps still to do, after the skew policy's refusals (before anything changes)."""
    p = lab.plan
    via = p.masters[0].name
    r = lab.runner.run(via, kube.kubectl("get nodes -o json"), check=False, timeout=60)
    kubelets = {n.name: n.kubelet_version for n in kube.parse_nodes(r.stdout)} if r.ok else {}
    # a resumed upgrade has kubelets at the target already: only newer than it is refused
    why = upgrade_plan.refusals(current, target, kubelets)
    if why:
        raise HalabError(f"Kubernetes' version-skew policy refuses {current} → {target}:\n"
                         + "\n".join(f"  - {w}" for w in why), "nothing was changed")
    view = etcd_probe.first_view(p, lab.runner, [m.name for m in p.masters], timeout=10)
    leader = view.leader_name() if view else None
    return upgrade_plan.remaining(upgrade_plan.order(p, leader),
                                  progress.done if progress else [])
