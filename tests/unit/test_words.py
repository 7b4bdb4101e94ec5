"""What halab says: the provider's own word for hosts, `--help` from the labs/ directory itself,
and no `NOTSET` line from `halab verify` for checks that do not apply to a lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from labfiles import LABS, lab_file, topology

from halab.cli import app, readylabs
from halab.config import groups, plan
from halab.config.topology import load
from halab.session import labdir
from halab.verify import run

pytestmark = pytest.mark.unit



def help_text(*argv: str) -> str:
    parser = app.build_parser()
    if not argv:
        return parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])
    return ""


def test_help_lists_every_ready_lab_with_its_line() -> None:
    text = app.build_parser().format_help()
    files = sorted(LABS.glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        line = next(x for x in text.splitlines() if x.startswith(f"  {f.stem} "))
        assert readylabs.describe(f.read_text())[:40] in line, line


def test_help_describes_both_providers() -> None:
    text = app.build_parser().format_help()
    assert "VMs (Vagrant + libvirt) or system containers (Incus" in text
    assert "on Vagrant + libvirt" not in text


@pytest.mark.parametrize("command", ["halt", "start", "ssh", "add-master", "replace",
                                     "remove-master", "diagram"])
def test_commands_for_any_provider_say_host_not_vm(command: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    help_text(command)
    assert "VM" not in capsys.readouterr().out


def test_a_new_lab_file_is_listed_at_once(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("# My own lab: two masters.\n# More words.\nname: mine\n")
    (tmp_path / "bare.yaml").write_text("name: bare\n")
    (tmp_path / "quoted.yaml").write_text("# a comment\nname: q\ndescription: 'lb1 and m1'\n")
    text = readylabs.listing(tmp_path)
    assert f"Ready labs in {tmp_path}/ (`halab up {tmp_path}/NAME.yaml`):" in text
    assert "  mine    My own lab: two masters.\n" in text + "\n"
    assert "  bare\n" in text
    assert "  quoted  lb1 and m1" in text  # the description field, before the comment


def test_no_ready_labs_says_so(tmp_path: Path) -> None:
    assert "has no *.yaml" in readylabs.listing(tmp_path)


@pytest.mark.parametrize(("provider", "word"), [("container", "all 4 containers"),
                                                ("vm", "all 4 VMs")])
def test_halt_all_uses_the_providers_word(provider: str, word: str) -> None:
    topo = topology("etcd-only")
    p = plan.build(topo, "native" if provider == "container" else "tcg", (), provider)
    assert groups.select(p, None, None, True, "halt").what == word
    assert groups.machines(p, 1) == ("1 container" if provider == "container" else "1 VM")


def collected(tmp_path: Path, topology: Path) -> list[str]:
    """The checks `halab verify` would run on a lab of `topology` (collected only, no host)."""
    name = load(topology).topology.name
    labdir.write_state(tmp_path / name, labdir.State(topology=str(topology),
                                                     provider="container"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(run.CHECKS), f"--halab-lab={name}",
         f"--rootdir={run.CHECKS}", "-p", "no:cacheprovider", "-o", "python_files=check_*.py",
         "-o", "addopts=", "--collect-only", "-q"],
        env={**os.environ, "HALAB_LABS_DIR": str(tmp_path)}, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [x for x in proc.stdout.splitlines() if "::" in x]


def test_verify_collects_no_check_that_does_not_apply(tmp_path: Path) -> None:
    ids = collected(tmp_path, lab_file("etcd-only"))
    assert ids and not [x for x in ids if "NOTSET" in x or "check_proxy" in x]


def test_verify_collects_the_proxy_checks_once_per_minion_where_they_apply(tmp_path: Path
                                                                           ) -> None:
    ids = collected(tmp_path, lab_file("pound-per-node"))
    proxy = [x for x in ids if "check_proxy" in x]
    assert len(proxy) == 4 and all(x.endswith(("[minion1]", "[minion2]")) for x in proxy), proxy
