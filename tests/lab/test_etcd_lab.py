"""`halab up` on labs/etcd-only.yaml with real VMs: etcd behind the LB, idempotence, verify,
the failover scenario (graceful and power-off), teardown; and, marked `ha` (make ha-test), losing a
zone and add/remove/replace of masters.

Runs the CLI as a user would and checks the VMs over SSH with testinfra. The lab is brought up
once for the module and torn down by the last test (and by the fixture if a test failed first).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from xml.etree import ElementTree

import labcli
import pytest
import testinfra
from labcli import halab
from labfiles import lab_file, lab_plan

from halab.config import plan
from halab.facts import etcd
from halab.home import labs_dir

pytestmark = pytest.mark.lab

TOPOLOGY = lab_file("etcd-only")
LAB = "etcd-only"


def lab_objects() -> list[str]:
    return labcli.lab_objects(LAB)


def host(name: str) -> testinfra.host.Host:
    return labcli.host(LAB, name)


@pytest.fixture(scope="module")
def lab_up() -> dict[str, object]:
    started = time.monotonic()
    proc = halab("up", str(TOPOLOGY))
    info = {"proc": proc, "seconds": time.monotonic() - started}
    yield info
    if lab_objects():  # the teardown test did not run or failed
        halab("down", LAB, "--yes")


@pytest.fixture(scope="module")
def p() -> plan.Plan:
    return lab_plan("etcd-only")


def test_up_brings_the_lab_up(lab_up: dict) -> None:
    proc = lab_up["proc"]
    assert proc.returncode == 0, proc.stderr
    assert "etcd: 3 members healthy" in proc.stdout
    assert "etcd answers through nginx" in proc.stdout


@pytest.mark.skipif(labcli.PROVIDER != "container", reason="a limit only containers share")
def test_containers_left_root_inotify_room_for_forty_containers(lab_up: dict) -> None:
    """Privileged containers share root's inotify instances (about 5 each at boot): `up` keeps
    the host's limit at 1024 or more, so 40 student containers boot (128 stopped at 25)."""
    limit = Path("/proc/sys/fs/inotify/max_user_instances").read_text()
    assert int(limit) >= 1024, limit


def test_every_master_runs_etcd_enabled(lab_up: dict, p: plan.Plan) -> None:
    for m in p.masters:
        svc = host(m.name).service("etcd")
        assert svc.is_running and svc.is_enabled, m.name


def test_etcd_answers_through_the_lb_with_a_client_certificate(lab_up: dict, p: plan.Plan
                                                               ) -> None:
    lb = host("lb1")
    health = lb.run(etcd.curl_health(p, p.etcd.client_url))
    assert health.rc == 0 and '"health":"true"' in health.stdout.replace(" ", "")
    grpc = lb.run(etcd.etcdctl(p, "endpoint health", p.etcd.client_url))
    assert grpc.rc == 0 and "is healthy" in grpc.stdout + grpc.stderr


def test_a_client_without_a_certificate_is_refused(lab_up: dict, p: plan.Plan) -> None:
    lb = host("lb1")
    url = p.etcd.client_url + "/health"
    no_cert = lb.run(f"curl -sS --max-time 5 --cacert /etc/halab/pki/etcd-ca.crt {url}")
    assert no_cert.rc != 0, no_cert.stdout
    assert '"health":"true"' not in no_cert.stdout
    ctl = lb.run(f"ETCDCTL_API=3 etcdctl --endpoints={p.etcd.client_url} "
                 "--cacert=/etc/halab/pki/etcd-ca.crt --dial-timeout=3s --command-timeout=5s "
                 "put refused yes")
    assert ctl.rc != 0


def test_a_key_put_on_master1_is_read_on_master3(lab_up: dict, p: plan.Plan) -> None:
    """The seeds' `etcdctl set foo bar` on one node, `get foo` on another."""
    value = f"bar-{int(time.time())}"
    put = host("master1").run(etcd.etcdctl(p, f"put foo {value}", "https://127.0.0.1:2379"))
    assert put.rc == 0 and "OK" in put.stdout
    got = host("master3").run(etcd.etcdctl(p, "get foo --print-value-only",
                                           "https://127.0.0.1:2379"))
    assert got.rc == 0 and got.stdout.strip() == value


def test_second_up_changes_nothing(lab_up: dict) -> None:
    started = time.monotonic()
    proc = halab("up", str(TOPOLOGY))
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"is up\S* — (\d+) changes?", proc.stdout)
    assert m and m.group(1) == "0", proc.stdout
    print(f"second up took {took:.1f}s")
    assert took <= 60  # the target (≤ 30 s) is measured by bench/lab_up; this catches regressions


def test_status_shows_one_leader_and_the_lb_backends(lab_up: dict) -> None:
    proc = halab("status", LAB)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("leader") == 1
    assert "master1, master2, master3" in proc.stdout


def test_verify_passes_with_one_line_per_check_and_junit_xml(lab_up: dict, tmp_path: Path
                                                             ) -> None:
    junit = tmp_path / "verify.xml"
    proc = halab("verify", LAB, "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"✓ etcd\s+master3\s+member list matches the topology", proc.stdout)
    assert re.search(r"✓ lb\s+lb1\s+its config names exactly the topology's masters",
                     proc.stdout)
    assert re.search(r"\d+ passed, 0 failed, \d+ skipped", proc.stdout)
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", 0)) >= 20
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def test_verify_fails_and_names_the_host_when_etcd_stops(lab_up: dict) -> None:
    master3 = host("master3")
    master3.run("systemctl stop etcd")
    try:
        proc = halab("verify", LAB)
    finally:
        master3.run("systemctl start etcd")
    assert proc.returncode == 1, proc.stdout
    assert re.search(r"✗ etcd\s+master3\s+etcd is active and enabled", proc.stdout)
    assert re.search(r"\d+ passed, [1-9]\d* failed", proc.stdout)
    again = halab("up", str(TOPOLOGY))  # waits for the three members to be healthy again
    assert again.returncode == 0 and "etcd: 3 members healthy" in again.stdout, again.stdout


# The power-off case runs in `make test`; the graceful one, which reboots a master too, in
# `make ha-test`, to keep CI within 45 minutes.
@pytest.mark.parametrize("hard", [pytest.param(False, marks=pytest.mark.ha), True],
                         ids=["graceful", "power-off"])
def test_failover_scenario_halts_the_leader_and_loses_no_write(lab_up: dict, hard: bool
                                                               ) -> None:
    """The seeds' story as an assertion: halt the leader, a new one within 2 × the election
    timeout, every acknowledged write still there, then 3 healthy members again."""
    proc = halab("verify", LAB, "--scenario", "failover", *(["--hard"] if hard else []))
    assert proc.returncode == 0, proc.stdout
    assert "5 of 5 verdicts hold" in proc.stdout
    m = re.search(r"writes: \d+ sent, (\d+) acknowledged, (\d+) of them found afterwards, "
                  r"0 lost", proc.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) > 0, proc.stdout
    assert re.search(r"new leader master\d [\d.]+s after", proc.stdout)
    assert re.search(r"rejoined and caught up [\d.]+s after boot", proc.stdout)


@pytest.mark.ha
def test_losing_a_zone_keeps_quorum_and_start_brings_it_back(lab_up: dict) -> None:
    """`halt --zone b` halts master2 (zone b) and says etcd keeps 2 of 3; the member list
    shows it unreachable; `start --zone b` waits for 3 healthy members."""
    proc = halab("halt", "--lab", LAB, "--zone", "b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd keeps 2 of 3 members (quorum 2)" in proc.stdout
    assert "2 members healthy without the halted ones" in proc.stdout, proc.stdout
    assert re.search(r"master2\s+\S+\s+unreachable", proc.stdout), proc.stdout
    assert labcli.machine_state(labcli.machine(LAB, "master2")) == "shut off"
    assert labcli.machine_state(labcli.machine(LAB, "master1")) == "running"
    proc = halab("start", "--lab", LAB, "--zone", "b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd: 3 members healthy" in proc.stdout


# ── fault drills (issue 17): partition, netem, backup/restore and their scenarios ──────────


def connect_ms(src: str, ip: str, port: int = 2379) -> float:
    """One TCP handshake from `src` to ip:port, in milliseconds (a round trip), timed inside one
    bash so process start-up under emulation does not count; -1 if it did not connect in 3 s."""
    r = host(src).run(f"timeout 3 bash -c 's=$EPOCHREALTIME; exec 3<>/dev/tcp/{ip}/{port} && "
                      "echo $s $EPOCHREALTIME'")
    times = r.stdout.split()
    return (float(times[1]) - float(times[0])) * 1000 if r.rc == 0 and len(times) == 2 else -1.0


@pytest.mark.ha
def test_partition_cuts_a_host_off_both_ways_and_heal_removes_every_rule(lab_up: dict) -> None:
    proc = halab("partition", "--lab", LAB, "master2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "master2 cut off from lb1, master1, master3" in proc.stdout
    assert connect_ms("master1", "192.168.43.22") < 0 and connect_ms("master2", "192.168.43.21") < 0
    assert connect_ms("master1", "192.168.43.23") >= 0  # the others still talk
    assert host("master2").run("true").rc == 0  # this host still reaches it
    status = halab("status", LAB)
    assert re.search(r"master2\W.*lb1, master1, master3", status.stdout), status.stdout
    assert "`halab heal` removes it" in status.stdout
    healed = halab("heal", "--lab", LAB)
    assert healed.returncode == 0 and "from 4 hosts" in healed.stdout, healed.stdout
    for name in ("lb1", "master1", "master2", "master3"):
        rules = host(name).run("iptables -w -S")
        assert "HALAB" not in rules.stdout and rules.rc == 0
    assert connect_ms("master1", "192.168.43.22") >= 0
    again = halab("up", str(TOPOLOGY))  # waits until the three members are healthy again
    assert again.returncode == 0 and "etcd: 3 members healthy" in again.stdout, again.stdout


# In `make ha-test`, not `make test`: the new-leader verdict's 2 × election timeout is the edge
# of etcd's randomised timeout (measured 5.9-8.9 s against 10 s), too close for CI to gate on.
@pytest.mark.ha
def test_partition_scenario_isolates_the_leader_and_loses_no_write(lab_up: dict) -> None:
    proc = halab("verify", LAB, "--scenario", "partition")
    assert proc.returncode == 0, proc.stdout
    assert "5 of 5 verdicts hold" in proc.stdout
    assert re.search(r"client error window through the LB: [\d.]+s", proc.stdout)
    assert "HALAB" not in host("master1").run("iptables -w -S").stdout


@pytest.mark.ha
def test_netem_slows_only_the_links_between_zone_b_and_the_other_zones(lab_up: dict) -> None:
    proc = halab("netem", "--lab", LAB, "--zone", "b", "--delay", "100ms")
    if labcli.PROVIDER == "container":  # this host's kernel, which containers share, has no netem
        assert proc.returncode != 0 and "share this host's kernel" in proc.stderr, proc.stderr
        assert "--provider vm" in proc.stderr
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert connect_ms("master1", "192.168.43.22") >= 190  # zone a → b: 100 ms each way
    assert 0 <= connect_ms("master1", "192.168.43.23") < 100  # zone a → c: not shaped
    assert 0 <= connect_ms("lb1", "192.168.43.22") < 100  # lb1 has no zone: not shaped
    cleared = halab("netem", "--lab", LAB, "--clear")
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert 0 <= connect_ms("master1", "192.168.43.22") < 100
    assert "1a1a" not in host("master2").run("tc qdisc show dev eth1").stdout


@pytest.mark.ha
def test_slow_zone_scenario_measures_latency_and_keeps_quorum(lab_up: dict) -> None:
    proc = halab("verify", LAB, "--scenario", "slow-zone")
    if labcli.PROVIDER == "container":
        assert proc.returncode != 0, proc.stdout
        assert "share this host's kernel" in proc.stdout + proc.stderr
        return
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"with \+100 ms: write p50 \d+ ms, p99 \d+ ms", proc.stdout)
    assert re.search(r"without: write p50 \d+ ms", proc.stdout)
    assert "2 of 2 verdicts hold" in proc.stdout
    assert "1a1a" not in host("master2").run("tc qdisc show dev eth1").stdout


@pytest.mark.ha
def test_backup_saves_a_checked_snapshot_and_restore_refuses_a_bad_one(lab_up: dict,
                                                                      tmp_path: Path) -> None:
    proc = halab("backup", "--lab", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"(\S+/backups/\d{8}-\d{6}\.db): revision (\d+), (\d+) keys", proc.stdout)
    assert m and int(m.group(2)) > 0, proc.stdout
    saved = Path(m.group(1))
    assert saved.stat().st_size > 0 and saved.stat().st_mode & 0o077 == 0
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a snapshot" * 100)
    refused = halab("restore", "--lab", LAB, str(bad), "--yes")
    assert refused.returncode == 1
    assert "does not verify" in refused.stdout + refused.stderr
    assert "nothing was stopped" in refused.stdout + refused.stderr
    assert all(host(m).service("etcd").is_running for m in ("master1", "master2", "master3"))


@pytest.mark.ha
def test_quorum_loss_scenario_recovers_from_the_backup(lab_up: dict) -> None:
    proc = halab("verify", LAB, "--scenario", "quorum-loss")
    assert proc.returncode == 0, proc.stdout
    assert "6 of 6 verdicts hold" in proc.stdout
    assert re.search(r"writes failed [\d.]+s after the power-off", proc.stdout)
    assert re.search(r"etcd restored from revision \d+ on 3 members", proc.stdout)


def members(via: str = "master1") -> dict[str, str]:
    """etcd's member list, name → hex ID, asked on a master with etcdctl."""
    out = host(via).check_output(etcd.etcdctl(lab_plan("etcd-only"),
                                              "member list -w json"))
    return {m.name: m.hex_id for m in etcd.parse_member_list(out)}


def agrees(names: list[str]) -> None:
    """etcd's members, the LB's backends and `halab verify` all say `names`."""
    assert sorted(members()) == sorted(names)
    conf = host("lb1").file("/etc/nginx/nginx.conf").content_string
    ips = {f"192.168.43.{20 + int(n[-1])}:2379" for n in names}
    assert set(re.findall(r"server (192\.168\.43\.\d+:2379)", conf)) == ips
    proc = halab("verify", LAB)
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"✓ etcd\s+master1\s+member list matches the topology", proc.stdout)


@pytest.mark.ha
def test_add_master_joins_etcd_the_lb_and_the_topology(lab_up: dict) -> None:
    proc = halab("add-master", "--lab", LAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd member add master4 --peer-urls=https://192.168.43.24:2380" in proc.stdout
    assert "etcd: 4 members healthy" in proc.stdout
    copy = labs_dir() / LAB / "topology.yaml"
    assert "master4" in copy.read_text() and "master4" not in TOPOLOGY.read_text()
    agrees(["master1", "master2", "master3", "master4"])
    status = halab("status", LAB)
    assert re.search(r"master4\W+master\W+a\W+running\W+192\.168\.43\.24", status.stdout), \
        status.stdout


@pytest.mark.ha
def test_after_a_change_the_original_file_means_the_changed_lab(lab_up: dict) -> None:
    """Issue 19's steps, each given labs/etcd-only.yaml: after add-master (above) the lab has 5
    VMs and 4 members, so replace works on 4 masters and the cold restart halts all 5 VMs and
    judges 4 members. Before the fix the file's 3 masters were used, master4 stayed up, and
    the cold restart passed while it had halted 4 of 5 VMs."""
    file = str(TOPOLOGY)
    replaced = halab("replace", "--lab", file, "master2")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    cold = halab("verify", file, "--scenario", "cold-restart")
    assert "halt all 5 hosts at once" in cold.stdout, cold.stdout
    assert re.search(r"✓ every host was off \(guest shutdown\)\W+5 hosts off in", cold.stdout)
    assert re.search(r"✓ etcd has quorum: 4 healthy members and one leader", cold.stdout)
    assert cold.returncode == 0, cold.stdout
    assert "etcd: 4 members healthy" in replaced.stdout
    assert "its own copy" in replaced.stdout + replaced.stderr
    assert sorted(members()) == ["master1", "master2", "master3", "master4"]
    status = halab("status", file)
    assert re.search(r"master4\W+master\W+a\W+running\W+192\.168\.43\.24", status.stdout), \
        status.stdout
    assert "its own copy" in status.stdout + status.stderr
    ssh = halab("ssh", "--lab", file, "master4", "hostname")
    assert ssh.returncode == 0 and "master4" in ssh.stdout, ssh.stdout + ssh.stderr


@pytest.mark.ha
def test_remove_master_refuses_to_leave_two_and_removes_the_fourth(lab_up: dict) -> None:
    proc = halab("remove-master", "--lab", LAB, "master4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd: 3 members healthy" in proc.stdout
    assert labcli.lab_objects(LAB) and labcli.machine(LAB, "master4") not in labcli.virsh_names()
    agrees(["master1", "master2", "master3"])
    refused = halab("remove-master", "--lab", LAB, "master2")
    assert refused.returncode == 1 and "would leave 2 masters" in refused.stderr + refused.stdout
    assert sorted(members()) == ["master1", "master2", "master3"]


@pytest.mark.ha
def test_replace_rebuilds_a_master_as_a_fresh_member(lab_up: dict) -> None:
    before = members()
    proc = halab("replace", "--lab", LAB, "master2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "etcd member add master2" in proc.stdout and "etcd: 3 members healthy" in proc.stdout
    after = members()
    assert sorted(after) == ["master1", "master2", "master3"]
    assert after["master2"] != before["master2"] and after["master1"] == before["master1"]
    agrees(["master1", "master2", "master3"])
    second = halab("up", str(TOPOLOGY))  # the lab's copy is read, and nothing changes
    assert second.returncode == 0 and "its own copy" in second.stderr + second.stdout
    assert re.search(r"is up\S* — 0 changes", second.stdout), second.stdout


def test_down_leaves_nothing_of_the_lab(lab_up: dict) -> None:
    assert lab_objects(), "the lab should exist before teardown"
    proc = halab("down", LAB, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lab_objects() == []
    assert not (labs_dir() / LAB).exists()
