"""The incus provider on a copy of labs/etcd-only.yaml (issue 31, first phase): `up`, `verify`,
a master's power cut seen by `status` as Incus sees it, `start`, and a `down` that leaves no
project, bridge or instance of the lab in Incus.

Marked `incus` (needs `make incus`; `pytest -m incus`), beside the nspawn lab tests. The lab
has a name and subnet of its own, so it runs beside CI's labs.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from labcli import ROOT, halab, status_row

from halab.config import plan
from halab.home import labs_dir

pytestmark = [pytest.mark.lab, pytest.mark.incus]

LAB = "inc-etcd"
SUBNET = "10.231.7"
PROJECT = f"halab-{LAB}"


def incus(*args: str) -> list[dict]:
    return json.loads(subprocess.run(["incus", *args, "--format", "json"], capture_output=True,
                                     text=True, timeout=60, check=True).stdout or "[]")


def incus_states() -> dict[str, str]:
    """Each instance of the lab's project and its status, as Incus says ({} without one)."""
    if PROJECT not in {p["name"] for p in incus("project", "list")}:
        return {}
    return {i["name"]: i["status"] for i in incus("list", "--project", PROJECT)}


def lab_objects() -> list[str]:
    """The lab's project, its bridge (by the lab it says it belongs to) and every instance of
    its machine names in any project, as Incus lists them."""
    found = [p["name"] for p in incus("project", "list") if p["name"] == PROJECT]
    found += [n["name"] for n in incus("network", "list")
              if (n.get("config") or {}).get("user.halab.lab") == LAB]
    found += [i["name"] for i in incus("list", "--all-projects")
              if i["name"].startswith(plan.machine_prefix(LAB))]
    return found


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load((ROOT / "labs" / "etcd-only.yaml").read_text())
    data.update(name=LAB, provider="incus",
                network={"subnet": f"{SUBNET}.0/24", "management": "10.231.8.0/24"})
    for h in data["hosts"]:
        h["ip"] = f"{SUBNET}.{h['ip'].rsplit('.', 1)[1]}"
    path = tmp_path_factory.mktemp("incus") / f"{LAB}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def lab_up(topology: Path) -> dict[str, object]:
    started = time.monotonic()
    proc = halab("up", str(topology), "--provider", "incus")
    info = {"proc": proc, "seconds": time.monotonic() - started}
    print(f"halab up of {LAB} on Incus: {info['seconds']:.1f} s")
    yield info
    if lab_objects():  # the teardown test did not run or failed
        halab("down", LAB, "--yes")


def test_up_brings_the_lab_up_on_incus(lab_up: dict) -> None:
    proc = lab_up["proc"]
    assert proc.returncode == 0, proc.stderr
    assert "etcd: 3 members healthy" in proc.stdout
    states = incus_states()
    assert sorted(states) == sorted(plan.machine_name(LAB, h)
                                    for h in ("lb1", "master1", "master2", "master3"))
    assert set(states.values()) == {"Running"}, states


def test_the_bridge_has_no_nat_dhcp_dns_or_firewall(lab_up: dict) -> None:
    nets = [n for n in incus("network", "list")
            if (n.get("config") or {}).get("user.halab.lab") == LAB]
    assert len(nets) == 1 and nets[0]["managed"], nets
    cfg = nets[0]["config"]
    assert cfg["ipv4.address"] == f"{SUBNET}.1/24"
    for key, value in {"ipv4.nat": "false", "ipv4.dhcp": "false", "ipv4.firewall": "false",
                       "ipv4.routing": "false", "ipv6.address": "none",
                       "dns.mode": "none"}.items():
        assert cfg.get(key) == value, (key, cfg)


def test_verify_passes(lab_up: dict) -> None:
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout


def test_a_hard_halt_is_shut_off_in_incus_and_in_status(lab_up: dict) -> None:
    proc = halab("halt", "master1", "--hard", "--lab", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert incus_states()[plan.machine_name(LAB, "master1")] == "Stopped"
    status = halab("status", LAB)
    assert status_row(status.stdout, "master1")[3] == "shut off", status.stdout


def test_start_brings_it_back(lab_up: dict) -> None:
    proc = halab("start", "master1", "--lab", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert incus_states()[plan.machine_name(LAB, "master1")] == "Running"
    status = halab("status", LAB)
    assert status_row(status.stdout, "master1")[3] == "running", status.stdout


def test_down_leaves_nothing_of_the_lab_in_incus(lab_up: dict) -> None:
    proc = halab("down", LAB, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lab_objects() == []
    assert not (labs_dir() / LAB).exists()
