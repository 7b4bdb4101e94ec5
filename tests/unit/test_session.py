"""One session per command: each command reads its lab's topology file once (issue 30).

The commands are driven through `halab`'s own `main` up to the point where they would first
touch a host (the provider is asked for), with the lab's state in a temporary directory; `verify`
runs its checks' collection only. Every read of a topology file goes through
`topology.load` -> `topology.loads`, which is counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labfiles import lab_file

from halab import providers
from halab.cli import app
from halab.config import replicas, topology
from halab.errors import HalabError
from halab.session import choice, labdir

pytestmark = pytest.mark.unit
ETCD_ONLY = str(lab_file("etcd-only"))


class Stopped(Exception):  # noqa: N818 - not an error: where the command would touch a host
    """Raised where a command first asks for its lab's provider."""


@pytest.fixture
def reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The topology files read (each `load`), with no host: asking for a provider stops."""
    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    files: list[str] = []
    real = topology.loads

    def counted(text: str, file: str = "<topology>") -> topology.Loaded:
        files.append(file)
        return real(text, file)

    def no_host(*_: object) -> None:
        raise Stopped

    monkeypatch.setattr(topology, "loads", counted)
    monkeypatch.setattr(providers, "for_lab", no_host)
    return files


def brought_up(name: str = "etcd-only", source: str = ETCD_ONLY) -> None:
    """What `halab up` leaves: the state naming the file it read (containers: no KVM probe)."""
    labdir.write_state(labdir.lab_path(name), labdir.State(topology=source, accel="native",
                                                           provider="container"))


def added_master() -> str:
    """What `halab add-master` leaves: the lab's own copy with master4, the state naming it."""
    topo = topology.load(ETCD_ONLY).topology
    change = "add-master master4 (192.168.43.24, zone a)"
    text = replicas.lab_copy_text(replicas.with_master(topo, replicas.new_master(topo)),
                                  ETCD_ONLY, [change])
    copy = str(labdir.write_topology(labdir.lab_path("etcd-only"), text))
    labdir.write_state(labdir.lab_path("etcd-only"), labdir.State(
        topology=copy, accel="native", provider="container", joined=["master4"],
        changes=[change], origin=ETCD_ONLY))
    return copy


def collect_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`halab verify` collects its checks (the conftest plans the hosts) and runs none."""
    real = pytest.main

    def collecting(args: list[str], plugins: list[object] | None = None) -> int:
        return real([*args, "--collect-only"], plugins=plugins)

    monkeypatch.setattr(pytest, "main", collecting)


def run(argv: list[str]) -> None:
    """The command, up to where it would touch a host (`verify`: its checks collected)."""
    try:
        code = app.main(argv)
    except Stopped:
        assert argv[0] != "verify"
        return
    assert argv[0] == "verify" and code == 0, f"{argv}: exit {code} before any host"


COMMANDS = {
    "up": ["up", ETCD_ONLY, "--provider", "container"],
    "up --student N": ["up", ETCD_ONLY, "--student", "3", "--provider", "container"],
    "verify": ["verify", "etcd-only"],
    "status": ["status", "etcd-only"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_reads_its_topology_once(command: str, reads: list[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly one load per command (for `--student`, the instructor's file: the student's
    copy is derived from it in memory and saved)."""
    brought_up()
    collect_only(monkeypatch)
    reads.clear()
    run(COMMANDS[command])
    assert len(reads) == 1, reads


@pytest.mark.parametrize("command", ["up", "verify", "status"])
def test_after_add_master_only_the_labs_copy_is_read(command: str, reads: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    brought_up()
    copy = added_master()
    collect_only(monkeypatch)
    reads.clear()
    run(COMMANDS[command])
    assert reads == [copy]


def test_up_by_its_file_after_add_master_reads_only_the_copy(reads: list[str]) -> None:
    """After add-master, `up FILE` knows the lab from the file's `name:` line and reads only the
    lab's own copy."""
    brought_up()
    copy = added_master()
    reads.clear()
    run(["up", ETCD_ONLY])
    assert reads == [copy]


def test_up_refuses_another_provider_than_the_labs(reads: list[str]) -> None:
    brought_up()
    with pytest.raises(HalabError, match="was created with provider 'container', not 'vm'"):
        choice.decide("auto", "container", "native", choice.Asked("vm", creating=True),
                      "etcd-only", ETCD_ONLY)
    assert app.main(["up", ETCD_ONLY, "--provider", "vm"]) == 1


def test_render_may_plan_another_provider_and_accel() -> None:
    """`render --provider vm --accel kvm` of a container lab: its inputs win, nothing is kept."""
    got = choice.decide("auto", "container", "native", choice.Asked("vm", "kvm"), "x", "x.yaml")
    assert (got.provider, got.accel) == ("vm", "kvm")
    kept = choice.decide("auto", "vm", "kvm", choice.Asked(), "x", "x.yaml")
    assert (kept.provider, kept.why, kept.accel) == ("vm", choice.CREATED_WITH, "kvm")
