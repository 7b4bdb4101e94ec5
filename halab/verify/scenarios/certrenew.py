"""`halab verify --scenario cert-renew`: every leaf certificate renewed twice while this host
probes the API through the LB and a workload through its NodePort, 2.5 times a second each.
First `halab certs --renew --no-restart`, timing how long each server port (etcd's client and
peer ports, each kube-apiserver, each kubelet, Pound's own) takes to serve its renewed file on
its own; then `halab certs --renew`, which restarts the components one master at a time.

The verdicts: the workload runs; the API and the workload never fail for more than 2 s in a
row; both renewals bring the lab back; after the restarts every server port serves its renewed
certificate. Which servers reloaded without a restart is printed, and kept with the figures.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from halab import ui
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.facts import certs
from halab.poll import wait_until
from halab.probes import tlscert
from halab.render import pki
from halab.verify.availability import api_prober, workload_prober
from halab.verify.figures import Mark, longest_outage
from halab.verify.scenarios import probed
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce
from halab.workshop import timeline

NAME, NODE_PORT = "renew-web", 30080
RELOAD_WAIT = 90.0  # seconds a server has to serve its renewed file without a restart
BASELINE = 3.0  # seconds of probes before and after the renewals
SERVED_WAIT = 60.0  # seconds for each restarted server to serve its renewed certificate


@dataclass
class CertRenew:
    reloaded: dict[str, float | None] = field(default_factory=dict)  # port → s, None: not
    not_served: list[str] = field(default_factory=list)  # after the restarts
    quiet_s: float = 0.0
    restart_s: float = 0.0
    api: list[Mark] = field(default_factory=list)
    work: list[Mark] = field(default_factory=list)
    pods: str = ""  # why the workload did not run ("" when it did)
    error: str = ""  # a renewal that failed
    steps: list[timeline.Span] = field(default_factory=list)  # monotonic seconds


def judge(r: CertRenew) -> list[Verdict]:
    out = [probed.workload_runs(NODE_PORT, r.pods), *probed.outage_verdicts(r.api, r.work)]
    out.append(Verdict("both renewals brought the lab back", not r.error,
                       r.error or f"without restarts {r.quiet_s:.0f}s, with them "
                                  f"{r.restart_s:.0f}s"))
    out.append(Verdict("after the restarts every server port serves its renewed certificate",
                       not r.error and bool(r.reloaded) and not r.not_served,
                       ", ".join(r.not_served) or f"{len(r.reloaded)} ports"))
    return out


def picture(plan: Plan, r: CertRenew, origin: float, fmt: Literal["svg", "png"]) -> bytes:
    """The probes' marks and the steps on one time axis, from the probes' start."""
    return probed.picture(_title(plan), _tracks(plan, r), r.steps, origin, fmt)


def _title(plan: Plan) -> str:
    return f"cert-renew on lab {plan.lab}: each tick a probe from this host (red: no answer)"


def _tracks(plan: Plan, r: CertRenew) -> dict[str, list[Mark]]:
    return {f"API /readyz via {plan.kube.api_url if plan.kube else '?'}": r.api,
            f"workload via NodePort {NODE_PORT}": r.work}


def expected(plan: Plan, store: pki.PKIStore) -> dict[str, tuple[certs.Endpoint, int]]:
    """Each server port (`what host :port`) → where it is and the serial it should serve."""
    out = {}
    for name, ends in certs.served_at(plan).items():
        if store.cert_path(name).exists():
            serial = pki.cert_from_pem(store.read_cert_pem(name)).serial_number
            for e in ends:
                out[f"{e.what} on {e.host} :{e.port}"] = (e, serial)
    return out


def serving(want: dict[str, tuple[certs.Endpoint, int]]) -> set[str]:
    """The ports that serve the serial they should now (a TLS handshake each, at once)."""
    def ask(item: tuple[str, tuple[certs.Endpoint, int]]) -> str | None:
        label, (e, serial) = item
        got = tlscert.served(e.ip, e.port, timeout=2.0)
        return label if not isinstance(got, str) and got.serial_number == serial else None
    with ThreadPoolExecutor(max_workers=8) as pool:
        return {label for label in pool.map(ask, want.items()) if label}


def time_reloads(want: dict[str, tuple[certs.Endpoint, int]], timeout: float
                 ) -> dict[str, float | None]:
    """Each port → seconds until it served its new serial (None: not within `timeout`)."""
    t0 = time.monotonic()
    seen: dict[str, float | None] = dict.fromkeys(want)

    def all_new() -> bool:
        for label in serving({k: v for k, v in want.items() if seen[k] is None}):
            seen[label] = time.monotonic() - t0
        return all(v is not None for v in seen.values())
    wait_until(all_new, timeout, 1.0)
    return seen


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Probe, renew without and with restarts, judge; whether every verdict held, the figures."""
    r = CertRenew()
    probe = actions.kube()
    if probe is None:
        raise HalabError("the cert-renew scenario needs the kube tier running",
                         f"`halab up {plan.lab}` adds it")
    r.pods = probed.deploy(probe, plan, NAME, NODE_PORT)
    store = actions.pki()
    api = api_prober(plan, store.cert_path(pki.KUBE_CA))
    work = workload_prober(plan, NODE_PORT)
    origin = time.monotonic()
    api.start()
    work.start()
    try:
        time.sleep(BASELINE)
        t0 = time.monotonic()
        actions.renew_certs(restart=False)
        r.quiet_s = time.monotonic() - t0
        r.steps.append(timeline.Span("renew, no restarts", t0, time.monotonic()))
        t0 = time.monotonic()
        with ui.step(f"each server port, until it serves its renewed file (at most "
                     f"{RELOAD_WAIT:.0f}s)"):
            r.reloaded = time_reloads(expected(plan, store), RELOAD_WAIT)
            for label, s in r.reloaded.items():
                ui.info(f"  {label}: " + (f"serves it after {s:.1f}s, without a restart"
                                          if s is not None else "still the old certificate"))
        r.steps.append(timeline.Span("servers take the new files on their own", t0,
                                     time.monotonic()))
        t0 = time.monotonic()
        actions.renew_certs(restart=True)
        r.restart_s = time.monotonic() - t0
        r.steps.append(timeline.Span("renew with restarts, one master at a time", t0,
                                     time.monotonic()))
        # a restarted server may take a moment to listen again (a kubelet does)
        after = time_reloads(expected(plan, store), SERVED_WAIT)
        r.not_served = sorted(label for label, s in after.items() if s is None)
        time.sleep(BASELINE)
    except HalabError as exc:
        r.error = exc.message.splitlines()[0]
        ui.error(exc.message)
    finally:
        r.api, r.work = api.finish(), work.finish()
        probe.delete(plan.masters[0].name, NAME)
    tracks = _tracks(plan, r)
    probed.tell(dict(zip(("API", "workload"), tracks.values(), strict=True)), r.steps, origin)
    probed.keep_timeline(actions, "cert-renew-timeline", _title(plan), tracks, r.steps, origin)
    ok = announce(judge(r))
    reloaded = [s for s in r.reloaded.values() if s is not None]
    return ok, {"api_outage_s": longest_outage(r.api), "workload_outage_s":
                longest_outage(r.work), "renew_without_restart_s": r.quiet_s,
                "renew_with_restarts_s": r.restart_s,
                "servers_reloaded": float(len(reloaded)),
                "servers": float(len(r.reloaded)),
                "slowest_reload_s": max(reloaded, default=0.0)}
