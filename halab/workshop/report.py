"""`halab report`: JUnit XML of `halab verify` runs → one Markdown summary for the instructor.

Pure: text in, Markdown out. Each lab gets a section (passed, failed and skipped checks, every
failed check with its host and message), and one table sums up all labs, so a workshop with
forty student labs can be read at a glance. The JUnit files come from `halab verify` (which keeps
the latest in `.halab/<lab>/verify.junit.xml`) or from `halab verify --junit FILE`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from halab.errors import HalabError

FAILED, PASSED, SKIPPED = "failed", "passed", "skipped"
MESSAGE_MAX = 300


@dataclass(frozen=True)
class Check:
    """One check of one host, as `halab verify` printed it."""

    group: str  # etcd, lb, kube
    title: str
    host: str
    outcome: str  # passed | failed | skipped
    message: str  # why it failed or was skipped, or what it found


@dataclass(frozen=True)
class LabResult:
    """The checks of one lab from one JUnit file."""

    lab: str
    source: str
    checks: tuple[Check, ...]
    timestamp: str = ""

    def count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.checks)

    def with_outcome(self, outcome: str) -> list[Check]:
        return [c for c in self.checks if c.outcome == outcome]


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    first = first.removeprefix("AssertionError: ").removeprefix("AssertionError")
    return (first.strip() or " ".join(lines[1:3]))[:MESSAGE_MAX]


def _check(case: ET.Element) -> Check:
    """A testcase: halab's properties name it; without them (other JUnit) its id does."""
    props = {p.get("name", ""): p.get("value", "") for p in case.iterfind("properties/property")}
    base, _, param = case.get("name", "").partition("[")
    module = case.get("classname", "").rsplit(".", 1)[-1]
    group = props.get("group") or module.removeprefix("check_") or "check"
    title = props.get("check") or base.removeprefix("test_").replace("_", " ")
    host = props.get("host", param.removesuffix("]"))
    bad = next((e for e in (case.find("failure"), case.find("error")) if e is not None), None)
    skipped = case.find("skipped")
    if bad is not None:
        outcome, why = FAILED, _first_line(bad.get("message") or bad.text or "") or "failed"
    elif skipped is not None:
        outcome, why = SKIPPED, _first_line(skipped.get("message") or skipped.text or "")
    else:
        outcome, why = PASSED, props.get("detail", "")
    return Check(group, title, host, outcome, why)


def parse(text: str, source: str, lab: str | None = None) -> LabResult:
    """One JUnit XML file; the lab is `lab`, else the one halab recorded, else the file's name."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise HalabError(f"{source}: not valid JUnit XML ({exc})",
                         "give files written by `halab verify --junit FILE`, or run "
                         "`halab verify LAB` again") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise HalabError(f"{source}: not JUnit XML (the root element is <{root.tag}>, expected "
                         "<testsuites> or <testsuite>)",
                         "give files written by `halab verify --junit FILE`")
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    cases = [case for suite in suites for case in suite.iter("testcase")]
    recorded = next((p.get("value") for case in cases
                     for p in case.iterfind("properties/property")
                     if p.get("name") == "lab" and p.get("value")), None)
    stamp = next((s.get("timestamp", "") for s in suites if s.get("timestamp")), "")
    return LabResult(lab or recorded or _name_of(source), source,
                     tuple(_check(c) for c in cases), _when(stamp))


def _when(stamp: str) -> str:
    """pytest's ISO timestamp to the second: 2025-05-02T09:14:03.123+00:00 → …09:14:03 UTC."""
    if not stamp:
        return ""
    utc = stamp.endswith(("+00:00", "Z"))
    return stamp[:19].replace("T", " ") + (" UTC" if utc else "")


def _name_of(source: str) -> str:
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    return name.removesuffix(".xml").removesuffix(".junit") or source


def _cell(text: str) -> str:
    """Safe inside a Markdown table cell: one line, no column breaks."""
    return " ".join(text.split()).replace("|", "\\|") or "—"


def _verdict(r: LabResult) -> str:
    if not r.checks:
        return "no checks ran"
    failed = r.count(FAILED)
    return f"✗ {failed} failed" if failed else "✓ all passed"


def _section(r: LabResult) -> list[str]:
    out = [f"## {r.lab}", "",
           f"{r.count(PASSED)} passed, {r.count(FAILED)} failed, {r.count(SKIPPED)} skipped — "
           f"from `{r.source}`" + (f", {r.timestamp}" if r.timestamp else "") + ".", ""]
    failed = r.with_outcome(FAILED)
    if failed:
        out += ["| failed check | host | message |", "|---|---|---|"]
        out += [f"| {_cell(f'{c.group}: {c.title}')} | {_cell(c.host)} | {_cell(c.message)} |"
                for c in failed]
        out.append("")
    elif r.checks:
        out += ["Every check that ran passed.", ""]
    skipped = r.with_outcome(SKIPPED)
    if skipped:
        out += ["Skipped:", ""]
        out += [f"- {c.group}: {c.title}" + (f" ({c.host})" if c.host else "")
                + (f" — {' '.join(c.message.split())}" if c.message else "") for c in skipped]
        out.append("")
    return out


def markdown(results: Iterable[LabResult], not_verified: Iterable[str] = ()) -> str:
    """The report: one table over all labs, then one section per lab (sorted by lab name)."""
    labs = sorted(results, key=lambda r: (r.lab, r.source))
    missing = sorted(set(not_verified) - {r.lab for r in labs})
    bad = sum(1 for r in labs if r.count(FAILED) or not r.checks)
    head = (f"{len(labs)} lab{'s' if len(labs) != 1 else ''} verified: "
            f"{len(labs) - bad} with every check passed, {bad} with failed checks")
    if missing:
        head += f"; {len(missing)} not verified yet"
    out = ["# halab verify report", "", head + ".", "",
           "| lab | passed | failed | skipped | verified | result |",
           "|---|--:|--:|--:|---|---|"]
    out += [f"| {_cell(r.lab)} | {r.count(PASSED)} | {r.count(FAILED)} | {r.count(SKIPPED)} | "
            f"{_cell(r.timestamp)} | {_verdict(r)} |" for r in labs]
    out += [f"| {_cell(name)} | — | — | — | — | not verified yet (`halab verify {name}`) |"
            for name in missing]
    out.append("")
    for r in labs:
        out += _section(r)
    return "\n".join(out).rstrip("\n") + "\n"
