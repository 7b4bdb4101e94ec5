"""Lab test: boot one VM from the halab box with Vagrant + vagrant-libvirt and look inside.

Builds the box if needed (or reuses the cached one), boots it on a management network of its
own, logs in with the installation key, checks what labs rely on, then destroys the VM and
proves nothing of it is left in libvirt. Cleanup runs in a finalizer even when a check fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra

from halab import home, providers
from halab.artifacts import boxes
from halab.build import box as boxbuild
from halab.errors import HalabError
from halab.providers.vagrant_libvirt import host
from halab.providers.vagrant_libvirt import volumes as libvirt_volumes

pytestmark = pytest.mark.lab

PREFIX = "halab-boxtest-"
MGMT_NET = "halab-boxtest-mgmt"
MGMT_CIDR = "192.168.199.0/24"
PRIV_NET = "halab-boxtest-priv"
PRIV_IP = "192.168.198.10"
HOSTNAME = "boxtest"
VIRSH = ["virsh", "-c", "qemu:///system"]
UP_TIMEOUT = 900  # TCG on a busy 2-core host is slow; every wait below is bounded


def virsh(*args: str, check: bool = True) -> list[str]:
    """Run virsh; its output lines. A failing query fails the test (no silent empty list)."""
    out = subprocess.run([*VIRSH, *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        if check:
            raise AssertionError(f"virsh {' '.join(args)} failed: {out.stderr.strip()}")
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def volumes() -> set[str]:
    return set(libvirt_volumes.list_volumes())


def vagrant(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAGRANT_DEFAULT_PROVIDER": "libvirt", "VAGRANT_NO_COLOR": "1"}
    return subprocess.run(["vagrant", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, env=env)


def vagrantfile(box: str, key: Path, accel: str, console_log: Path) -> str:
    return f"""\
Vagrant.configure("2") do |config|
  config.vm.box = "{box}"
  config.vm.box_check_update = false
  config.vm.hostname = "{HOSTNAME}"
  config.vm.boot_timeout = {UP_TIMEOUT - 60}
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.ssh.insert_key = false
  config.ssh.private_key_path = "{key}"
  config.vm.network :private_network, ip: "{PRIV_IP}",
    libvirt__network_name: "{PRIV_NET}", libvirt__dhcp_enabled: false,
    libvirt__forward_mode: "none"
  config.vm.provider :libvirt do |lv|
    lv.uri = "qemu:///system"
    lv.driver = "{'kvm' if accel == 'kvm' else 'qemu'}"
    lv.cpu_mode = "custom"
    lv.cpu_model = "qemu64"
    lv.cpu_feature :name => "cx16", :policy => "disable"  # TCG's cmpxchg16b is broken
    lv.memory = 512
    lv.cpus = 1
    lv.default_prefix = "{PREFIX}"
    lv.management_network_name = "{MGMT_NET}"
    lv.management_network_address = "{MGMT_CIDR}"
    lv.graphics_type = "none"
    lv.video_type = "none"
    lv.serial :type => "file", :source => {{:path => "{console_log}"}}
  end
end
"""


class Lab:
    """The one VM of this test and everything needed to remove it again."""

    def __init__(self, workdir: Path, record: boxes.Record):
        self.workdir = workdir
        self.record = record
        self.vols_before = volumes()
        self.destroyed = False
        self.up_seconds = 0.0

    def destroy(self) -> None:
        if self.destroyed:
            return
        out = vagrant(self.workdir, "destroy", "-f", timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        self.destroyed = True
        self.drop_base_volume()

    def drop_base_volume(self) -> None:
        """vagrant-libvirt keeps the box's base volume for the next VM; remove it when this
        test uploaded it and nothing else backs onto it."""
        new = volumes() - self.vols_before
        libvirt_volumes.prune_base_volumes(self.record.box_name, only=new)

    def leftovers(self) -> list[str]:
        left = [f"domain {d}" for d in virsh("list", "--all", "--name") if d.startswith(PREFIX)]
        left += [f"network {n}" for n in virsh("net-list", "--all", "--name")
                 if n in (MGMT_NET, PRIV_NET)]
        left += [f"volume {v}" for v in volumes() - self.vols_before]
        return left

    def force_cleanup(self) -> None:
        """Last resort when `vagrant destroy` failed: remove by the names this test chose."""
        for d in virsh("list", "--all", "--name", check=False):
            if d.startswith(PREFIX):
                virsh("destroy", d, check=False)
                virsh("undefine", d, "--remove-all-storage", check=False)
        for n in (MGMT_NET, PRIV_NET):
            virsh("net-destroy", n, check=False)
            virsh("net-undefine", n, check=False)
        for v in volumes() - self.vols_before:
            if v.startswith(PREFIX):
                virsh("vol-delete", "--pool", "default", v, check=False)
        self.drop_base_volume()


# ---------------------------------------------------------------------------- failed builds

BROKEN = """\
suite: trixie
kernel: linux-image-cloud-amd64
disk_size: 4G
packages: [openssh-server, no-such-package-halab]
"""
SMALL = "suite: trixie\nkernel: linux-image-cloud-amd64\ndisk_size: 4G\npackages: [sudo]\n"


@pytest.fixture
def scratch_home(tmp_path, monkeypatch) -> Path:
    """A HALAB_HOME of its own that shares the real .deb download cache."""
    real_cache = home.home() / "cache"
    real_cache.mkdir(parents=True, exist_ok=True)
    new = tmp_path / "home"
    new.mkdir()
    (new / "cache").symlink_to(real_cache)
    monkeypatch.setenv("HALAB_HOME", str(new))
    return new


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [ln.split()[4] for ln in fh if ln.split()[4].startswith(str(path))]


def loops_on(path: Path) -> list[str]:
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True, timeout=30).stdout
    return [ln for ln in out.splitlines() if str(path) in ln]


def assert_no_trace(home_dir: Path, name: str) -> None:
    assert not list((home_dir / "boxes").glob(".build-*")), "scratch dir left behind"
    assert not (home_dir / "boxes" / name).exists(), "a half box was put in the cache"
    assert mounts_under(home_dir) == [] and loops_on(home_dir) == []


def test_failed_build_says_which_step_and_leaves_nothing(scratch_home, tmp_path):
    recipe = tmp_path / "broken.yaml"
    recipe.write_text(BROKEN)
    with pytest.raises(HalabError) as err:
        boxbuild.ensure_box(str(recipe))
    assert "debootstrap failed" in err.value.message
    assert "no-such-package-halab" in err.value.message  # the tail of its output
    assert "broken.build.log" in err.value.hint
    assert_no_trace(scratch_home, "broken")


def test_interrupted_build_leaves_nothing(scratch_home, tmp_path):
    recipe = tmp_path / "small.yaml"
    recipe.write_text(SMALL)
    proc = subprocess.Popen([sys.executable, "-m", "halab.cli", "box", "build", str(recipe)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Interrupt while debootstrap has /proc mounted inside the new rootfs.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if any(m.endswith("/rootfs/proc") for m in mounts_under(scratch_home)):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the build ended before it could be interrupted"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode != 0
    assert "✗ debootstrap trixie" in out  # says which step it was in
    assert_no_trace(scratch_home, "small")


# ---------------------------------------------------------------------------- one VM


@pytest.fixture(scope="module")
def record() -> boxes.Record:
    rec, _ = providers.ensure_box(boxes.DEFAULT_RECIPE)
    return rec


@pytest.fixture(scope="module")
def lab(record, tmp_path_factory, request) -> Lab:
    host.ensure_daemons()
    stale = [d for d in virsh("list", "--all", "--name") if d.startswith(PREFIX)]
    assert not stale, f"a previous run left {stale}; remove them with virsh first"
    accel = host.detect_accel(record.kernel, record.initrd)
    workdir = tmp_path_factory.mktemp("boxtest")
    console = workdir / "console.log"  # the VM's serial console, for post-mortems
    (workdir / "Vagrantfile").write_text(
        vagrantfile(record.box_name, home.ssh_key_path(), accel, console))
    lab = Lab(workdir, record)

    def cleanup():
        try:
            lab.destroy()
        except Exception:  # noqa: BLE001 - fall back to removing by name
            pass
        if lab.leftovers():
            lab.force_cleanup()

    request.addfinalizer(cleanup)
    start = time.monotonic()
    out = vagrant(workdir, "up", "--provider=libvirt", timeout=UP_TIMEOUT)
    lab.up_seconds = time.monotonic() - start
    if out.returncode != 0:
        tail = console.read_text(errors="replace")[-3000:] if console.exists() else "(none)"
        pytest.fail(f"vagrant up failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}\n"
                    f"--- end of the VM console ({console}):\n{tail}")
    print(f"\nvagrant up ({accel}) to SSH-ready: {lab.up_seconds:.0f}s")
    return lab


@pytest.fixture(scope="module")
def vm(lab):
    out = vagrant(lab.workdir, "ssh-config", timeout=120)
    assert out.returncode == 0, out.stderr
    cfg = lab.workdir / "ssh_config"
    cfg.write_text(out.stdout)
    assert f"IdentityFile {home.ssh_key_path()}" in out.stdout.replace('"', "")
    return testinfra.get_host(f"paramiko://default?ssh_config={cfg}&timeout=60")


def test_login_with_installation_key_only(vm):
    pub = (home.ssh_key_path().with_suffix(".pub")).read_text().split()[:2]
    keys = vm.file("/home/vagrant/.ssh/authorized_keys").content_string.split("\n")
    assert [k.split()[:2] for k in keys if k.strip()] == [pub]
    assert vm.check_output("id -un") == "vagrant"
    with vm.sudo():
        assert vm.check_output("id -u") == "0"


def test_hostname_and_network(vm):
    assert vm.check_output("hostname") == HOSTNAME
    assert vm.interface("eth0").exists
    assert PRIV_IP in vm.interface("eth1").addresses
    assert "source /etc/network/interfaces.d/*" in vm.file("/etc/network/interfaces").content_string


def test_boot_is_healthy(vm):
    deadline = time.monotonic() + 180
    state = ""
    while time.monotonic() < deadline:
        state = vm.run("systemctl is-system-running").stdout.strip()
        if state not in ("starting", "initializing"):
            break
        time.sleep(5)
    failed = vm.run("systemctl --failed --no-legend --plain").stdout
    journal = vm.run("sudo journalctl -b --no-pager -p warning | tail -40").stdout
    assert state == "running", f"system is {state}; failed units:\n{failed}\n{journal}"
    assert vm.file("/etc/ssh/ssh_host_ed25519_key").exists  # made on this VM's first boot
    # /etc/.updated is current, so first-boot ldconfig is skipped
    assert vm.check_output("systemctl show -P ConditionResult ldconfig.service") == "no"
    assert len(vm.file("/etc/machine-id").content_string.strip()) == 32
    assert "root=LABEL=root" in vm.file("/proc/cmdline").content_string
    assert " cx16 " not in vm.file("/proc/cpuinfo").content_string
    assert "Oops" not in vm.run("sudo dmesg").stdout
    print("\n" + vm.run("systemd-analyze").stdout.strip())
    print(vm.run("systemd-analyze blame --no-pager | head -8").stdout.rstrip())


def test_package_versions(vm):
    assert vm.package("etcd-server").version.startswith("3.5.")
    assert vm.package("nginx-light").is_installed
    assert vm.package("libnginx-mod-stream").is_installed
    assert vm.package("pound").version.startswith("4.")
    for pkg in ("haproxy", "keepalived", "containerd", "runc", "python3", "curl"):
        assert vm.package(pkg).is_installed, pkg


@pytest.mark.parametrize("service", ["etcd", "nginx", "pound", "haproxy", "keepalived",
                                     "containerd"])
def test_lab_services_disabled_and_stopped(vm, service):
    svc = vm.service(service)
    assert not svc.is_enabled
    assert not svc.is_running


def test_destroy_leaves_nothing(lab, vm):
    lab.destroy()
    assert lab.leftovers() == []
