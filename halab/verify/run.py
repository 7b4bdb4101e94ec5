"""`halab verify`: runs the packaged testinfra checks against a lab and prints one line each."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from halab import ui
from halab.session.context import Lab

CHECKS = Path(__file__).resolve().parent / "checks"
MARK = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]"}


@dataclass(frozen=True)
class Row:
    group: str
    title: str
    target: str
    outcome: str
    detail: str


class Summary:
    """A pytest plugin: one readable line per check, then the totals (pytest's own is off).

    It also records the lab, host and check title as JUnit properties of each check, so
    `halab report` can name them as this output does.
    """

    def __init__(self, lab: str = "") -> None:
        self.lab = lab
        self.rows: list[Row] = []
        self.started = time.monotonic()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
        rep = yield
        if rep.when == "call" or (rep.when == "setup" and not rep.passed):
            self._add(item, rep)
        return rep

    def _add(self, item: pytest.Item, rep: pytest.TestReport) -> None:
        doc = getattr(item, "function", None).__doc__ or item.name
        group = item.module.__name__.rsplit(".", 1)[-1].removeprefix("check_")
        target = item.callspec.id if hasattr(item, "callspec") else ""
        detail = dict(rep.user_properties).get("detail", "")
        if rep.skipped and isinstance(rep.longrepr, tuple):
            detail = rep.longrepr[2].removeprefix("Skipped: ")
        elif rep.failed:
            detail = _failure_line(rep)
        row = Row(group, doc.strip().splitlines()[0], target, rep.outcome, detail)
        self.rows.append(row)
        # Written with the teardown report, so they reach the JUnit XML of this check.
        props = [("group", row.group), ("host", row.target), ("check", row.title)]
        item.user_properties += [("lab", self.lab), *props] if self.lab else props
        tail = f" — {row.detail}" if row.detail else ""
        ui.info(f"{MARK[row.outcome]} {row.group:<5} {row.target:<22} {row.title}{tail}")

    def totals(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "skipped": 0}
        for r in self.rows:
            out[r.outcome] += 1
        return out


def _failure_line(rep: pytest.TestReport) -> str:
    crash = getattr(rep.longrepr, "reprcrash", None)
    text = crash.message if crash else str(rep.longrepr)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "failed"
    first = lines[0].removeprefix("AssertionError: ").removeprefix("AssertionError")
    # `assert x, "why"` gives "why" first; a bare assert gives pytest's comparison next.
    return (first or " ".join(lines[1:3]))[:300]


def junit_options(path: str | Path) -> list[str]:
    """pytest options for the JUnit XML that `--junit` and `halab report` read."""
    return [f"--junitxml={path}", "-o", "junit_family=xunit2",
            "-o", "junit_suite_name=halab-verify"]


class OpenLab:
    """A pytest plugin that hands the checks the lab `halab verify` opened, so they do not read
    its topology again (`checks/conftest.py` opens `--halab-lab` itself only when run alone)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab


def run_checks(lab: Lab, junit: str | None, keep: Path | None = None) -> int:
    """Run every check; exit status 0 only when none failed (skips are reported, not failures).

    `keep` also gets the JUnit XML (the lab's latest results, for `halab report`).
    """
    return checked(lab, junit, keep)[0]


def checked(lab: Lab, junit: str | None, keep: Path | None = None, select: str | None = None
            ) -> tuple[int, dict[str, int]]:
    """`run_checks`, also returning the totals (passed, failed, skipped) for a scenario;
    `select` runs only the checks `pytest -k` would choose (an exercise's items)."""
    summary = Summary(lab.plan.lab)
    args = [str(CHECKS), f"--halab-lab={lab.plan.lab}", f"--rootdir={CHECKS}",
            "-p", "no:terminal", "-p", "no:cacheprovider", "-p", "no:warnings",
            "-o", "python_files=check_*.py", "-o", "addopts="]
    if select:
        args += ["-k", select]
    target = junit or keep
    if target:
        args += junit_options(target)
    code = pytest.main(args, plugins=[summary, OpenLab(lab)])
    if junit and keep and Path(junit).is_file():
        shutil.copyfile(junit, keep)
    t = summary.totals()
    took = time.monotonic() - summary.started
    colour = "green" if code == 0 else "red"
    ui.info(f"[bold {colour}]{t['passed']} passed, {t['failed']} failed, {t['skipped']} "
            f"skipped[/] in {took:.1f}s" + (f"; JUnit XML in {junit}" if junit else ""))
    if code not in (0, 1) and not summary.rows:
        ui.error(f"the checks could not run (pytest exit {code})")
    return (0 if code == 0 else 1), t
