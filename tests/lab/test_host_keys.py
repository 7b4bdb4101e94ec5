"""Pinned SSH host keys on real hosts (issue 29, item 4): the key a host presents is the one
halab made for it and wrote in the lab's known_hosts; when a host's key is changed behind
halab's back, `halab status` and `halab ssh` refuse it and name the host; halting the container
and `halab up` put halab's key back (the recovery docs/hosts.md gives).

A small lab of its own (`hostkeys`: one LB, one master, etcd only), under two minutes here.
"""

from __future__ import annotations

import subprocess

import paramiko
import pytest
from labcli import PROVIDER, halab, host, lab_objects, small_topology

from halab.home import labs_dir

pytestmark = pytest.mark.lab

LAB = "hostkeys"
TOPOLOGY = small_topology("hostkeys", "10.198.7",
                          "one LB and one etcd master, for halab's pinned host key test")
ADDRESSES = {"lb1": "10.198.7.11", "master1": "10.198.7.21"}
REKEY = ("sudo sh -c 'rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub "
         "&& ssh-keygen -q -N \"\" -t ed25519 -f /etc/ssh/ssh_host_ed25519_key "
         "&& systemctl restart ssh'")


def pinned() -> dict[str, str]:
    """host → the ed25519 key (base64) the lab's known_hosts pins for it."""
    out = {}
    for line in (labs_dir() / LAB / "known_hosts").read_text().splitlines():
        names, kind, key = line.split()[:3]
        assert kind == "ssh-ed25519"
        out[names.split(",")[0]] = key
    return out


def presented(name: str) -> str:
    """The ed25519 key the host's sshd presents now, read with ssh-keyscan (its lab address
    only)."""
    out = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-T", "10", ADDRESSES[name]],
                         capture_output=True, text=True, timeout=30).stdout
    keys = [line.split()[2] for line in out.splitlines() if not line.startswith("#")]
    assert len(keys) == 1, out
    return keys[0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("hostkeys") / "hostkeys.yaml"
    path.write_text(TOPOLOGY)
    up = halab("up", str(path))
    try:
        yield path, up
    finally:
        if lab_objects(LAB) or (labs_dir() / LAB).exists():
            halab("down", LAB, "--yes")


def test_a_host_with_a_changed_key_is_refused_and_named(lab) -> None:
    path, up = lab
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr
    assert "SSH host keys: 2 made" in up.stdout
    status = halab("status", LAB)
    assert status.returncode == 0, status.stderr
    keys = pinned()
    assert sorted(keys) == ["lb1", "master1"]
    for name in keys:  # what each host really presents is what halab pinned
        assert presented(name) == keys[name], name
    config = (labs_dir() / LAB / "ssh_config").read_text()
    assert "StrictHostKeyChecking yes" in config and "StrictHostKeyChecking no" not in config
    assert host(LAB, "master1").run("true").rc == 0  # testinfra, as `halab verify` uses it

    # Behind halab's back: master1 gets a new host key.
    rekey = halab("ssh", "--lab", LAB, "master1", REKEY, timeout=120)
    assert rekey.returncode == 0, rekey.stderr
    assert presented("master1") != keys["master1"]

    status = halab("status", LAB, timeout=120)
    assert status.returncode != 0
    said = status.stdout + status.stderr
    assert "master1: REFUSED" in said and "another SSH host key" in said, said
    assert "Traceback" not in said
    ssh = halab("ssh", "--lab", LAB, "master1", "true", timeout=120)
    assert ssh.returncode == 255
    assert "Host key for master1 has changed" in ssh.stderr, ssh.stderr
    assert "Host key verification failed" in ssh.stderr
    with pytest.raises(paramiko.BadHostKeyException):  # testinfra refuses it too
        host(LAB, "master1").run("true")
    assert presented("lb1") == keys["lb1"]  # the other host is left as it was

    if PROVIDER == "container":  # the recovery docs/hosts.md gives for a container
        assert halab("halt", "--lab", LAB, "master1", timeout=120).returncode == 0
        again = halab("up", str(path))
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr
        assert presented("master1") == keys["master1"] == pinned()["master1"]
        assert halab("status", LAB).returncode == 0

    down = halab("down", LAB, "--yes")
    assert down.returncode == 0, down.stderr
    assert lab_objects(LAB) == []
