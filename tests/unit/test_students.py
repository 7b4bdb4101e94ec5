"""Student labs: names, networks that never collide, host offsets, the same validation as a file.

Also `halab status --all` where it needs no libvirt (no lab, a lab and --all together, the cell
that says which VMs run).
"""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from labfiles import LABS, lab_file, loaded

from halab.cli import app as cli
from halab.config import plan, students
from halab.config.topology import LAB_NAME_RE, TopologyError, load, loads
from halab.errors import HalabError
from halab.providers.vagrant_libvirt import vagrantfile
from halab.render import files as render
from halab.session import labdir

pytestmark = pytest.mark.unit

READY = sorted(LABS.glob("*.yaml"))
NUMBERS = range(1, students.N_MAX + 1)


def networks(topo) -> list[IPv4Network]:  # noqa: ANN001
    return [topo.network.subnet, topo.network.management]


def offsets(topo) -> dict[str, int]:  # noqa: ANN001
    base = int(topo.network.subnet.network_address)
    return {h.name: int(h.ip) - base for h in topo.hosts}


# ── names ──────────────────────────────────────────────────────────────────────────────────


def test_the_name_gets_a_two_digit_student_suffix() -> None:
    assert students.lab_name("seed", 3) == "seed-s03"
    assert students.lab_name("etcd-only", students.N_MAX) == f"etcd-only-s{students.N_MAX}"


def test_every_student_name_is_a_valid_distinct_lab_name() -> None:
    names = [students.lab_name("seed", n) for n in NUMBERS]
    assert len(set(names)) == len(names)
    assert all(LAB_NAME_RE.match(n) for n in names)
    assert "seed" not in names  # student 0 is the file as written


def test_a_name_too_long_for_the_suffix_is_refused_with_the_limit() -> None:
    longest = "a" * students.MAX_BASE_NAME
    assert len(students.lab_name(longest, 40)) == 24
    with pytest.raises(HalabError) as info:
        students.lab_name(longest + "b", 3, "labs/long.yaml")
    assert "labs/long.yaml: name:" in info.value.message
    assert f"{students.MAX_BASE_NAME} characters" in (info.value.hint or "")


def test_libvirt_names_follow_from_the_lab_name() -> None:
    p = plan.build(students.derive_lab(loaded("seed"), 3).topology)
    assert p.lab == "seed-s03" and p.domain_prefix == "halab-seed-s03--"
    assert p.network_name == "halab-seed-s03"
    assert p.management_network_name == "halab-seed-s03--mgmt"
    assert {h.domain for h in p.hosts} == {f"halab-seed-s03--{h.name}" for h in p.hosts}
    assert p.etcd.token == "halab-seed-s03"


# ── numbers ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("n", [0, -1, students.N_MAX + 1, 255])
def test_a_student_number_out_of_range_is_a_clear_error(n: int) -> None:
    with pytest.raises(HalabError) as info:
        students.derive_lab(loaded("seed"), n)
    assert f"--student {n} is out of range" in info.value.message
    assert f"1–{students.N_MAX}" in info.value.message and info.value.hint


# ── networks ───────────────────────────────────────────────────────────────────────────────


def test_student_networks_follow_the_documented_scheme() -> None:
    topo = students.derive_lab(loaded("seed"), 7).topology
    assert topo.network.subnet == IPv4Network("10.150.7.0/24")
    assert topo.network.management == IPv4Network("10.151.7.0/24")


def test_no_two_student_networks_overlap_nor_any_ready_lab() -> None:
    """Students 1..N_MAX of every ready lab against each other (same number = same owner) and
    against every ready lab as written (student 0)."""
    as_written = [net for path in READY for net in networks(load(path).topology)]
    owned: dict[int, set[IPv4Network]] = {}
    for path, n in itertools.product(READY, NUMBERS):
        mine = networks(students.derive_lab(load(path), n).topology)
        owned.setdefault(n, set()).update(mine)
        for net, other in itertools.product(mine, as_written):
            assert not net.overlaps(other), f"{path.name} student {n}: {net} overlaps {other}"
    for a, b in itertools.combinations(NUMBERS, 2):
        for x, y in itertools.product(owned[a], owned[b]):
            assert not x.overlaps(y), f"student {a} {x} overlaps student {b} {y}"
    for n, nets in owned.items():  # a student's lab network never meets its management one
        lab_nets = [x for x in nets if x.subnet_of(students.LAB_BLOCK)]
        mgmt_nets = [x for x in nets if x.subnet_of(students.MANAGEMENT_BLOCK)]
        assert lab_nets and mgmt_nets and not any(
            x.overlaps(y) for x, y in itertools.product(lab_nets, mgmt_nets)), n


@settings(max_examples=60, deadline=None)
@given(st.integers(1, students.N_MAX), st.integers(1, students.N_MAX),
       st.sampled_from(["seed", "zones", "etcd-only"]), st.sampled_from(["seed", "zones",
                                                                            "etcd-only"]))
def test_any_two_students_are_disjoint(a: int, b: int, lab_a: str, lab_b: str) -> None:
    ta, tb = (students.derive_lab(loaded(x), n).topology for x, n in ((lab_a, a), (lab_b, b)))
    if a == b:
        assert ta.network == tb.network  # a number owns its networks, whatever the file
    else:
        assert not any(x.overlaps(y) for x in networks(ta) for y in networks(tb))
        assert not {h.ip for h in ta.hosts} & {h.ip for h in tb.hosts}


@pytest.mark.parametrize("path", READY, ids=lambda p: p.stem)
def test_host_offsets_are_kept(path: Path) -> None:
    source = load(path).topology
    for n in (1, 17, students.N_MAX):
        derived = students.derive_lab(load(path), n).topology
        assert offsets(derived) == offsets(source)
        assert all(h.ip in derived.network.subnet for h in derived.hosts)
        assert [h.model_dump(exclude={"ip"}) for h in derived.hosts] == \
            [h.model_dump(exclude={"ip"}) for h in source.hosts]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, students.N_MAX), st.integers(10, 99),
       st.lists(st.integers(2, 254), min_size=4, max_size=4, unique=True))
def test_any_host_numbering_keeps_its_offsets(n: int, third: int, ips: list[int]) -> None:
    text = yaml.safe_dump({
        "name": "lab", "network": {"subnet": f"192.168.{third}.0/24"},
        "kubernetes": {"enabled": False},
        "hosts": [{"name": "lb1", "role": "lb", "ip": f"192.168.{third}.{ips[0]}"}] + [
            {"name": f"master{i}", "role": "master", "ip": f"192.168.{third}.{ip}"}
            for i, ip in enumerate(ips[1:], 1)]})
    derived = students.derive_lab(loads(text, "lab.yaml"), n).topology
    assert [int(h.ip) & 0xFF for h in derived.hosts] == ips
    assert {str(h.ip).rsplit(".", 1)[0] for h in derived.hosts} == {f"10.150.{n}"}


def test_every_address_derived_from_the_hosts_follows() -> None:
    """No rendered file of student 5 of the seed lab names the seed lab's own network."""
    p = plan.build(students.derive_lab(loaded("seed"), 5).topology)
    files = render.render(p, vagrantfile.lab_files(p)).files()
    assert not [k for k, text in files.items() if "192.168.33." in text or "192.168.121." in text]
    assert "10.150.5.21" in p.etcd.initial_cluster and p.etcd.client_url.startswith(
        "https://10.150.5.11:")
    assert p.kube is not None and "10.150.5.11" in p.kube.apiserver_sans_ip
    assert str(plan.gateway(p)) == "10.150.5.1"


SMALL = """\
name: small
network: {subnet: 192.168.60.0/28, management: 192.168.61.0/26}
kubernetes: {enabled: false}
hosts:
  - {name: master1, role: master, ip: 192.168.60.5}
"""


def test_a_smaller_subnet_keeps_its_size_inside_the_students_24() -> None:
    topo = students.derive_lab(loads(SMALL, "small.yaml"), 9).topology
    assert topo.network.subnet == IPv4Network("10.150.9.0/28")
    assert topo.network.management == IPv4Network("10.151.9.0/26")
    assert topo.hosts[0].ip == IPv4Address("10.150.9.5")


BIG = """\
name: big
network: {subnet: 172.16.0.0/16, management: 172.17.0.0/24}
kubernetes: {enabled: false}
hosts:
  - {name: master1, role: master, ip: 172.16.0.21}
  - {name: master2, role: master, ip: 172.16.0.22}
  - {name: master3, role: master, ip: 172.16.1.23}
  - {name: lb1, role: lb, ip: 172.16.0.11}
"""


def test_hosts_beyond_the_students_24_are_a_clear_error() -> None:
    with pytest.raises(HalabError) as info:
        students.derive_lab(loads(BIG, "labs/big.yaml"), 3)
    msg = info.value.message
    assert msg.startswith("labs/big.yaml: hosts[2].ip: 172.16.1.23 is address 279")
    assert "too small" in msg and "10.150.3.0/24" in msg and "--student" in info.value.hint


def test_a_big_subnet_whose_hosts_fit_shrinks_to_a_24() -> None:
    fits = BIG.replace("172.16.1.23", "172.16.0.23")
    topo = students.derive_lab(loads(fits, "big.yaml"), 3).topology
    assert topo.network.subnet == IPv4Network("10.150.3.0/24")


def test_a_file_inside_the_student_blocks_is_refused() -> None:
    inside = SMALL.replace("192.168.61.0/26", "10.151.2.0/24")
    with pytest.raises(HalabError) as info:
        students.derive_lab(loads(inside, "labs/in.yaml"), 2)
    assert info.value.message.startswith("labs/in.yaml: network.management: 10.151.2.0/24")


# ── validation ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("path", READY, ids=lambda p: p.stem)
@pytest.mark.parametrize("n", [1, 2, students.N_MAX])
def test_the_derived_lab_is_valid_and_its_file_reads_back_the_same(path: Path, n: int) -> None:
    lab = students.derive_lab(load(path), n)
    assert lab.loaded.warnings == [] and lab.loaded.path == path
    again = loads(lab.text, "topology.yaml")  # what `up` saves and later commands load
    assert again.topology == lab.topology
    assert lab.topology.name == students.lab_name(load(path).topology.name, n)
    assert f"student {n}" in lab.topology.description


def test_a_derived_lab_that_would_be_invalid_is_refused_like_a_file() -> None:
    """The pod CIDR overlaps student 3's network: the same check and message as in a file."""
    text = lab_file("seed").read_text().replace("10.200.0.0/16", "10.150.0.0/16")
    with pytest.raises(TopologyError) as info:
        students.derive_lab(loads(text, "labs/mine.yaml"), 3)
    (problem,) = info.value.problems
    assert problem.file == "labs/mine.yaml (student 3)"
    assert problem.field == "kubernetes.pod_cidr" and "overlaps network.subnet" in problem.message


# ── the CLI, and finding the lab by name afterwards ───────────────────────────────────────────


@pytest.mark.parametrize("command", ["up", "render", "validate"])
def test_help_mentions_student(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert "--student N" in out and "10.150.N.0/24" in out and f"1–{students.N_MAX}" in out


def test_validate_a_student_lab(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["validate", str(lab_file("zones")), "--student", "12"]) == 0
    out = capsys.readouterr().out
    assert "lab 'zones-s12', network 10.150.12.0/24, management 10.151.12.0/24" in out
    assert "lab 'zones-s12' is valid" in out


def test_validate_an_out_of_range_student(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["validate", str(lab_file("seed")), "--student", "41"]) == 1
    assert "--student 41 is out of range" in capsys.readouterr().err


def test_render_a_student_lab(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli.main(["render", str(lab_file("etcd-only")), "--student", "4",
                     "--provider", "vm", "--out", str(out)]) == 0
    vagrantfile = (out / "Vagrantfile").read_text()
    assert "halab-etcd-only-s04" in vagrantfile and "10.151.4.0/24" in vagrantfile
    assert "10.150.4.21" in vagrantfile and "192.168.43." not in vagrantfile


def test_up_saves_the_students_topology_so_later_commands_find_that_lab(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `halab up --student 3` does before it touches libvirt (opening its lab saves the
    student's copy), then `Lab.existing` by name (as `status`, `verify` and `down` call it) once
    the state names the saved file."""
    from halab.session.choice import Asked
    from halab.session.context import Lab

    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    opened = Lab.open(str(lab_file("seed")), 3, Asked("container", creating=True))
    saved = opened.topology
    assert saved == str(tmp_path / "seed-s03" / labdir.TOPOLOGY_FILE)
    labdir.write_state(tmp_path / "seed-s03", labdir.State(topology=saved))
    found = Lab.existing("seed-s03")
    assert found.plan.lab == "seed-s03" and found.plan.subnet == "10.150.3.0/24"
    assert found.dir == tmp_path / "seed-s03"
    assert found.plan.host("master1").ip == "10.150.3.21"


# ── status --all ───────────────────────────────────────────────────────────────────────────


def test_status_all_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(["status", "--help"])
    assert "--all" in capsys.readouterr().out


def test_status_all_with_no_lab_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("HALAB_LABS_DIR", str(tmp_path))
    assert cli.main(["status", "--all"]) == 0
    assert "no lab has been brought up here" in capsys.readouterr().out


def test_status_of_a_lab_and_all_is_refused(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["status", "seed", "--all"]) == 1
    assert "not both" in capsys.readouterr().err


def test_vm_summary_says_which_vms_run_or_that_they_are_gone() -> None:
    from halab.lab.status import vm_summary

    assert vm_summary({"lb1": "running", "master1": "running"}, "x", "t.yaml") == "all running"
    assert vm_summary({"lb1": "running", "master1": "shut off"}, "x", "t.yaml") == \
        "master1 shut off"
    gone = vm_summary({"lb1": "not created", "master1": "not created"}, "seed-s03", "t.yaml")
    assert gone.startswith("hosts are gone") and "halab down seed-s03 --yes" in gone
