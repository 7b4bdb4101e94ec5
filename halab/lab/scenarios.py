"""`halab verify`: the testinfra checks, or a scenario of the registry `SCENARIOS` (its name,
help, needs, steps and judge in one record), acting through this lab's `LabActions`
(`halab.lab.actions`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from halab.config.plan import Plan
from halab.errors import HalabError
from halab.lab.actions import OnLab
from halab.session import labdir
from halab.session.context import Lab
from halab.verify.scenarios import (
    certrenew,
    coldrestart,
    failover,
    lb,
    partition,
    quorumloss,
    slowzone,
)
from halab.verify.scenarios import needs as scenario_needs
from halab.verify.scenarios import upgrade as upgrading
from halab.verify.scenarios.actions import Outcome
from halab.verify.scenarios.needs import KUBE_MINIONS, THREE_MASTERS, VIP_PAIR, ZONES, Need
from halab.verify.scenarios.verdicts import Verdict


def verify(arg: str | None, junit: str | None, scenario: str | None, hard: bool,
           options: Mapping[str, Any] | None = None) -> int:
    """The testinfra checks (default), or a scenario with its verdicts; `options` are the
    scenario's own (`--to`, `--no-drain`), refused for a scenario that takes none of them."""
    from halab import ui
    from halab.verify import run  # pytest: only when the checks run

    chosen = known(scenario) if scenario is not None else None  # before the lab is opened
    options = dict(options or {})
    extra = sorted(set(options) - set(chosen.takes if chosen else ()))
    if extra:
        raise UnknownScenario(f"--{'/--'.join(x.replace('_', '-') for x in extra)} "
                              f"{'goes' if len(extra) == 1 else 'go'} with a scenario that "
                              f"takes {'it' if len(extra) == 1 else 'them'} "
                              f"(`halab verify --help`), not with "
                              f"{'the checks' if chosen is None else chosen.name}")
    lab = Lab.existing(arg)
    if chosen is None:
        ui.info(f"[bold]halab verify[/]: lab {lab.plan.lab!r}, every host over SSH (testinfra)")
        return run.run_checks(lab, junit, keep=labdir.junit_path(lab.dir))
    chosen.check(lab.plan)
    lab.provider.prepare()
    ok, _ = conduct(lab, chosen, hard, options)
    return 0 if ok else 1


def conduct(lab: Lab, scenario: Scenario, hard: bool,
            options: Mapping[str, Any] | None = None) -> Outcome:
    """Run `scenario` on `lab` through its actions; the SSH and provider connections closed
    after, and its outcome kept as the lab's last (the class page plots its figures)."""
    with lab:
        started = time.time()
        ok, figures = scenario.run(OnLab(lab), lab.plan, hard, **(options or {}))
    labdir.write_json(lab.dir, labdir.SCENARIO_FILE, {
        "name": scenario.name, "hard": hard, "ok": ok, "started_at": started,
        "finished_at": time.time(), "figures": figures})
    return ok, figures


# ── the registry ────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Scenario:
    """One scenario as data: `verify --help`, the CLI's choices and the refusal come from here."""

    name: str
    summary: str  # one line
    help: str  # what it does and asserts, for `halab verify --help`
    needs: tuple[Need, ...]
    # acts out its steps, then judges: (actions, plan, hard, **the options it takes)
    run: Callable[..., Outcome]
    judge: Callable[[Any], list[Verdict]]  # pure: the verdicts from the record its run kept
    takes: tuple[str, ...] = ()  # its own options, as `run`'s keyword arguments

    def check(self, plan: Plan) -> None:
        """Refuse, before anything runs, a lab that lacks what this scenario needs."""
        error = scenario_needs.refusal(self.name, self.needs, plan)
        if error is not None:
            raise error


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        "failover", "halt the etcd leader while writing, time the failover, restart it",
        "halts whichever master leads while writing through the LB, and asserts: a new leader "
        "within 2 × the election timeout, no acknowledged write lost, a healthy 2-of-3 "
        "cluster, and 3 healthy members after the restart. Exit status 1 if anything failed.",
        (THREE_MASTERS,), failover.run, failover.judge),
    Scenario(
        "cold-restart", "every host off, `halab up`, every tier healthy again",
        "writes keys through the LB, halts every host at once, runs `halab up`, and asserts: "
        "etcd has quorum with one leader, every key is there, the LB reaches every master, "
        "and the checks above pass (kube nodes Ready among them).",
        (), coldrestart.run, coldrestart.judge),
    Scenario(
        "lb", "halt the LB holding the VIP, time the takeover",
        "halts the LB holding the VIP while writing through it, and asserts: another LB holds "
        "the VIP within 15 s, the client error window is at most 20 s, no acknowledged write "
        "is lost, and once the LB is back exactly one LB holds the VIP.",
        (VIP_PAIR,), lb.run, lb.judge),
    Scenario(
        "partition", "cut the etcd leader off from the other masters, then heal",
        "cuts the etcd leader off from the other masters while writing through the LB, heals, "
        "and asserts: a new leader within 2 × the election timeout, the isolated member steps "
        "down, no raft term with two leaders, no acknowledged write lost, the isolated member "
        "catches up.",
        (THREE_MASTERS,), partition.run, partition.judge),
    Scenario(
        "slow-zone", "write latency with 100 ms added to one zone, then without",
        "measures write latency (p50, p99) and leader changes through the LB for 60 s with "
        "100 ms added between zone b and the other zones, then 60 s without; it asserts only "
        "that quorum was never lost.",
        (ZONES,), slowzone.run, slowzone.judge),
    Scenario(
        "quorum-loss", "lose a majority of etcd, restore the backup",
        "writes keys, backs etcd up, writes more, powers off a majority of the masters (writes "
        "fail: how soon), starts them, restores the backup, and asserts: the keys before the "
        "backup are back, those after it are gone, every member is healthy with one leader, "
        "and the checks pass.",
        (), quorumloss.run, quorumloss.judge),
    Scenario(
        "cert-renew", "renew every certificate, without and with restarts, under probes",
        "runs a Deployment of 2 replicas with a PodDisruptionBudget behind a NodePort, probes "
        "the API (/readyz through the LB) and the workload from this host 2.5 times a second, "
        "runs `halab certs --renew --no-restart` and times how long each server port takes to "
        "serve its renewed file on its own, then `halab certs --renew` (restarts one master at "
        "a time), and asserts: neither probe failed for more than 2 s in a row, both renewals "
        "brought the lab back, and every server port serves its renewed certificate.",
        (KUBE_MINIONS,), certrenew.run, certrenew.judge),
    Scenario(
        "upgrade", "a rolling Kubernetes upgrade (--to VERSION) under probes",
        "runs a Deployment of 2 replicas with a PodDisruptionBudget behind a NodePort, probes "
        "the API (/readyz through the LB), the workload and the Deployment's ready replicas "
        "from this host 2.5 times a second, runs `halab upgrade --to VERSION` (with "
        "--no-drain, restarts in place), and asserts: every kube service runs the new version, "
        "neither probe failed for more than 2 s in a row, and the Deployment never had 0 "
        "ready replicas. The timeline is kept as .halab/<lab>/upgrade-timeline.svg and .png.",
        (KUBE_MINIONS,), upgrading.run, upgrading.judge, takes=("to", "drain")),
)}


class UnknownScenario(HalabError):
    exit_code = 2  # a usage error, as argparse's


def known(name: str) -> Scenario:
    """The registered scenario `name`; an unknown name is a usage error naming the known ones."""
    if name not in SCENARIOS:
        raise UnknownScenario(f"no scenario {name!r}; the scenarios are: {', '.join(SCENARIOS)}",
                              "`halab verify --help` says what each does")
    return SCENARIOS[name]


def help_text() -> str:
    """One paragraph per scenario for `halab verify --help`, with what it needs from the lab."""
    def needs(s: Scenario) -> str:
        return f" Needs {', '.join(n.what for n in s.needs)}." if s.needs else ""
    return "\n\n".join(f"--scenario {s.name} {s.help}{needs(s)}" for s in SCENARIOS.values())
