"""`halab verify`: the testinfra checks, or a scenario (failover, lb, cold-restart and the
drills), given this lab's provider and SSH runner to act through."""

from __future__ import annotations

from halab.errors import HalabError
from halab.lab import drills, labdir, power
from halab.lab.context import Lab
from halab.lab.up import kube_skip_reason, up
from halab.tiers import lb as lb_tier
from halab.verify import demo, kubedemo
from halab.verify.scenarios import coldrestart
from halab.verify.scenarios import failover as failover_scenario_mod
from halab.verify.scenarios import lb as lbfailover


def verify(arg: str | None, junit: str | None, scenario: str | None, hard: bool) -> int:
    """The testinfra checks (default), or a scenario with its verdicts."""
    from halab import ui
    from halab.verify import run  # pytest: only when the checks run

    lab = Lab.existing(arg)
    if scenario is None:
        ui.info(f"[bold]halab verify[/]: lab {lab.plan.lab!r}, every host over SSH (testinfra)")
        return run.run_checks(lab.plan.lab, junit, keep=labdir.junit_path(lab.dir))
    lab.provider.prepare()
    run_scenario = {"cold-restart": cold_restart_scenario, "lb": lb_scenario,
                    **drills.SCENARIOS}.get(scenario or "", failover_scenario)
    ok, _ = run_scenario(lab, hard)
    return 0 if ok else 1


def lb_scenario(lab: Lab, hard: bool) -> tuple[bool, dict[str, float]]:
    """Halt the LB holding the VIP while writing through it (`halab.verify.scenarios.lb`)."""
    steps = lbfailover.Steps(
        holders=lambda names: lb_tier.vip_holders(lab.plan, lab.runner, names),
        halt=lambda name: power.power_off(lab, lab.host(name), hard)(),
        start=lambda name: power.boot(lab, lab.host(name))())
    with lab:
        return lbfailover.lb_failover(lab.plan, demo.Cluster(lab.plan, lab.dir / "pki"), hard,
                                      steps)


def cold_restart_scenario(lab: Lab, hard: bool) -> tuple[bool, dict[str, float]]:
    """Every host off, `halab up`, then every tier judged (`halab.verify.scenarios.coldrestart`)."""
    from halab.verify import run

    p = lab.plan

    def halt_all() -> list[str]:
        try:
            return power.halt_hosts(lab, p.hosts, hard)
        finally:
            lab.close()  # its SSH connections die with the hosts

    def machine_states() -> dict[str, str]:
        try:
            return lab.provider.lab_machines(p, lab.recorded())
        finally:
            lab.close()

    def backends_missing() -> list[str]:
        reached = {h.name: lb_tier.reach(p, lab.runner, h.name) or [] for h in p.lbs}
        return [f"{name}: {m.name}" for name, names in reached.items() for m in p.masters
                if m.name not in names]

    steps = coldrestart.Steps(
        halt_all=halt_all, vm_states=machine_states, up=lambda: up(lab.topology),
        backends_missing=backends_missing,
        checks=lambda: run.checked(p.lab, None, keep=labdir.junit_path(lab.dir))[1])
    with lab:
        return coldrestart.cold_restart(p, demo.Cluster(p, lab.dir / "pki"), hard, steps)


def failover_scenario(lab: Lab, hard: bool) -> tuple[bool, dict[str, float]]:
    if len(lab.plan.masters) < 3:
        raise HalabError(f"lab {lab.plan.lab!r} has {len(lab.plan.masters)} master(s); the "
                         "failover scenario needs 3 or more", "use labs/etcd-only.yaml")
    with lab:
        kube_on = lab.plan.kube is not None and kube_skip_reason(lab.plan) is None
        return failover_scenario_mod.failover(
            lab.plan, lab.dir / "pki", hard, lambda h: power.power_off(lab, h, hard),
            lambda h: power.boot(lab, h),
            kubedemo.KubeProbe(lab.plan, lab.runner) if kube_on else None)
