"""What the drills measured under probes share (cert-renew, upgrade): the Deployment the
workload probe reaches, the outages told with the step they fell in, and the timeline picture
kept in the lab's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from halab import ui
from halab.config.plan import Plan
from halab.verify import kubedemo
from halab.verify.figures import Mark, failures, longest_outage, outages
from halab.verify.scenarios.actions import LabActions
from halab.verify.scenarios.verdicts import Verdict
from halab.workshop import timeline


def deploy(probe: kubedemo.KubeProbe, plan: Plan, name: str, node_port: int, grace: int = 2
           ) -> str:
    """A web Deployment of 2 replicas with a PodDisruptionBudget behind NodePort `node_port`,
    each pod serving `grace` seconds after it is told to stop; why its pods did not run (""
    when they did)."""
    with ui.step(f"a Deployment {name} (2 replicas, a PodDisruptionBudget, NodePort "
                 f"{node_port})"):
        pods = probe.run_deployment(plan.masters[0].name, name, 2, node_port=node_port,
                                    budget=True, grace=grace)
        ui.info("  " + ", ".join(pods.placement))
    return "" if pods.seconds is not None else pods.why or "its pods did not run"


OUTAGE_LIMIT = 2.0  # seconds of failed probes in a row a drill may cost the API or a workload


def workload_runs(node_port: int, pods: str) -> Verdict:
    """The verdict on `deploy`'s outcome."""
    return Verdict(f"a Deployment of 2 replicas with a PodDisruptionBudget answers on NodePort "
                   f"{node_port}", not pods, pods or "yes")


def outage_verdicts(api: list[Mark], work: list[Mark]) -> list[Verdict]:
    """Neither the API nor the workload failed for more than OUTAGE_LIMIT in a row (and each
    was probed at all: no probe is no proof)."""
    out = []
    for what, marks in (("the API through the LB (/readyz)", api),
                        ("the workload through its NodePort", work)):
        gap, (failed, n) = longest_outage(marks), failures(marks)
        out.append(Verdict(f"{what} never failed for more than {OUTAGE_LIMIT:g}s in a row",
                           n > 0 and gap <= OUTAGE_LIMIT,
                           f"longest {gap:.1f}s; {failed} of {n} probes failed"))
    return out


def tell(tracks: dict[str, list[Mark]], steps: list[timeline.Span], origin: float) -> None:
    """How many probes failed, and each outage with the step it fell in."""
    ui.info("  probes: " + ", ".join(f"{what} {failures(m)[0]} of {len(m)} failed"
                                     for what, m in tracks.items()))
    for what, marks in tracks.items():
        for start, end, why in outages(marks):
            step = next((s.name for s in steps if s.start <= start <= s.end), "between steps")
            ui.info(f"  {what}: no answer {start - origin:.1f}–{end - origin:.1f}s "
                    f"({end - start:.1f}s, during {step}): {why}")


def picture(title: str, tracks: dict[str, list[Mark]], steps: list[timeline.Span],
            origin: float, fmt: Literal["svg", "png"]) -> bytes:
    """The probes' marks (a row each) and the steps (monotonic times) on one time axis from
    `origin`."""
    rows = [timeline.Track(name, tuple((m.started - origin, m.ok) for m in marks))
            for name, marks in tracks.items()]
    spans = [timeline.Span(s.name, s.start - origin, s.end - origin) for s in steps]
    return timeline.draw(title, rows, spans, fmt)


def keep_timeline(actions: LabActions, stem: str, title: str, tracks: dict[str, list[Mark]],
                  steps: list[timeline.Span], origin: float) -> Path:
    """`picture`, kept as STEM.png and STEM.svg in the lab's directory; the SVG's path."""
    for fmt in ("png", "svg"):
        path = actions.keep(f"{stem}.{fmt}", picture(title, tracks, steps, origin, fmt))
    ui.info(f"  the timeline: {path} and .png")
    return path
