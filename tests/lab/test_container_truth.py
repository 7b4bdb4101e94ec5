"""The truth test of the container provider (Incus), on a copy of labs/etcd-only.yaml: `up`,
`verify`, a master's power cut seen by `status` as Incus sees it, `start`, the truth after a
killed monitor, init or incusd (and `up` bringing the lab back), and a `down` that leaves no
project, bridge, instance, process, veth or cgroup of the lab.

Containers only (PROVIDER=vm skips it). The lab has a name and subnet of its own, so it runs
beside CI's labs.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from labcli import PROVIDER, ROOT, halab, incus, status_row

from halab.config import plan
from halab.home import labs_dir

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(PROVIDER != "container", reason="Incus's own truth")]

LAB = "inc-etcd"
SUBNET = "10.231.7"
PROJECT = f"halab-{LAB}"
STATES = ("running", "shut off", "not created", "error", "paused")
BRIDGE = "hli" + hashlib.sha256(LAB.encode()).hexdigest()[:12]


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
    data.update(name=LAB, provider="container",
                network={"subnet": f"{SUBNET}.0/24", "management": "10.231.8.0/24"})
    for h in data["hosts"]:
        h["ip"] = f"{SUBNET}.{h['ip'].rsplit('.', 1)[1]}"
    path = tmp_path_factory.mktemp("truth") / f"{LAB}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def lab_up(topology: Path) -> dict[str, object]:
    started = time.monotonic()
    proc = halab("up", str(topology))
    info = {"proc": proc, "seconds": time.monotonic() - started}
    print(f"halab up of {LAB} on Incus: {info['seconds']:.1f} s")
    yield info
    if lab_objects():  # the teardown test did not run or failed
        halab("down", LAB, "--yes")


def test_up_brings_the_lab_up_in_incus(lab_up: dict) -> None:
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
    assert host_state("master1") == "shut off"


def test_diagram_live_draws_the_halted_master_and_the_leader(lab_up: dict,
                                                             tmp_path: Path) -> None:
    """`diagram --live` asks the lab as Incus runs it: master1 (halted above) drawn halted, one
    of the other masters as etcd leader."""
    proc = halab("diagram", LAB, "--live", "--out", str(tmp_path / "now.svg"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    svg = (tmp_path / "now.svg").read_text()
    assert svg.count(">halted<") >= 2, svg[:2000]  # master1, and the legend
    assert "★ etcd leader" in svg


def test_start_brings_it_back(lab_up: dict) -> None:
    proc = halab("start", "master1", "--lab", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert incus_states()[plan.machine_name(LAB, "master1")] == "Running"
    assert host_state("master1") == "running"


def test_a_reboot_from_inside_the_guest_comes_back_by_itself(lab_up: dict) -> None:
    """`sudo systemctl reboot` in master1: Incus boots it again (a new init), as a VM comes
    back, and it answers SSH again with nothing done by halab."""
    before = init_pid("master1")
    halab("ssh", "--lab", LAB, "master1", "sudo systemctl reboot", timeout=60)  # may drop
    deadline, after = time.monotonic() + 120, before
    while time.monotonic() < deadline:
        if incus_states().get(plan.machine_name(LAB, "master1")) == "Running":
            after = init_pid("master1")
            if after not in (before, 0, -1) and halab("ssh", "--lab", LAB, "master1", "true",
                                                      timeout=30).returncode == 0:
                break
        time.sleep(2)
    assert after != before, "master1 did not come back with a new init within 120 s"
    assert host_state("master1") == "running"


def processes(needle: str) -> list[int]:
    """The PIDs whose command line holds `needle`, read from /proc."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle.encode() in (proc / "cmdline").read_bytes():
                out.append(int(proc.name))
        except OSError:
            continue
    return out


def incusd_pids() -> list[int]:
    """This machine's Incus daemon: `incusd --group …` whose parent is no incusd (it forks
    helpers that keep its command line for a moment; the full suite once saw three beside it),
    in this machine's network namespace (a simulated cluster's members run in their own)."""
    found: dict[int, int] = {}
    ours = os.readlink("/proc/self/ns/net")
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
            if (args and args[0].endswith(b"/incusd") and b"--group" in args
                    and os.readlink(proc / "ns" / "net") == ours):
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(proc.name)] = int(stat[1])  # the parent's pid
        except (OSError, ValueError, IndexError):
            continue
    return sorted(pid for pid, parent in found.items() if parent not in found)


def settled(host: str, seconds: float = 30) -> str:
    """Incus's status for the host once it is no longer Running or in between (Error, while
    the monitor cleans up after a killed init)."""
    deadline = time.monotonic() + seconds
    while True:
        state = incus_states()[plan.machine_name(LAB, host)]
        if state == "Stopped" or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def init_pid(host: str) -> int:
    return next(i["state"]["pid"] for i in incus("list", "--project", PROJECT)
                if i["name"] == plan.machine_name(LAB, host))


def monitor_pid(host: str) -> int:
    """The container's `[lxc monitor]` process (its command line names project_instance)."""
    found = processes(f"[lxc monitor] /var/lib/incus/containers {PROJECT}_"
                      f"{plan.machine_name(LAB, host)}")
    assert len(found) == 1, found
    return found[0]


def gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.2)
    return False


def host_state(host: str) -> str:
    """The host's state cell in `halab status` (an LB has no zone: cells are not counted)."""
    row = status_row(halab("status", LAB).stdout, host)
    return next(c for c in row[2:] if c in STATES)


def test_a_killed_monitor_or_init_is_shut_off_with_no_process_left(lab_up: dict) -> None:
    """The truth (issue 31): kill -9 of master2's monitor, then of
    master3's init; Incus and `status` say shut off, and the container's init is gone."""
    init2 = init_pid("master2")
    os.kill(monitor_pid("master2"), signal.SIGKILL)
    assert gone(init2), f"master2's init {init2} still runs after its monitor was killed"
    init3 = init_pid("master3")
    os.kill(init3, signal.SIGKILL)
    assert gone(init3)
    assert settled("master2") == "Stopped" and settled("master3") == "Stopped"
    assert host_state("master2") == "shut off" and host_state("master3") == "shut off"


def test_up_brings_killed_hosts_back_and_verify_passes(lab_up: dict, topology: Path) -> None:
    proc = halab("up", str(topology))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(incus_states().values()) == {"Running"}
    assert halab("verify", LAB).returncode == 0


def test_incusd_killed_the_lab_runs_on_and_status_tells_the_truth(lab_up: dict,
                                                                   topology: Path) -> None:
    """incusd killed while the lab runs: its containers run on. master3 dies meanwhile, and
    its veth stays on the bridge. `status` starts incusd again and says which hosts run; `up`
    sweeps the veth, boots master3, and the lab verifies."""
    daemons = incusd_pids()
    assert len(daemons) == 1, daemons
    init3 = init_pid("master3")
    os.kill(daemons[0], signal.SIGKILL)
    assert gone(daemons[0])
    os.kill(init3, signal.SIGKILL)
    assert gone(init3)
    assert incusd_pids() == []
    assert [host_state(h) for h in ("lb1", "master1", "master2", "master3")] == \
        ["running", "running", "running", "shut off"]
    proc = halab("up", str(topology))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a veth left on the lab's bridge" in proc.stdout
    assert set(incus_states().values()) == {"Running"}
    assert halab("verify", LAB).returncode == 0


def test_down_leaves_nothing_of_the_lab_in_incus(lab_up: dict) -> None:
    proc = halab("down", LAB, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lab_objects() == []
    assert not (labs_dir() / LAB).exists()
    assert processes(f"{PROJECT}_") == []
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, timeout=30)
    assert BRIDGE not in links.stdout
    cgroups = [p for p in Path("/sys/fs/cgroup").glob(f"*/lxc.*.{PROJECT}_*")]
    assert cgroups == [], cgroups[:5]
