"""`halab doctor`'s judgements: what blocks a lab, what only warns, and the exit status."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest
from labfiles import lab_plan

from halab.config import preflight
from halab.lab import doctor

pytestmark = pytest.mark.unit


def facts(mib: int = 20000, nets: dict | None = None) -> preflight.HostFacts:
    return preflight.HostFacts(mib, 100.0, [("eth0", IPv4Network("10.0.0.0/24"))], nets or {})


def test_missing_packages_block_and_say_make_deps() -> None:
    f = doctor.packages(["vagrant-libvirt"])
    assert f.status == doctor.BLOCK and "vagrant-libvirt" in f.detail and "make deps" in f.fix
    assert doctor.packages([]).status == doctor.OK


def test_emulation_no_box_and_no_binaries_only_warn() -> None:
    p = lab_plan("seed")
    warnings = [doctor.accel("tcg"), doctor.box(p, built=False, registered=False),
                doctor.kube_binaries(p, (False, "Kubernetes v1.36.3 binaries are not in /x: "
                                                "run `halab binaries build`"))]
    assert [f.status for f in warnings] == [doctor.WARN] * 3
    assert "`halab up` does it" in warnings[2].fix and "gets them first" in warnings[2].detail
    assert doctor.accel("kvm").status == doctor.OK
    assert doctor.box(p, built=True, registered=True).status == doctor.OK


def test_resources_are_judged_like_ups_preflight() -> None:
    p = lab_plan("seed")
    ok = doctor.resources(p, facts(), running=set())
    assert [f.status for f in ok] == [doctor.OK] and "MiB of RAM needed" in ok[0].detail
    other = {"halab-other": (IPv4Network("192.168.33.0/24"), "virbr9")}
    short = doctor.resources(p, facts(mib=1000, nets=other), running=set())
    assert [f.status for f in short] == [doctor.BLOCK, doctor.BLOCK]
    assert "RAM" in short[0].detail and "halab-other" in short[1].detail


def test_the_exit_status_is_1_only_with_a_blocking_finding(capsys) -> None:  # noqa: ANN001
    p = lab_plan("seed")
    assert doctor.report(p, [doctor.accel("tcg"), doctor.packages([])]) == 0
    assert "can come up here (1 warning(s) above)" in capsys.readouterr().out
    assert doctor.report(p, [doctor.packages(["qemu-utils"])]) == 1
    out = capsys.readouterr().out
    assert "cannot come up here" in out and "fix: `make deps`" in out


def test_the_kube_tier_on_two_emulated_cores_only_warns() -> None:
    p = lab_plan("seed")
    small = doctor.capacity(p, "tcg", 2)
    assert small.status == doctor.WARN
    assert "wants 4+ cores and this host has 2" in small.detail and "3 masters" in small.detail
    assert "KVM" in small.fix and "etcd-only" in small.fix
    assert doctor.capacity(p, "tcg", 4).status == doctor.OK
    assert doctor.capacity(p, "kvm", 2).status == doctor.OK
    assert doctor.capacity(p, "tcg", 0).status == doctor.OK  # unknown: no guess
    no_kube = lab_plan("etcd-only")
    assert preflight.kube_capacity(no_kube, "tcg", 1) is None


def test_the_two_host_kube_lab_fits_two_emulated_cores_as_measured() -> None:
    """labs/vm-kube.yaml (1 master, 1 minion) passed every kube check on 2 emulated cores:
    no warning there, and the cpu line says what was measured; one core is still too few."""
    p = lab_plan("vm-kube")
    fits = doctor.capacity(p, "tcg", 2)
    assert fits.status == doctor.OK
    assert "labs/vm-kube.yaml (1 master, 1 minion) passed every kube check" in fits.detail
    assert "2 vCPUs and 2560 MiB" in fits.detail
    assert doctor.capacity(p, "tcg", 1).status == doctor.WARN


def test_doctor_on_a_kvm_host_says_the_kube_needs_are_not_measured() -> None:
    """No host of this project has working KVM: the cpu line says so, with what the lab asks."""
    said = doctor.capacity(lab_plan("seed"), "kvm", 8)
    assert said.status == doctor.OK
    assert "under KVM what a kube lab needs is not measured" in said.detail
    assert "6 vCPUs and 5632 MiB" in said.detail
    assert "not measured" not in doctor.capacity(lab_plan("etcd-only"), "kvm", 8).detail


def test_a_container_lab_names_its_engine_and_how_to_install_it() -> None:
    said = doctor.provider("container", "asked for")
    assert "Incus" in said.detail and "root on this machine" in said.detail
    assert "Incus" in doctor.daemons(True, containers=True).detail
    missing = doctor.daemons(False, "Incus is not installed", True)
    assert missing.status == doctor.BLOCK and "make deps" in missing.fix
    assert "incus-install" in missing.fix
    assert "Vagrant" in doctor.provider("vm", "KVM works").detail
