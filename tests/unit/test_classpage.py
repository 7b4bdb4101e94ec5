"""The class page's pure parts: exercise.json read into a scoreboard (times, deadline, broken
files), the report's scoreboard, the rows and pages rendered from plain values, the scenario's
figures drawn, and server-sent events framed."""

from __future__ import annotations

import threading
import time

import pytest

from halab.workshop import scoreboard
from halab.workshop.classpage import pages
from halab.workshop.classpage.app import Feed
from halab.workshop.classpage.model import HostCell, LabPage, LabRow, scenario_of, with_states

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0


def _ex(lab: str, checks, deadline=None, checked_at=None, name="etcd-member-lost"):
    return scoreboard.parse(lab, {"name": name, "started_at": T0, "deadline": deadline,
                                  "checks": [{"name": n, "passed": ok} for n, ok in checks],
                                  "checked_at": checked_at})


def test_exercise_times_count_to_the_passing_check_or_now():
    done = _ex("cls-a", [("member", True), ("data", True)], checked_at=T0 + 125)
    assert done.done and done.score() == "2/2"
    assert scoreboard.time_cell(done, T0 + 999) == "done in 2:05"
    going = _ex("cls-b", [("member", True), ("data", False)], deadline=T0 + 1200,
                checked_at=T0 + 60)
    assert scoreboard.time_cell(going, T0 + 300) == "5:00 (15:00 left)"
    assert scoreboard.time_cell(going, T0 + 1300) == "21:40 (over by 1:40)"
    assert scoreboard.clock(3725) == "1:02:05"


def test_a_broken_exercise_file_is_a_row_that_says_so():
    assert "not a JSON object" in scoreboard.parse("cls-a", "garbage").problem
    assert "KeyError" in scoreboard.parse("cls-a", {"name": "x"}).problem
    assert scoreboard.parse("cls-a", {"name": "x", "started_at": T0}).score() == "not checked yet"


def test_report_scoreboard_ranks_by_items_passed_then_time():
    rows = [_ex("cls-a", [("m", True), ("d", False)], checked_at=T0 + 10),
            _ex("cls-b", [("m", True), ("d", True)], checked_at=T0 + 300),
            _ex("cls-c", [("m", True), ("d", True)], checked_at=T0 + 100)]
    text = scoreboard.markdown(rows, T0 + 400)
    order = [line.split("|")[2].strip() for line in text.splitlines() if "| etcd-" in line]
    assert order == ["cls-c", "cls-b", "cls-a"]
    assert "| etcd-member-lost | cls-a | 1/2 | 6:40 | d |" in text
    assert scoreboard.markdown([], T0) == ""


def _row(lab: str, states: tuple[str, str], leader: str | None = "master1", **kw) -> LabRow:
    hosts = (HostCell("lb1", "lb", states[0]), HostCell("master1", "master", states[1]))
    return LabRow(lab, f"/x/{lab}.yaml", "container", hosts, leader, 2 if leader else None,
                  "lb1 → master1", **kw)


def test_rows_show_states_leader_and_exercise():
    ex = _ex("cls-a", [("member", True), ("data", False)])
    html = pages.rows_html([_row("cls-a", ("running", "running"), exercise=ex),
                            _row("cls-b", ("running", "shut off"), leader=None)], T0 + 30)
    assert html.count("<tr id=\"row-") == 2
    assert 'data-running="2/2"' in html and 'data-running="1/2"' in html
    assert "term 2" in html and "no leader" in html
    assert "✓ member" in html and "✗ data" in html and "0:30" in html
    assert "<form" not in html  # read-only: no action buttons


def test_actions_show_only_when_allowed_and_carry_the_token():
    html = pages.index_html([_row("cls-a", ("running", "running"))], T0, True, "s3cret")
    assert 'action="/action/reset/cls-a"' in html and 'value="s3cret"' in html
    assert "actions allowed" in html


def test_names_are_escaped():
    html = pages.rows_html([_row("cls-a", ("running", "running"),
                                 problems=("<script>x</script>",))], T0)
    assert "<script>x" not in html and "&lt;script&gt;" in html


def test_lab_page_draws_the_scenario_figures():
    scenario = scenario_of({"name": "failover", "ok": True, "finished_at": T0,
                            "figures": {"new_leader_s": 1.5, "write_gap_s": 3.0,
                                        "rejoin_s": float("nan"), "lost": 0}})
    assert scenario is not None
    page = LabPage(_row("cls-a", ("running", "running")), "<svg id='d'></svg>", (), scenario)
    html = pages.lab_html(page, T0, False, "")
    assert "<svg id='d'></svg>" in html and "every verdict held" in html
    assert "1.5 s" in html and "not measured" in html and "<li>lost: 0</li>" in html
    assert scenario_of({"name": "x"}) is None and scenario_of("text") is None


def test_events_put_every_line_in_its_own_data_field():
    text = pages.events({"labs": "<tr>\n<td>a</td>\n</tr>", "stamp": "12:00:00"})
    assert text == ("event: labs\ndata: <tr>\ndata: <td>a</td>\ndata: </tr>\n\n"
                    "event: stamp\ndata: 12:00:00\n\n")


def test_report_ends_with_the_scoreboard_of_the_labs_here(tmp_path, monkeypatch):
    from halab.lab import report
    from halab.session import labdir

    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    for name, passed in (("cls-a", True), ("cls-b", False)):
        d = tmp_path / name
        labdir.write_state(d, labdir.State(topology=f"/x/{name}.yaml"))
        labdir.write_json(d, labdir.EXERCISE_FILE, {
            "name": "lb-drops-a-master", "started_at": T0, "deadline": None,
            "checks": [{"name": "lb reaches all", "passed": passed}], "checked_at": T0 + 90})
    out = tmp_path / "report.md"
    assert report.report([], str(out)) == 0
    text = out.read_text()
    assert "## Scoreboard" in text
    assert "| lb-drops-a-master | cls-a | 1/1 | done in 1:30 | — |" in text
    assert "| lb-drops-a-master | cls-b | 0/1 |" in text and "| lb reaches all |" in text


def test_newer_states_change_a_row_and_a_halted_leader_is_no_leader():
    row = _row("cls-b", ("running", "running"))
    same = with_states(row, {"lb1": "running", "master1": "running"})
    assert same == row
    halted = with_states(row, {"master1": "shut off"})
    assert halted.running == 1 and halted.leader is None and halted.term is None
    assert "leader's host master1 is shut off" in halted.problems[-1]
    html = pages.rows_html([halted], T0)
    assert 'data-running="1/2"' in html and "no leader" in html
    lb_down = with_states(row, {"lb1": "shut off"})
    assert lb_down.leader == "master1" and lb_down.running == 1


class _SlowSource:
    """A round of rows that hangs, as one asking a just-halted master's etcd does."""

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()
        self.state = "running"

    def rows(self) -> list[LabRow]:
        if self.hang.is_set():
            self.release.wait(5)
        return [_row("cls-b", ("running", "running"))]

    def states(self) -> dict[str, dict[str, str]]:
        return {"cls-b": {"lb1": "running", "master1": self.state}}

    def page(self, lab: str) -> LabPage | None:
        return None


def test_the_feed_shows_a_halt_while_a_round_of_rows_is_stuck():
    source = _SlowSource()
    feed = Feed(source, 0.05)
    feed.start()
    try:
        feed.wait_first(5)
        assert feed.rows[0].running == 2 and feed.rows[0].leader == "master1"
        source.hang.set()
        time.sleep(0.2)  # the rows loop is now stuck in a round
        source.state = "shut off"
        deadline = time.monotonic() + 5
        while feed.rows[0].running != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert feed.rows[0].running == 1 and feed.rows[0].leader is None
    finally:
        source.release.set()
        feed.stop()


def test_the_watcher_closes_without_waiting_for_a_round_in_progress() -> None:
    """A round asking a halted host holds the labs for up to a minute: `class serve` must stop
    anyway (a CI run saw it pass 60 s after SIGTERM)."""
    from halab.lab import classview

    w = classview.Watcher()
    w._lock.acquire()  # a round in progress
    try:
        t0 = time.monotonic()
        w.close()
        assert time.monotonic() - t0 < classview.CLOSE_WAIT + 1
    finally:
        w._lock.release()
    w.close()  # and with nothing in progress, it closes at once
