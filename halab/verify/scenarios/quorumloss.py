"""`halab verify --scenario quorum-loss`: lose quorum, and recover it from a backup.

Write N keys, take a backup, write M more, then power off a majority of the masters while a
writer runs through the LB: writes fail, and how soon is measured. Then the masters are started
again and the backup is restored with `halab restore`. The verdicts: the N keys are back and the
M are gone (they came after the snapshot's revision), etcd has all its members healthy with one
leader, and `halab verify` passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from halab import ui
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.poll import wait_until
from halab.verify import demo
from halab.verify.figures import WriteLog
from halab.verify.scenarios import coldrestart
from halab.verify.scenarios.actions import LabActions, Outcome
from halab.verify.scenarios.verdicts import Verdict, announce

BEFORE, AFTER = 20, 10  # keys written before and after the backup
FAIL_WAIT = 60.0  # how long the writer may go on after the power-off without a failure


@dataclass
class QuorumLoss:
    masters: int = 0  # as the topology counts them
    halted: list[str] = field(default_factory=list)
    before: list[int] = field(default_factory=list)  # acknowledged
    after: list[int] = field(default_factory=list)
    snapshot_revision: int = 0
    halt_at: float = 0.0
    writes: WriteLog = field(default_factory=lambda: WriteLog(0.0))
    restore_s: float = 0.0
    restore_error: str = ""
    found_before: list[int] = field(default_factory=list)
    found_after: list[int] = field(default_factory=list)
    readback_error: str = ""
    members: int = 0
    etcd_problems: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)

    def first_failure_s(self) -> float | None:
        """From the power-off to the end of the first write that failed after it."""
        failed = [w.finished for w in self.writes.failed() if w.started >= self.halt_at]
        return min(failed) - self.halt_at if failed else None


def judge(r: QuorumLoss) -> list[Verdict]:
    masters = r.masters
    fail = r.first_failure_s()
    missing = sorted(set(r.before) - set(r.found_before))
    came_back = sorted(set(r.found_after))
    restored = not r.restore_error
    totals = r.checks
    return [
        Verdict(f"writes fail once {len(r.halted)} of {masters} masters are off",
                fail is not None, f"the first failed {fail:.1f}s after the power-off"
                if fail is not None else "every write was still acknowledged"),
        Verdict("`halab restore` brought etcd back", restored,
                f"{r.restore_s:.1f}s" if restored else r.restore_error),
        Verdict(f"the {len(r.before)} keys written before the backup are back",
                restored and bool(r.before) and not missing and not r.readback_error,
                "not asked" if not restored else
                f"{len(r.found_before)} found" + (f", missing {missing[:10]}" if missing else "")
                + (f"; {r.readback_error}" if r.readback_error else "")),
        Verdict(f"the {len(r.after)} keys written after it are gone (snapshot revision "
                f"{r.snapshot_revision})", restored and bool(r.after) and not came_back
                and not r.readback_error,
                "not asked" if not restored else
                "none found" if not came_back else f"found {came_back[:10]}"),
        Verdict(f"etcd has quorum: {r.members or masters} healthy members and one leader",
                restored and r.members > 0 and not r.etcd_problems,
                "not asked" if not restored else
                "; ".join(r.etcd_problems) or f"{r.members} in etcd's member list, all healthy"),
        Verdict("`halab verify` passes afterwards",
                totals.get("failed", 1) == 0 and totals.get("passed", 0) > 0,
                f"{totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed, "
                f"{totals.get('skipped', 0)} skipped" if totals else "not run"),
    ]


def majority(plan: Plan) -> list[str]:
    """The masters to power off so that fewer than a quorum are left: the last ones."""
    names = [m.name for m in plan.masters]
    return names[len(names) // 2:]


def run(actions: LabActions, plan: Plan, hard: bool) -> Outcome:
    """Back up, lose a majority (always by a power cut), restore, judge; whether every verdict
    held, and the figures."""
    r, cluster = QuorumLoss(len(plan.masters)), actions.etcd()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    before, after = f"/halab/quorum-loss/{stamp}/before/", f"/halab/quorum-loss/{stamp}/after/"
    with ui.step(f"write {BEFORE} keys, back up etcd, write {AFTER} more"):
        r.before = coldrestart.write_marks(cluster, before, BEFORE)
        path, status = actions.backup()
        r.snapshot_revision = status.revision
        ui.info(f"  backup {path}: {status.summary()}")
        r.after = coldrestart.write_marks(cluster, after, AFTER)
    r.halted = majority(plan)
    writer = demo.Writer(cluster.gateway(plan.etcd.client_url, timeout=5.0),
                         f"/halab/quorum-loss/{stamp}/during/")
    writer.start()
    try:
        with ui.step(f"scenario quorum-loss: power off {', '.join(r.halted)} while writing"):
            time.sleep(2)
            r.halt_at = time.monotonic()
            actions.halt(r.halted, hard=True)
            wait_until(lambda: any(w.started >= r.halt_at for w in list(writer.log.writes)
                                   if not w.acked), FAIL_WAIT, 0.2)
            time.sleep(1)
    finally:
        r.writes = writer.finish()
    fail = r.first_failure_s()
    ui.info("  " + (f"writes failed {fail:.1f}s after the power-off" if fail is not None
                    else f"writes still succeeded {FAIL_WAIT:.0f}s after the power-off"))
    with ui.step(f"start {', '.join(r.halted)} again, then restore the backup"):
        actions.start(r.halted)
        try:
            r.restore_s = actions.restore(path)
        except HalabError as exc:
            r.restore_error = exc.message.splitlines()[0]
            ui.error(exc.message)
    if not r.restore_error:
        with ui.step("the keys, etcd's members, halab verify"):
            r.found_before, err1 = demo.read_back(cluster, before)
            r.found_after, err2 = demo.read_back(cluster, after)
            r.readback_error = "; ".join(e for e in (err1, err2) if e)
            r.members, r.etcd_problems = cluster.listed_problems_within(60)
            r.checks = actions.checks()
    ok = announce(judge(r))
    return ok, {"writes_fail_s": fail if fail is not None else float("nan"),
                "restore_s": r.restore_s}
