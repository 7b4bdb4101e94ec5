"""Pinned SSH host keys (issue 29, item 4), without a host: the keys halab makes and keeps, the
known_hosts and ssh_config that pin them (read back by OpenSSH's own tools), what a container
gets before its first boot, what a VM's Vagrantfile installs (evaluated by Ruby and run), and
how Fabric/testinfra clients are told to refuse another key. The real refusal by a real sshd is
tests/lab/test_host_keys.py."""

from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest
from labfiles import lab_plan

from halab.providers import sshconfig
from halab.providers.incus import guest
from halab.providers.vagrant_libvirt import vagrantfile
from halab.remote.runner import HostKeyError, UnknownHostKey, host_key_error, pin_host_keys
from halab.render import hostkeys, pki

pytestmark = pytest.mark.unit


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed; run `make deps`"
    return found


@pytest.fixture
def store(tmp_path: Path) -> pki.PKIStore:
    return pki.PKIStore(tmp_path / "pki")


def test_each_host_gets_its_own_key_made_once_0600(store: pki.PKIStore) -> None:
    names = [h.name for h in lab_plan().hosts]
    keys, made = hostkeys.ensure(store, names)
    assert made == names
    assert len({k.public for k in keys.values()}) == len(names)
    path = hostkeys.key_path(store.directory, "master1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again, made_again = hostkeys.ensure(store, names)
    assert made_again == [] and again == keys  # kept across runs
    # OpenSSH reads the private key and derives the same public key from it.
    out = subprocess.run([tool("ssh-keygen"), "-y", "-f", str(path)], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert out.split()[:2] == keys["master1"].public.split()[:2]
    assert keys["master1"].public.startswith("ssh-ed25519 ")


def test_an_unreadable_key_is_replaced(store: pki.PKIStore) -> None:
    hostkeys.ensure(store, ["m1"])
    hostkeys.key_path(store.directory, "m1").write_text("garbage")
    _, made = hostkeys.ensure(store, ["m1"])
    assert made == ["m1"]


def test_known_hosts_pins_name_and_address_for_openssh(store: pki.PKIStore,
                                                       tmp_path: Path) -> None:
    p = lab_plan()
    keys, _ = hostkeys.ensure(store, [h.name for h in p.hosts])
    text = hostkeys.known_hosts([(h.name, h.ip) for h in p.hosts], keys)
    assert "@" not in text and len(text.splitlines()) == len(p.hosts)
    kh = tmp_path / "known_hosts"
    kh.write_text(text)
    m1 = p.host("master1")
    for who in ("master1", m1.ip):
        found = subprocess.run([tool("ssh-keygen"), "-F", who, "-f", str(kh)],
                               capture_output=True, text=True, timeout=30)
        assert found.returncode == 0 and keys["master1"].public in found.stdout


def test_ssh_config_pins_the_labs_known_hosts(tmp_path: Path) -> None:
    """OpenSSH itself reads the config (`ssh -G`): strict checking, the lab's file only."""
    p = lab_plan()
    cfg = tmp_path / "ssh_config"
    kh = sshconfig.known_hosts_path(tmp_path)
    cfg.write_text(sshconfig.render(p, Path("/k/id_ed25519"), kh))
    out = subprocess.run([tool("ssh"), "-G", "-F", str(cfg), "master1"], capture_output=True,
                         text=True, timeout=30, check=True).stdout.splitlines()
    assert "stricthostkeychecking true" in out
    assert f"userknownhostsfile {kh}" in out
    assert "globalknownhostsfile /dev/null" in out
    assert "hostkeyalias master1" in out
    assert "no" not in [line.split()[1] for line in out if line.startswith("stricthost")]


def test_a_container_gets_its_key_before_its_first_boot(store: pki.PKIStore) -> None:
    """The files pushed into the host's own disk before it first starts (`incus file push` with
    their modes), 0600 for the private key; the box's first-boot key service
    (ConditionPathExists=!…ed25519_key) then makes none."""
    p = lab_plan()
    h = p.host("master1")
    keys, _ = hostkeys.ensure(store, [h.name])
    files = guest.files(h, p, keys[h.name])
    assert files["/etc/ssh/ssh_host_ed25519_key"] == (keys[h.name].private, 0o600)
    pub, mode = files["/etc/ssh/ssh_host_ed25519_key.pub"]
    assert pub.decode().split()[:2] == keys[h.name].public.split()[:2] and mode == 0o644
    # A lab from before halab pinned host keys keeps its own.
    assert "/etc/ssh/ssh_host_ed25519_key" not in guest.files(h, p, None)


RUBY_STUB = r"""
require "json"
$provisions = {}
class Any
  def method_missing(name, *args, **kw, &blk)
    if name == :define
      $current = args[0]
      blk.call(Any.new)
    elsif name == :provision
      $provisions[$current] = [args, kw]
    elsif blk
      blk.call(Any.new, Any.new)
    end
    self
  end
  def respond_to_missing?(*) = true
end
module Vagrant
  def self.configure(_version) = yield(Any.new)
end
load ARGV[0]
puts JSON.dump($provisions)
"""


def test_a_vm_gets_its_key_from_the_vagrantfile_before_halab_logs_in(
        store: pki.PKIStore, tmp_path: Path) -> None:
    """No VM boots here in time (TCG), so: Ruby evaluates the rendered Vagrantfile with a
    stand-in for Vagrant, and the provisioner script it gives is run against a scratch /etc."""
    p = lab_plan()
    labdir = tmp_path / "lab"
    keys, _ = hostkeys.ensure(pki.PKIStore(labdir / "pki"), [h.name for h in p.hosts])
    (labdir / "Vagrantfile").write_text(vagrantfile.vagrantfile(p))
    (tmp_path / "stub.rb").write_text(RUBY_STUB)
    out = subprocess.run([tool("ruby"), str(tmp_path / "stub.rb"), str(labdir / "Vagrantfile")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    provisions = json.loads(out.stdout)
    assert sorted(provisions) == sorted(h.name for h in p.hosts)
    (name,), opts = provisions["master1"]
    assert name == "halab-hostkey" and opts["type"] == "shell"
    assert opts["upload_path"].startswith("/home/vagrant/.ssh/")  # 0700, not /tmp
    script = opts["inline"]
    assert keys["master1"].private.decode().strip() in script
    assert keys["lb1"].private.decode().strip() not in script
    # Run it against a scratch /etc/ssh, with systemctl recorded instead of run.
    etc, bin_ = tmp_path / "etc-ssh", tmp_path / "bin"
    etc.mkdir()
    bin_.mkdir()
    (bin_ / "systemctl").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/systemctl.log\n")
    (bin_ / "systemctl").chmod(0o755)
    run = tmp_path / "halab-hostkey.sh"
    run.write_text(script.replace(hostkeys.GUEST_KEY, str(etc / "ssh_host_ed25519_key")))
    done = subprocess.run(["sh", str(run)], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    key = etc / "ssh_host_ed25519_key"
    assert key.read_bytes().strip() == keys["master1"].private.strip()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub = (etc / "ssh_host_ed25519_key.pub").read_text().split()
    assert pub[:2] == keys["master1"].public.split()[:2] and pub[2] == "root@master1"
    assert (tmp_path / "systemctl.log").read_text() == "restart ssh\n"
    assert not run.exists() and not list(etc.glob("*.halab"))  # the script removed itself


def test_vagrant_up_runs_only_the_host_key_provisioner() -> None:
    import inspect

    from halab.providers.vagrant_libvirt.vagrantlab import VagrantLab

    src = inspect.getsource(VagrantLab.up)
    assert 'provision_with=["halab-hostkey"]' in src and "no_provision=True" not in src


def _pkey() -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key(
        io.StringIO(hostkeys.new_private().decode()))


def test_a_pinned_client_refuses_unknown_keys_and_loads_only_the_labs_file(
        store: pki.PKIStore, tmp_path: Path) -> None:
    keys, _ = hostkeys.ensure(store, ["master1"])
    kh = tmp_path / "known_hosts"
    kh.write_text(hostkeys.known_hosts([("master1", "10.198.7.21")], keys))
    client = paramiko.SSHClient()
    pin_host_keys(client, {"stricthostkeychecking": "yes", "userknownhostsfile": str(kh)})
    known = client._system_host_keys.lookup("10.198.7.21")  # what connect() checks
    assert known is not None and known["ssh-ed25519"].get_base64() == \
        keys["master1"].public.split()[1]
    with pytest.raises(UnknownHostKey):
        client._policy.missing_host_key(client, "10.198.7.99", _pkey())
    legacy = paramiko.SSHClient()
    pin_host_keys(legacy, {"stricthostkeychecking": "no", "userknownhostsfile": "/dev/null"})
    assert isinstance(legacy._policy, paramiko.AutoAddPolicy)


def test_a_changed_key_becomes_an_error_naming_the_host() -> None:
    got, expected = _pkey(), _pkey()
    err = host_key_error("master1", paramiko.BadHostKeyException("10.198.7.21", got, expected))
    assert isinstance(err, HostKeyError) and err.host == "master1"
    assert err.message.startswith("master1: REFUSED")
    assert "10.198.7.21" in err.message and got.fingerprint in err.message
    assert "docs/hosts.md" in (err.hint or "")
    unknown = host_key_error("lb1", UnknownHostKey("10.198.7.11", "ssh-ed25519"))
    assert isinstance(unknown, HostKeyError) and "halab up" in (unknown.hint or "")
    assert host_key_error("lb1", paramiko.SSHException("Error reading SSH protocol")) is None


def test_vm_boot_gives_vagrant_only_the_hosts_not_running(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """`vagrant up --provision-with halab-hostkey` re-installs the key on every machine it is
    given: a running VM whose key changed must be refused, not quietly re-keyed."""
    from halab.providers.vagrant_libvirt.provider import VagrantLibvirt

    p = lab_plan()
    vms = VagrantLibvirt(Path("/nonexistent"), p)
    monkeypatch.setattr(vms, "states", lambda plan: {
        h.name: "running" if h.name in ("lb1", "master2") else "shut off" for h in plan.hosts})
    given: list[list[str]] = []

    class Vagrant:
        def up(self, hosts: list[str], on_line: object) -> None:
            given.append(hosts)
    monkeypatch.setattr(vms, "_vagrant", Vagrant)
    vms.boot(None, print)
    vms.boot(["lb1"], print)
    vms.boot(["master2", "master3"], print)
    assert given == [["master1", "master3"], ["master3"]]
