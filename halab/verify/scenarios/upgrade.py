"""`halab verify --scenario upgrade --to VERSION [--no-drain]`: `halab upgrade` while this host
probes, 2.5 times a second each, the API (/readyz through the LB), a workload (a Deployment of 2
replicas with a PodDisruptionBudget, through its NodePort) and that Deployment's ready replicas
(through the API, with the admin's certificate).

The verdicts: the workload runs; the upgrade finishes and every kube service's running process
is the new version; neither the API nor the workload fails for more than 2 s in a row; the
Deployment never has 0 ready replicas (a sample the API could not answer is not counted as 0,
and how many there were is said). `--no-drain` gives the same figures for a roll in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts import workloads
from halab.render import pki
from halab.verify.availability import (
    NOT_ASKED,
    ZERO_READY,
    api_prober,
    ready_prober,
    workload_prober,
)
from halab.verify.figures import Mark, longest_outage
from halab.verify.scenarios import probed
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce
from halab.workshop import timeline

NAME, NODE_PORT = "upgrade-web", 30081
BASELINE = 3.0  # seconds of probes before and after the upgrade
# A drained pod serves this long after it is told to stop: with 2 s, under load, a node's
# kube-proxy still sent new connections to a pod already gone (3.4 s of failed probes).
GRACE = 10


@dataclass
class Upgrade:
    target: str
    drain: bool = True
    api: list[Mark] = field(default_factory=list)
    work: list[Mark] = field(default_factory=list)
    ready: list[Mark] = field(default_factory=list)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # host → service → v
    pods: str = ""  # why the workload did not run ("" when it did)
    error: str = ""  # the upgrade's failure
    steps: list[timeline.Span] = field(default_factory=list)  # monotonic seconds

    @property
    def took(self) -> float:
        return self.steps[-1].end - self.steps[0].start if self.steps else 0.0


def judge(r: Upgrade) -> list[Verdict]:
    want = f"v{r.target.lstrip('v')}"
    behind = [f"{h} {s} {v}" for h, by in r.versions.items() for s, v in by.items() if v != want]
    out = [probed.workload_runs(NODE_PORT, r.pods),
           Verdict(f"the upgrade finished and every kube service runs {want}",
                   not r.error and bool(r.versions) and not behind,
                   r.error or "; ".join(behind) or
                   f"{sum(len(v) for v in r.versions.values())} services on "
                   f"{len(r.versions)} hosts, in {r.took:.0f}s")]
    out += probed.outage_verdicts(r.api, r.work)
    zero = sum(m.why == ZERO_READY for m in r.ready)
    unknown = sum(m.why.startswith(NOT_ASKED) for m in r.ready)
    out.append(Verdict("the Deployment never had 0 ready replicas",
                       len(r.ready) > unknown and zero == 0,
                       f"{zero} of {len(r.ready)} samples at 0 ready; {unknown} unanswered"))
    return out


def _title(plan: Plan, r: Upgrade) -> str:
    how = "careful order" if r.drain else "--no-drain: restarted in place"
    return (f"upgrade of lab {plan.lab} to {r.target} ({how}): each tick a probe from this host "
            "(red: no answer, or 0 ready)")


def _tracks(plan: Plan, r: Upgrade) -> dict[str, list[Mark]]:
    return {f"API /readyz via {plan.kube.api_url if plan.kube else '?'}": r.api,
            f"workload via NodePort {NODE_PORT}": r.work,
            f"{NAME} ready replicas > 0": r.ready}


def run(actions: LabActions, plan: Plan, hard: bool, to: str = "", drain: bool = True
        ) -> Outcome:
    """Probe, upgrade, judge; whether every verdict held, and the figures."""
    if not to:
        raise HalabError("the upgrade scenario needs the version to reach",
                         f"`halab verify {plan.lab} --scenario upgrade --to 1.36.3`")
    r = Upgrade(to, drain)
    probe = actions.kube()
    if probe is None:
        raise HalabError("the upgrade scenario needs the kube tier running",
                         f"`halab up {plan.lab}` adds it")
    r.pods = probed.deploy(probe, plan, NAME, NODE_PORT, GRACE)
    store = actions.pki()
    ca = store.cert_path(pki.KUBE_CA)
    admin = (store.cert_path("kubernetes/admin"), store.key_path("kubernetes/admin"))
    probers = (api_prober(plan, ca), workload_prober(plan, NODE_PORT),
               ready_prober(plan, ca, admin, workloads.NAMESPACE, NAME))
    origin = time.monotonic()
    for p in probers:
        p.start()
    try:
        time.sleep(BASELINE)
        spans, r.versions = actions.upgrade(to, drain)
        r.steps = [timeline.Span(host, start, end) for host, start, end in spans]
        time.sleep(BASELINE)
    except HalabError as exc:
        r.error = exc.message.splitlines()[0]
        ui.error(exc.message)
    finally:
        r.api, r.work, r.ready = (p.finish() for p in probers)
        probe.delete(plan.masters[0].name, NAME)
    tracks = _tracks(plan, r)
    probed.tell(dict(zip(("API", "workload", "ready"), tracks.values(), strict=True)), r.steps,
                origin)
    stem = "upgrade-timeline" if drain else "upgrade-no-drain-timeline"
    probed.keep_timeline(actions, stem, _title(plan, r), tracks, r.steps, origin)
    ok = announce(judge(r))
    return ok, {"api_outage_s": longest_outage(r.api),
                "workload_outage_s": longest_outage(r.work),
                "zero_ready_samples": float(sum(m.why == ZERO_READY for m in r.ready)),
                "upgrade_s": r.took, "hosts": float(len(r.steps))}
