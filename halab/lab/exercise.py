"""`halab exercise list|start|check|hint|solve|reset`: break a ready lab on purpose, let a student
fix it, and grade the fix.

`start` checks that the exercise fits the lab and that none is in progress, records what the
lab was like (marks written through the LB, each etcd member's ID, a snapshot if the exercise
needs one), then runs the break steps. All of it is kept in .halab/<lab>/exercise.json, which
`check` updates and the class page and `halab report` read (halab.workshop.scoreboard).

A `halab` step is run by `run_halab`, which the CLI hands in: the command as typed, in this
process, under the lock `halab exercise` already holds.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import asdict

from halab import home, ui
from halab.config import exercises
from halab.config.exercises import Exercise, Item, Step
from halab.errors import HalabError
from halab.lab import drills, graders
from halab.probes import etcdclient
from halab.session import labdir
from halab.session.context import Lab
from halab.workshop import scoreboard

RunHalab = Callable[[list[str]], int]
UP = Step(halab="up {{ lab }}")
STEP_TIMEOUT = 300  # s: one shell step of a break or a solution


def catalogue() -> dict[str, Exercise]:
    where = exercises.folder(home.data_root())
    if not where.is_dir():
        raise HalabError(f"no exercises folder at {where}",
                         "reinstall halab, or run it from a checkout")
    return exercises.load_all(where)


def find(name: str) -> Exercise:
    found = catalogue()
    if name not in found:
        raise HalabError(f"no exercise named {name!r}",
                         "`halab exercise list` shows them: " + ", ".join(found))
    return found[name]


def list_all() -> int:
    for name, ex in catalogue().items():
        needs = ", ".join(filter(None, ["kube tier" if ex.needs.kube else "",
                                        f"{ex.needs.masters} master"
                                        + ("s" if ex.needs.masters > 1 else ""),
                                        "/".join(ex.needs.lb_kinds) + " LB"]))
        ui.info(f"{name:<30} level {ex.level}  ~{ex.minutes:>2} min  {ex.title}  ({needs})")
    ui.info("start one: `halab exercise start NAME --lab LAB [--time 20m]`")
    return 0


def _record(lab: Lab) -> dict | None:
    doc = labdir.read_json(lab.dir, labdir.EXERCISE_FILE)
    if doc is not None and not isinstance(doc, dict):
        raise HalabError(f"{lab.dir / labdir.EXERCISE_FILE} is not a JSON object",
                         f"remove it, then `halab up {lab.plan.lab}` to be sure of the lab")
    return doc


def _in_progress(lab: Lab) -> tuple[dict, Exercise]:
    doc = _record(lab)
    if doc is None:
        raise HalabError(f"no exercise is in progress on lab {lab.plan.lab!r}",
                         f"`halab exercise start NAME --lab {lab.plan.lab}`")
    return doc, find(str(doc.get("name")))


def _steps(lab: Lab, listed: list[Step], what: str, run_halab: RunHalab,
           snapshot: str = "") -> None:
    for step in exercises.steps(listed, lab.plan, snapshot):
        if step.halab is not None:
            argv = shlex.split(step.halab)
            with ui.step(f"{what}: halab {step.halab}"):
                if run_halab(argv) != 0:
                    raise HalabError(f"`halab {step.halab}` failed during the {what}",
                                     "its output above says why")
        else:
            assert step.host is not None and step.run is not None
            with ui.step(f"{what} on {step.host}"):
                lab.runner.run(step.host, step.run, timeout=STEP_TIMEOUT, what=f"{what} step")


def start(arg: str | None, name: str, minutes: float | None, run_halab: RunHalab) -> int:
    ex = find(name)
    with Lab.existing(arg) as lab:
        p = lab.plan
        if misfit := exercises.misfit(ex, p):
            raise HalabError(f"exercise {name!r} does not fit lab {p.lab!r}: "
                             + "; ".join(misfit), "`halab exercise list` says what each needs")
        exercises.steps([*ex.break_, *ex.solution, *ex.reset], p, "SNAPSHOT")  # hosts known
        doc = _record(lab)
        if doc is not None:
            raise HalabError(f"exercise {doc.get('name')!r} is already in progress on lab "
                             f"{p.lab!r}", f"`halab exercise reset --lab {p.lab}` first")
        if off := [h.name for h in p.hosts if h.name not in lab.running()]:
            raise HalabError(f"not running: {', '.join(off)}", f"`halab up {p.lab}` first")
        cluster = etcdclient.for_lab(lab)
        with ui.step("record the lab before the break"):
            before = graders.record(cluster, f"/halab/exercise/{name}/")
            ui.info(f"  {len(before.marks)} keys written through the LB; members "
                    + ", ".join(f"{n} {i:x}" for n, i in before.member_ids.items()))
        snapshot = ""
        if ex.needs.snapshot:
            with ui.step("an etcd snapshot, before the break"):
                path, status = drills.take_backup(lab)
                snapshot = str(path)
                ui.info(f"  {path}: {status.summary()}")
        now = time.time()
        labdir.write_json(lab.dir, labdir.EXERCISE_FILE, {
            "name": name, "started_at": now,
            "deadline": now + minutes * 60 if minutes else None,
            "checks": [], "checked_at": None, "hints_shown": 0,
            "snapshot": snapshot, "before": asdict(before)})
        _steps(lab, ex.break_, "break", run_halab, snapshot)
        values = exercises.names(p, snapshot)
        ui.info(f"\n[bold]{ex.title}[/] (level {ex.level}, about {ex.minutes} min)")
        ui.info(exercises.fill(ex.goal, values).rstrip())
        if snapshot:
            ui.info(f"The snapshot taken just before: {snapshot}")
        ui.info(f"\n`halab exercise check --lab {p.lab}` grades your fix; "
                f"`halab exercise hint --lab {p.lab}` helps.")
    return 0


def _grade(lab: Lab, item: Item, before: graders.Before) -> tuple[bool, str]:
    if item.verify is not None:
        from halab.verify import run  # pytest: only when checks run

        ui.info(f"  `halab verify` checks matching {item.verify!r}:")
        _, totals = run.checked(lab, None, select=item.verify)
        ran = totals["passed"] + totals["failed"]
        ok = ran > 0 and totals["failed"] == 0
        return ok, (f"{totals['passed']} of {ran} checks passed" if ran
                    else "no check of halab verify matches it here")
    grade = graders.GRADERS[item.grader or ""]
    return grade(lab, etcdclient.for_lab(lab), before,
                 exercises.item_host(item, lab.plan))


def check(arg: str | None) -> int:
    with Lab.existing(arg) as lab:
        doc, ex = _in_progress(lab)
        before = graders.Before(**doc.get("before", {}))
        results = []
        ui.info(f"[bold]{ex.title}[/] ({doc['name']}): {len(ex.check)} items")
        for item in ex.check:
            ok, detail = _grade(lab, item, before)
            results.append({"name": item.name, "passed": ok})
            ui.info(f"{'[green]✓[/]' if ok else '[red]✗[/]'} {item.name} — {detail}")
        doc.update(checks=results, checked_at=time.time())
        labdir.write_json(lab.dir, labdir.EXERCISE_FILE, doc)
        done = scoreboard.parse(lab.plan.lab, doc)
        ui.info(f"{done.score()} passed; time {scoreboard.time_cell(done, time.time())}")
        return 0 if done.done else 1


def hint(arg: str | None) -> int:
    with Lab.existing(arg) as lab:
        doc, ex = _in_progress(lab)
        shown = min(int(doc.get("hints_shown", 0)) + 1, len(ex.hints))
        values = exercises.names(lab.plan, str(doc.get("snapshot", "")))
        for n, text in enumerate(ex.hints[:shown], 1):
            ui.info(f"hint {n} of {len(ex.hints)}: {exercises.fill(text, values)}")
        doc["hints_shown"] = shown
        labdir.write_json(lab.dir, labdir.EXERCISE_FILE, doc)
    return 0


def solve(arg: str | None, run_halab: RunHalab) -> int:
    with Lab.existing(arg) as lab:
        doc, ex = _in_progress(lab)
        _steps(lab, ex.solution, "solution", run_halab, str(doc.get("snapshot", "")))
        ui.info(f"`halab exercise check --lab {lab.plan.lab}` grades it")
    return 0


def reset(arg: str | None, run_halab: RunHalab) -> int:
    """Put the lab back: the exercise's reset steps unless every item already passes, then
    `halab up`; then forget the marks and the record."""
    with Lab.existing(arg) as lab:
        doc, ex = _in_progress(lab)
        before = graders.Before(**doc.get("before", {}))
        fixed = all(_grade(lab, item, before)[0] for item in ex.check)
        if not fixed:
            _steps(lab, ex.reset, "reset", run_halab, str(doc.get("snapshot", "")))
        _steps(lab, [UP], "reset", run_halab)  # boots what was halted, rewrites what drifted
        graders.forget(etcdclient.for_lab(lab), before)
        (lab.dir / labdir.EXERCISE_FILE).unlink(missing_ok=True)
        ui.info(f"lab {lab.plan.lab!r}: exercise {doc['name']!r} reset"
                + ("" if not fixed else " (it was already fixed)"))
    return 0
