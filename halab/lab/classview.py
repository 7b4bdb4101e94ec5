"""What the class page shows of every lab here, asked through the providers and the probes:
hosts' states, etcd's leader and term, what each LB reaches, the last verify, the exercise in
progress (exercise.json) and, per lab, the live diagram and the last scenario's figures.

Each lab is kept open between rounds, so its SSH connections are reused; a lab whose hosts
cannot be asked still gets its row, with what went wrong in its notes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from halab import home, ui
from halab.build import command
from halab.errors import HalabError
from halab.lab import status
from halab.probes import etcd as etcd_probe
from halab.probes import lb
from halab.remote.runner import RemoteError, parallel
from halab.session import labdir
from halab.session.context import Lab
from halab.workshop import diagram, scoreboard
from halab.workshop import report as junit
from halab.workshop.classpage import app as classapp
from halab.workshop.classpage.model import HostCell, LabPage, LabRow, scenario_of, with_states

# Seconds a row's one etcd call may take: a master halted mid-call answers nothing until then,
# and the page must show the halt within 10 s of it.
PROBE_TIMEOUT = 4


CLOSE_WAIT = 2.0  # s: for a round in progress to let go of the labs, when the page stops


class Watcher:
    """The class page's `Source` on this host: one open `Lab` per lab known here."""

    def __init__(self) -> None:
        self._labs: dict[str, Lab] = {}
        self._lock = threading.Lock()  # one round or one page at a time: a Lab is not shared
        self._quick: dict[str, Lab] = {}  # the state loop's own, never waiting on SSH
        self._quick_lock = threading.Lock()
        self._last: dict[str, LabRow] = {}  # the last round's rows, for the labs' pages

    def rows(self) -> list[LabRow]:
        with self._lock:
            known = labdir.known_labs()
            for gone in set(self._labs) - set(known):
                self._labs.pop(gone).close()
            rows = parallel(known, self._row)
            self._last = dict(rows)
            return list(rows.values())

    def states(self) -> dict[str, dict[str, str]]:
        with self._quick_lock:
            known = labdir.known_labs()
            for gone in set(self._quick) - set(known):
                self._quick.pop(gone).close()
            return {n: s for n, s in parallel(known, self._states_of).items() if s}

    def _states_of(self, name: str) -> dict[str, str]:
        try:
            lab = self._quick.get(name) or self._quick.setdefault(name, Lab.existing(name))
            return status.mine_only(lab, lab.provider.states(lab.plan))
        except HalabError:
            return {}  # the round of rows says why

    def page(self, name: str) -> LabPage | None:
        """One lab's page, from a Lab of its own: it never waits for a round of rows, which
        may be waiting on a host just halted."""
        if name not in labdir.known_labs():
            return None
        with self._lock_free_row(name) as (row, lab):
            if lab is None:
                return LabPage(row, "", row.problems)
            try:
                row = with_states(row, status.mine_only(lab, lab.provider.states(lab.plan)))
                live = status.live_state(lab)
                svg = diagram.laid_out(diagram.build(lab.plan, live), "svg").decode()
                notes = live.notes
            except (HalabError, RemoteError) as exc:
                svg, notes = "", (f"diagram: {exc}",)
            scenario = scenario_of(labdir.read_json(lab.dir, labdir.SCENARIO_FILE))
            return LabPage(row, _svg_body(svg), notes, scenario)

    @contextmanager
    def _lock_free_row(self, name: str) -> Iterator[tuple[LabRow, Lab | None]]:
        """The last round's row of `name` (asked now if there is none yet), and the lab opened
        for this page alone, closed after."""
        try:
            lab = Lab.existing(name)
        except HalabError as exc:
            yield LabRow(name, problems=(exc.message.splitlines()[0],), **_recorded(name)), None
            return
        try:
            row = self._last.get(name) or _asked(lab, _recorded(name))
            yield row, lab
        finally:
            lab.close()

    def close(self) -> None:
        """Close the labs' connections, unless a round still holds them: then the process's
        exit does (a round asking a halted host over SSH can take a minute, and waiting for it
        held `class serve` past its stop)."""
        for lock, labs in ((self._lock, self._labs), (self._quick_lock, self._quick)):
            if not lock.acquire(timeout=CLOSE_WAIT):
                continue
            try:
                for lab in labs.values():
                    lab.close()
                labs.clear()
            finally:
                lock.release()

    def _open(self, name: str) -> Lab:
        lab = self._labs.get(name)
        if lab is None:
            lab = Lab.existing(name)
            lab.provider.prepare()
            self._labs[name] = lab
        return lab

    def _row(self, name: str) -> LabRow:
        files = _recorded(name)
        try:
            lab = self._open(name)
        except HalabError as exc:
            return LabRow(name, problems=(exc.message.splitlines()[0],), **files)
        try:
            return _asked(lab, files)
        except (HalabError, RemoteError) as exc:
            self._labs.pop(name, None)
            lab.close()
            return LabRow(name, lab.topology, lab.plan.provider,
                          problems=(str(exc).splitlines()[0],), **files)


def _asked(lab: Lab, files: dict) -> LabRow:
    """One lab's row: the provider for the hosts, etcd over SSH, each running LB's reach."""
    p = lab.plan
    states = status.mine_only(lab, lab.provider.states(p))
    hosts = tuple(HostCell(h.name, h.role, states[h.name]) for h in p.hosts)
    running = [h.name for h in hosts if h.state == "running"]
    problems = []
    view = etcd_probe.first_view(p, lab.runner, [m.name for m in p.masters
                                                 if m.name in running], timeout=PROBE_TIMEOUT)
    leader = view.leader_name() if view else None
    term = next((s.raft_term for s in view.statuses if s.is_leader), None) if view else None
    if view is None and any(m.name in running for m in p.masters):
        problems.append("etcd: no running master answered")
    reach = []
    for h in p.lbs:
        if h.name in running:
            got = lb.reach(p, lab.runner, h.name)
            reach.append(f"{h.name} → " + ("?" if got is None else ", ".join(got) or "none"))
    return LabRow(lab.plan.lab, lab.topology, p.provider, hosts, leader, term, "; ".join(reach),
                  problems=tuple(problems), **files)


def _recorded(name: str) -> dict:
    """What the lab's directory records: the last verify's counts and the exercise."""
    d = labdir.lab_path(name)
    out: dict = {"verify": None, "verified_at": "", "exercise": None}
    path = labdir.junit_path(d)
    try:
        result = junit.parse(path.read_text(encoding="utf-8"), str(path), lab=name)
        out["verify"] = (result.count(junit.PASSED), result.count(junit.FAILED),
                         result.count(junit.SKIPPED))
        out["verified_at"] = result.timestamp
    except (OSError, HalabError):
        pass
    doc = labdir.read_json(d, labdir.EXERCISE_FILE)
    if doc is not None:
        out["exercise"] = scoreboard.parse(name, doc)
    return out


def _svg_body(svg: str) -> str:
    """Graphviz's SVG without its XML prolog and doctype, to sit inside the HTML page."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def serve(host: str, port: int, allow_actions: bool, interval: float) -> int:
    """`halab class serve`: the page until Ctrl-C (or SIGTERM); with actions, the token they
    need. Ends the process itself when the page stops."""
    token = classapp.new_token() if allow_actions else ""
    ui.info(f"[bold]halab class page[/]: http://{host}:{port}/ — every lab in "
            f"{home.labs_dir()}, refreshed every {interval:g}s; Ctrl-C stops it")
    if allow_actions:
        ui.info(f"actions allowed (reset a lab, start an exercise for all); token: {token}")
    else:
        ui.info("read-only (--allow-actions lets the page reset labs and start exercises)")
    watcher = Watcher()
    try:
        classapp.serve(watcher, host, port, interval,
                       ACTIONS if allow_actions else None, token)
    finally:
        watcher.close()
    # A round may still be asking a halted host over SSH in its worker threads, which the
    # interpreter's exit waits for (a CI run: `class serve` still there 60 s after SIGTERM).
    # The page keeps nothing to save, so it leaves at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _exercise(action: str, labs: list[str], form: Mapping[str, str]) -> str:
    """Run `halab exercise reset|start` on each lab, in the background (they take minutes);
    each one's outcome goes to the terminal that serves the page."""
    name = form.get("exercise", "").strip()
    if action == "start" and not name:
        return "give the exercise's name (`halab exercise list` shows them)"
    argvs = [[sys.executable, "-m", "halab.cli", "exercise", action, *([name] if name else []),
              "--lab", lab] for lab in labs]

    def run_all() -> None:
        for argv in argvs:
            try:
                done = command.run_captured(argv, timeout=ACTION_TIMEOUT)
                ui.info(f"class page: {' '.join(argv[3:])}: "
                        f"{(done.stdout.strip().splitlines() or ['done'])[-1]}")
            except HalabError as exc:
                ui.warn(f"class page: {exc.message}")
    threading.Thread(target=run_all, name=f"class-{action}", daemon=True).start()
    return (f"started `halab exercise {action}{' ' + name if name else ''}` on "
            f"{', '.join(labs) or 'no lab'}; the table shows the outcome as it comes")


ACTION_TIMEOUT = 900  # one exercise's break or reset; quorum-loss restores take minutes
ACTIONS = {"reset": _exercise, "start": _exercise}
