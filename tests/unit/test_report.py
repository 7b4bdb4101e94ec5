"""`halab report`: JUnit XML written by the real code path (pytest + verify's plugin) → Markdown.

The JUnit files are made by running pytest in-process on a throwaway check module with the same
plugin and JUnit options as `halab verify`, so a change there that breaks the report shows here.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from halab.cli import app as cli
from halab.errors import HalabError
from halab.session import labdir
from halab.verify import run
from halab.workshop import report

pytestmark = pytest.mark.unit

CHECKS = '''\
import pytest

@pytest.mark.parametrize("master", ["master1", "master2", "master3"])
def test_service_active_and_enabled(master):
    """etcd is active and enabled"""
    assert master != "{bad}", "etcd is inactive on {bad} | see journalctl -u etcd"

def test_every_minion_is_ready():
    """every minion is registered and Ready"""
    pytest.skip("the kube tier is not provisioned")

@pytest.fixture
def broken():
    raise RuntimeError("cannot reach lb1 over SSH")

def test_etcd_answers_through_it(broken):
    """etcd answers through it"""
'''


def junit(tmp_path: Path, lab: str, bad: str = "", *, plugin: bool = True) -> Path:
    """Run the throwaway checks as `halab verify` runs its own; return the JUnit file."""
    d = tmp_path / lab
    d.mkdir(parents=True)
    (d / "pytest.ini").write_text("[pytest]\n")
    (d / "check_etcd.py").write_text(CHECKS.replace("{bad}", bad or "nobody"))
    out = d / labdir.JUNIT_FILE
    args = [str(d), f"--rootdir={d}", "-p", "no:cacheprovider", "-p", "no:terminal",
            "--import-mode=importlib", "-o", "python_files=check_*.py", "-o", "addopts=",
            *run.junit_options(out)]
    try:
        pytest.main(args, plugins=[run.Summary(lab)] if plugin else [])
    finally:  # the next run must import its own module, not this one
        for name in [m for m in sys.modules if m.rsplit(".", 1)[-1] == "check_etcd"]:
            del sys.modules[name]
    assert out.is_file()
    return out


def test_parse_reads_what_verify_writes(tmp_path: Path) -> None:
    path = junit(tmp_path, "seed-s02", bad="master2")
    r = report.parse(path.read_text(), str(path))
    assert r.lab == "seed-s02" and r.timestamp.endswith(" UTC") and len(r.timestamp) == 23
    assert (r.count("passed"), r.count("failed"), r.count("skipped")) == (2, 2, 1)
    failed = {(c.group, c.title, c.host): c.message for c in r.with_outcome("failed")}
    assert failed[("etcd", "etcd is active and enabled", "master2")] == \
        "etcd is inactive on master2 | see journalctl -u etcd"
    assert "cannot reach lb1 over SSH" in failed[("etcd", "etcd answers through it", "")]
    (skipped,) = r.with_outcome("skipped")
    assert skipped.title == "every minion is registered and Ready"
    assert skipped.message == "the kube tier is not provisioned"


def test_parse_plain_pytest_junit_names_checks_from_the_test_ids(tmp_path: Path) -> None:
    path = junit(tmp_path, "other", bad="master3", plugin=False)
    r = report.parse(path.read_text(), str(tmp_path / "student7.xml"))
    assert r.lab == "student7"  # no lab recorded: the file's name
    (c, *_) = r.with_outcome("failed")
    assert (c.group, c.title, c.host) == ("etcd", "service active and enabled", "master3")


def test_markdown_sums_up_every_lab_then_one_section_each(tmp_path: Path) -> None:
    ok = report.parse(junit(tmp_path, "seed-s01").read_text(), "a.xml")
    bad = report.parse(junit(tmp_path, "seed-s02", bad="master3").read_text(), "b.xml")
    md = report.markdown([bad, ok], not_verified=["seed-s03"])
    assert md.startswith("# halab verify report\n")
    assert ("2 labs verified: 0 with every check passed, 2 with failed checks; 1 not verified "
            "yet.") in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| seed-s")]
    assert [r.split(" | ")[0] for r in rows] == ["| seed-s01", "| seed-s02", "| seed-s03"]
    assert rows[0].startswith("| seed-s01 | 3 | 1 | 1 |") and rows[0].endswith("✗ 1 failed |")
    assert rows[1].startswith("| seed-s02 | 2 | 2 | 1 |")
    assert "not verified yet (`halab verify seed-s03`)" in rows[2]
    section = md.split("## seed-s02\n", 1)[1]
    assert "2 passed, 2 failed, 1 skipped — from `b.xml`" in section
    assert ("| etcd: etcd is active and enabled | master3 | etcd is inactive on master3 \\| "
            "see journalctl -u etcd |") in section
    assert "- etcd: every minion is registered and Ready — the kube tier is not provisioned" \
        in section
    assert "## seed-s03" not in md


def test_a_lab_where_every_check_passed() -> None:
    r = report.LabResult("zones-s04", "z.xml", (
        report.Check("etcd", "one leader", "master-a", "passed", ""),))
    md = report.markdown([r])
    assert "1 lab verified: 1 with every check passed, 0 with failed checks." in md
    assert "| zones-s04 | 1 | 0 | 0 | — | ✓ all passed |" in md
    assert "Every check that ran passed." in md


@pytest.mark.parametrize("text, says", [
    ("<testsuites><testsuite>", "not valid JUnit XML"),
    ("<html><body/></html>", "the root element is <html>"),
])
def test_not_junit_is_a_clear_error_naming_the_file(text: str, says: str) -> None:
    with pytest.raises(HalabError) as info:
        report.parse(text, "results/s1.xml")
    assert info.value.message.startswith("results/s1.xml: ") and says in info.value.message
    assert "halab verify" in (info.value.hint or "")


def test_report_command_reads_every_labs_latest_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    labs = tmp_path / "labs"
    monkeypatch.setenv("HALAB_LABS_DIR", str(labs))
    for name in ("seed-s01", "seed-s02"):
        labdir.write_state(labs / name, labdir.State(topology=f"{name}.yaml"))
    made = junit(tmp_path / "runs", "seed-s01", bad="master1")
    made.replace(labdir.junit_path(labs / "seed-s01"))
    out = tmp_path / "report.md"
    assert cli.main(["report", "--out", str(out)]) == 0
    md = out.read_text()
    assert "| seed-s01 | 2 | 2 | 1 |" in md and "not verified yet (`halab verify seed-s02`)" in md
    assert "1 lab(s) verified, 1 with failed checks, 1 not verified yet" in capsys.readouterr().out


def test_report_command_with_files_prints_markdown(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    path = junit(tmp_path, "etcd-only-s05")
    capsys.readouterr()
    assert cli.main(["report", str(path)]) == 0
    assert "| etcd-only-s05 | 3 | 1 | 1 |" in capsys.readouterr().out


def test_report_command_with_a_missing_file(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["report", "/nonexistent/verify.xml"]) == 1
    assert "no JUnit file at /nonexistent/verify.xml" in capsys.readouterr().err


def test_report_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    out = capsys.readouterr().out
    assert "--out FILE" in out and "verify.junit.xml" in out


def test_junit_checks_module_is_a_real_pytest_module() -> None:
    """The fixture above stays valid Python (a typo would make every report test vacuous)."""
    compile(textwrap.dedent(CHECKS), "check_etcd.py", "exec")
