"""Build a vagrant-libvirt box from a recipe, offline-style: debootstrap, a disk image, Vagrant.

Everything happens in a scratch directory beside the cache; the finished box, its rootfs and
`record.json` move into `home()/boxes/<name>/` only at the very end, so an interrupted or failed
build leaves no half box behind. Loop devices and mounts are released on every exit path, and a
failing step shows the last lines of the command that failed (the full log is kept).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from halab import home, hostlock, ui
from halab.artifacts import boxes, sshkey
from halab.artifacts.boxes import Recipe, Record
from halab.build.command import SBIN_PATH, run_captured, run_logged, tool_env
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll

MBR_CANDIDATES = (Path("/usr/lib/syslinux/mbr/mbr.bin"), Path("/usr/lib/EXTLINUX/mbr.bin"))
# tool -> Debian package that provides it (for the "make deps" hint)
TOOLS = {
    "debootstrap": "debootstrap",
    "qemu-img": "qemu-utils",
    "extlinux": "extlinux",
    "sfdisk": "fdisk",
    "mkfs.ext4": "e2fsprogs",
    "losetup": "mount",
    "mount": "mount",
    "chroot": "coreutils",
    "vagrant": "vagrant",
}
PART_OFFSET = 1024 * 1024  # the root partition starts at sector 2048
NEED_FREE_GIB = 4
CHROOT_ENV = {"PATH": SBIN_PATH, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
              "HOME": "/root"}


# ---------------------------------------------------------------------------- public API


def ensure_box(recipe_arg: str | None = None, force: bool = False) -> tuple[Record, str]:
    """Return the cached box for a recipe, building and registering it only when needed.

    The second value says what happened: "cached", "registered" (cache hit, Vagrant's copy was
    missing or stale) or "built". The cached path never runs vagrant.
    """
    recipe = boxes.load_recipe(recipe_arg)
    _, public = sshkey.ensure_keypair()
    key = boxes.cache_key(recipe.raw, boxes.builder_sources(), public)
    with _build_lock(recipe):
        record = boxes.read_record(recipe.name)
        if record is not None and record.key == key and not force:
            if boxes.registered_key(record.box_name) == key:
                return record, "cached"
            with ui.step(f"register {record.box_name} with Vagrant"):
                register(record)
            return record, "registered"
        record = build(recipe, key, public)
        return record, "built"


def _build_lock(recipe: Recipe, timeout: float = 1800, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> AbstractContextManager[None]:
    """One build of a recipe at a time (two labs may start together); others wait, bounded."""
    path = boxes.boxes_dir() / f".{recipe.name}.lock"
    return hostlock.exclusive(
        path, timeout=timeout, interval=1, clock=clock, sleep=sleep,
        on_wait=lambda: ui.info(f"waiting for another build of {recipe.box_name} to finish"),
        held_too_long=HalabError(
            f"another build of {recipe.box_name} held the lock for {timeout:.0f}s",
            f"check for a stuck `halab box build` ({path})"))


def build(recipe: Recipe, key: str, public_key: str) -> Record:
    """Build the box for `recipe` from scratch and swap it into the cache, then register it."""
    preflight(recipe)
    root = boxes.boxes_dir()
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale_builds(root)
    log = root / f"{recipe.name}.build.log"
    log.write_text(f"# halab box build {recipe.name} {dt.datetime.now().isoformat()}\n")
    ui.info(f"building box {recipe.box_name} from {recipe.source} (key {key[:12]}, log {log})")
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".build-{recipe.name}-{os.getpid()}-", dir=root))
    b = _Build(recipe, key, public_key, work, log)
    try:
        with _terminate_as_interrupt():
            b.run_all()
            record = b.finish(time.monotonic() - start)
            final = boxes.cache_dir(recipe.name)
            with ui.step(f"move the box into {final}"):
                _swap_into_place(work, final)
            record = boxes.read_record(recipe.name)
            if record is None:
                raise HalabError(f"the new box in {final} is incomplete", "run with --force")
    finally:
        b.release()
        if work.exists():
            _remove_tree(work)
    with ui.step(f"register {record.box_name} with Vagrant"):
        register(record)
    return record


def register(record: Record) -> None:
    """`vagrant box add --force` the cached .box under its stable name (version 0)."""
    log = boxes.boxes_dir() / f"{record.name}.register.log"
    run_logged(["vagrant", "box", "add", "--force", "--name", record.box_name, str(record.box)],
               log=log, timeout=600, what="vagrant box add", env=tool_env(), capture=True)
    if boxes.registered_key(record.box_name) != record.key:
        raise HalabError(
            f"vagrant box add finished but {boxes.registered_box_dir(record.box_name)} "
            "does not hold the new box",
            f"check VAGRANT_HOME and {log}",
        )


def preflight(recipe: Recipe) -> None:
    """Fail early, naming every missing tool and the fix, before any long step starts."""
    problems: list[str] = []
    if os.geteuid() != 0:
        raise HalabError("building a box needs root (debootstrap, loop devices, mount)",
                         "run `halab box build` as root (e.g. with sudo)")
    missing = missing_tools(SBIN_PATH + ":" + os.environ.get("PATH", ""))
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if not Path("/dev/loop-control").exists():
        problems.append("no loop device support (/dev/loop-control is missing)")
    for path, need in ((boxes.boxes_dir(), NEED_FREE_GIB), (boxes.vagrant_home(), 1)):
        probe = path
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free / 2**30
        if free < need:
            problems.append(f"only {free:.1f} GiB free under {path}, need {need} GiB")
    if problems:
        raise HalabError("cannot build box: " + "; ".join(problems),
                         "`make deps` installs the missing tools; free some disk for the rest")


def missing_tools(search_path: str, mbr_candidates: tuple[Path, ...] = MBR_CANDIDATES) -> list[str]:
    """The build tools not found on `search_path`, each with the Debian package to install."""
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items()
               if not shutil.which(tool, path=search_path)]
    if not any(p.is_file() for p in mbr_candidates):
        missing.append("syslinux mbr.bin (Debian package syslinux-common)")
    return missing


def _mbr_bin() -> Path | None:
    return next((p for p in MBR_CANDIDATES if p.is_file()), None)


# ---------------------------------------------------------------------------- the build


class _Build:
    """One build in `work`: the rootfs, the disk image, the .box. Holds what must be released."""

    def __init__(self, recipe: Recipe, key: str, public_key: str, work: Path, log: Path):
        self.recipe, self.key, self.public_key, self.work, self.log = (
            recipe, key, public_key, work, log)
        self.rootfs = work / "rootfs"
        self.scratch = work / "scratch"
        self.box = work / f"{recipe.name}.box"
        self.loop: str | None = None
        self.mnt: Path | None = None
        self.kernel: Path | None = None
        self.initrd: Path | None = None

    def run_all(self) -> None:
        r = self.recipe
        self.scratch.mkdir()
        with ui.step(f"debootstrap {r.suite} ({len(r.include)} packages + minbase)"):
            self.debootstrap()
        with ui.step("configure the rootfs (vagrant user, network, boot, disabled services)"):
            self.configure()
        with ui.step("check the rootfs (nginx stream, pound, haproxy, etcd)"):
            self.smoke_test()
        with ui.step("slim the rootfs (apt cache, docs, man pages, locales)"):
            self.slim()
        with ui.step(f"make the {r.disk_gib}G disk image (ext4 + extlinux)"):
            self.make_disk()
        with ui.step("compress it to qcow2 (zstd)"):
            self.to_qcow2()
        with ui.step(f"package {self.box.name}"):
            self.package()

    def run(self, cmd: list[str], what: str, timeout: float = 600,
            env: dict[str, str] | None = None, input: str | None = None) -> str:
        return run_logged(cmd, log=self.log, timeout=timeout, what=what, env=tool_env(env),
                          input=input, capture=True)

    def chroot(self, *cmd: str, what: str | None = None, timeout: float = 300) -> str:
        return self.run(["chroot", str(self.rootfs), *cmd], what=what or " ".join(cmd),
                        timeout=timeout, env=CHROOT_ENV)

    # -- steps ------------------------------------------------------------------------------

    def debootstrap(self) -> None:
        debs = home.home() / "cache" / "debs" / self.recipe.suite
        debs.mkdir(parents=True, exist_ok=True)
        # No mirror argument: debootstrap's built-in default is used.
        self.run(["debootstrap", "--variant=minbase", f"--cache-dir={debs}",
                  "--include=" + ",".join(self.recipe.include),
                  self.recipe.suite, str(self.rootfs)],
                 what="debootstrap", timeout=1500, env={"PATH": SBIN_PATH, "LC_ALL": "C"})
        _release_mounts(self.rootfs)  # debootstrap unmounts /proc etc. itself; make sure

    def configure(self) -> None:
        R = self.rootfs
        kernels = sorted((R / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise HalabError(f"no kernel in {R}/boot after debootstrap",
                             f"is '{self.recipe.kernel}' a kernel package? see {self.log}")
        self.kernel = kernels[-1]
        version = self.kernel.name.removeprefix("vmlinuz-")
        self.initrd = R / "boot" / f"initrd.img-{version}"
        if not self.initrd.is_file():
            self.chroot("update-initramfs", "-c", "-k", version, timeout=600)

        write = _writer(R)
        write("etc/hostname", "halab\n")
        write("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\thalab\n"
                           "::1\tlocalhost ip6-localhost ip6-loopback\n")
        write("etc/fstab", "LABEL=root\t/\text4\tdefaults,noatime,errors=remount-ro\t0\t1\n")
        write("etc/network/interfaces",
              "# eth0 is Vagrant's management NIC; vagrant-libvirt writes the private NICs\n"
              "# (eth1, ...) into interfaces.d itself.\n"
              "source /etc/network/interfaces.d/*\n\n"
              "auto lo\niface lo inet loopback\n\n"
              "allow-hotplug eth0\niface eth0 inet dhcp\n")
        (R / "etc/network/interfaces.d").mkdir(parents=True, exist_ok=True)
        # One machine-id per VM: empty means "generate at boot", without first-boot presets.
        write("etc/machine-id", "")
        (R / "var/lib/dbus/machine-id").unlink(missing_ok=True)
        # debootstrap copied the build host's resolver config; DHCP writes the guest's own.
        (R / "etc/resolv.conf").unlink(missing_ok=True)

        # vagrant: key-only login with the installation key, passwordless sudo
        self.chroot("useradd", "--create-home", "--shell", "/bin/bash", "--user-group",
                    "vagrant")
        write("home/vagrant/.ssh/authorized_keys", self.public_key.strip() + "\n", mode=0o600)
        (R / "home/vagrant/.ssh").chmod(0o700)
        self.chroot("chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh")
        write("etc/sudoers.d/vagrant", "vagrant ALL=(ALL) NOPASSWD: ALL\n", mode=0o440)
        write("etc/ssh/sshd_config.d/halab.conf",
              "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n"
              "HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n")
        # Host keys are made per VM on first boot, never shared through the box. No RSA key:
        # making one takes ~8 s of an emulated CPU, and every client here speaks ed25519.
        for f in (R / "etc/ssh").glob("ssh_host_*"):
            f.unlink()
        keygen = "/usr/bin/ssh-keygen -q -N '' -t {0} -f /etc/ssh/ssh_host_{0}_key"
        write("etc/systemd/system/halab-ssh-hostkeys.service",
              "[Unit]\nDescription=Generate this machine's SSH host keys\n"
              "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"
              "Before=ssh.service\n\n"
              "[Service]\nType=oneshot\n"
              f"ExecStart={keygen.format('ecdsa')}\nExecStart={keygen.format('ed25519')}\n\n"
              "[Install]\nWantedBy=ssh.service\n")
        self.chroot("systemctl", "enable", "halab-ssh-hostkeys.service")
        # Boot loader config; extlinux itself is installed onto the disk image later.
        rel = lambda p: "/" + str(p.relative_to(R))  # noqa: E731
        write("boot/extlinux/extlinux.conf",
              "DEFAULT halab\nPROMPT 0\nTIMEOUT 1\n\nLABEL halab\n"
              f"  LINUX {rel(self.kernel)}\n  INITRD {rel(self.initrd)}\n"
              f"  APPEND {boxes.KERNEL_CMDLINE}\n")
        # The lab configures these first; until then they stay off.
        if self.recipe.disabled_services:
            self.chroot("systemctl", "disable", *self.recipe.disabled_services)
        # Mark /etc and /var as up to date with /usr, so the first boot skips ldconfig.service
        # and the other ConditionNeedsUpdate= units.
        self.chroot("/usr/lib/systemd/systemd-update-done", what="systemd-update-done")
        # Later apt installs inside a VM skip docs too.
        write("etc/dpkg/dpkg.cfg.d/01-halab-nodoc",
              "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"
              "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
              "path-exclude=/usr/share/locale/*\npath-include=/usr/share/locale/locale.alias\n")

    def smoke_test(self) -> None:
        """The box must do what labs need: nginx TCP proxying (`stream {}`), pound 4, etcd."""
        conf = self.rootfs / "tmp/halab-stream-check.conf"
        conf.write_text("include /etc/nginx/modules-enabled/*.conf;\nevents {}\n"
                        "stream {\n  server {\n    listen 127.0.0.1:16443;\n"
                        "    proxy_pass 127.0.0.1:6443;\n  }\n}\n")
        try:
            self.chroot("nginx", "-t", "-c", "/tmp/halab-stream-check.conf",
                        what="nginx -t with a stream {} block")
        finally:
            conf.unlink()
        active = [u for u in self.recipe.disabled_services
                  if (self.rootfs / "etc/systemd/system/multi-user.target.wants" / _unit(u))
                  .exists()]
        if active:
            raise HalabError(f"still enabled after systemctl disable: {', '.join(active)}",
                             f"see {self.log}")

    def slim(self) -> None:
        R = self.rootfs
        for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin",
                        "var/lib/apt/lists/*_Packages", "var/lib/apt/lists/*_InRelease",
                        "var/lib/apt/lists/*_Release*", "var/cache/debconf/*-old",
                        "usr/share/man/*", "usr/share/info/*", "usr/share/lintian/*",
                        "usr/share/linda/*", "var/log/*.log", "var/log/apt/*", "tmp/*",
                        "var/tmp/*", "root/.bash_history"):
            for p in R.glob(pattern):
                _rm(p)
        for p in (R / "usr/share/doc").glob("*"):
            if p.is_dir() and not p.is_symlink():
                for q in p.iterdir():
                    if q.name != "copyright":
                        _rm(q)
            else:
                _rm(p)
        for p in (R / "usr/share/locale").glob("*"):
            if p.name != "locale.alias":
                _rm(p)

    def make_disk(self) -> None:
        raw = self.scratch / "disk.raw"
        size = self.recipe.disk_gib * 2**30
        part_bytes = size - PART_OFFSET
        with open(raw, "wb") as fh:
            fh.truncate(size)
        self.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(raw)],
                 what="sfdisk", input="label: dos\nstart=2048, type=83, bootable\n")
        # Fill the filesystem straight from the rootfs: no mount needed for the copy.
        self.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(self.rootfs),
                  "-E", f"offset={PART_OFFSET}", str(raw), f"{part_bytes // 1024}k"],
                 what="mkfs.ext4 -d", timeout=900)
        # extlinux installs onto a mounted filesystem, so mount it just for that.
        self.loop = self.run(["losetup", "--find", "--show", "--offset", str(PART_OFFSET),
                              "--sizelimit", str(part_bytes), str(raw)],
                             what="losetup").strip()
        self.mnt = self.scratch / "mnt"
        self.mnt.mkdir()
        self.run(["mount", "-t", "ext4", self.loop, str(self.mnt)], what="mount")
        self.run(["extlinux", "--install", str(self.mnt / "boot/extlinux")],
                 what="extlinux --install")
        self.release()
        mbr = _mbr_bin()
        assert mbr is not None
        with open(raw, "r+b") as fh:
            fh.write(mbr.read_bytes()[:440])

    def to_qcow2(self) -> None:
        # zstd clusters: ~5x faster to write than zlib and a little smaller (qemu >= 5.1 reads).
        self.run(["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd",
                  str(self.scratch / "disk.raw"), str(self.scratch / "box.img")],
                 what="qemu-img convert", timeout=900)
        (self.scratch / "disk.raw").unlink()

    def package(self) -> None:
        # box.img is already compressed qcow2: an uncompressed tar saves time and loses nothing.
        meta = self.scratch / "metadata.json"
        meta.write_text(json.dumps(boxes.box_metadata(self.recipe, self.key), indent=2) + "\n")
        vf = self.scratch / "Vagrantfile"
        vf.write_text(boxes.BOX_VAGRANTFILE)
        with tarfile.open(self.box, "w") as tar:
            for f in (meta, vf, self.scratch / "box.img"):
                tar.add(f, arcname=f.name)
        _rm(self.scratch)

    def finish(self, seconds: float) -> Record:
        assert self.kernel and self.initrd
        versions = {}
        out = self.chroot("dpkg-query", "-W", "-f", "${Package}\t${Version}\n",
                          *self.recipe.include, what="dpkg-query")
        for line in out.splitlines():
            name, _, version = line.partition("\t")
            versions[name] = version
        self._name_rootfs_by_key()
        record = Record(
            name=self.recipe.name, box_name=self.recipe.box_name, key=self.key, box=self.box,
            size=self.box.stat().st_size, rootfs=self.rootfs, kernel=self.kernel,
            initrd=self.initrd, built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            build_seconds=seconds, versions=versions)
        boxes.write_record(record, self.work)
        return record

    def _name_rootfs_by_key(self) -> None:
        """`rootfs-<key>`: running containers name their lower layer by path, so a rebuild
        must never put another tree at a path one of them uses (see `_swap_into_place`)."""
        assert self.kernel and self.initrd
        self.release()
        named = self.work / f"rootfs-{self.key[:12]}"
        os.rename(self.rootfs, named)
        self.kernel = named / self.kernel.relative_to(self.rootfs)
        self.initrd = named / self.initrd.relative_to(self.rootfs)
        self.rootfs = named

    def release(self) -> None:
        """Unmount and detach whatever this build holds; safe to call more than once."""
        if self.mnt is not None:
            if os.path.ismount(self.mnt):
                _quiet(["umount", str(self.mnt)]) or _quiet(["umount", "-l", str(self.mnt)])
            self.mnt = None
        if self.loop:
            _quiet(["losetup", "-d", self.loop])
            self.loop = None
        _release_mounts(self.work)


# ---------------------------------------------------------------------------- helpers


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def _writer(root: Path):
    def write(rel: str, text: str, mode: int = 0o644) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # never write through a symlink into the host
        path.write_text(text)
        path.chmod(mode)
    return write


def _rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _quiet(cmd: list[str]) -> bool:
    """True when `cmd` ran and exited 0 (its output is not shown)."""
    try:
        return run_captured(cmd, timeout=60, env={"PATH": SBIN_PATH}, check=False).returncode == 0
    except HalabError:
        return False


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt during a build, so cleanup code runs."""
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _release_mounts(path: Path, timeout: float = 30, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> None:
    """Unmount everything under `path` (deepest first) and kill processes chrooted into it;
    a mount that is still there after `timeout` seconds of tries is an error."""
    prefix = str(path.resolve())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            continue
        if root == prefix or root.startswith(prefix + "/"):
            try:
                os.kill(int(pid), signal.SIGKILL)  # a daemon our build started in the chroot
            except ProcessLookupError:
                pass

    def unmounted(why: Reason) -> bool | None:
        for point in sorted(_mounts_under(path), key=len, reverse=True):
            _quiet(["umount", point]) or _quiet(["umount", "-l", point])
        left = _mounts_under(path)
        if left:
            why(f"still mounted: {', '.join(left)}")
        return None if left else True

    try:
        poll(unmounted, timeout=timeout, interval=1, what=f"the mounts under {path} to go",
             clock=clock, sleep=sleep)
    except Timeout as exc:
        raise HalabError(f"could not unmount {exc.last.removeprefix('still mounted: ')}",
                         "unmount them by hand") from None


def _remove_tree(path: Path) -> None:
    """rmtree that first releases mounts, so it never deletes through into /proc or /dev."""
    _release_mounts(path)
    shutil.rmtree(path, ignore_errors=True)


def _clean_stale_builds(root: Path) -> None:
    """Remove scratch dirs of builds that died without cleaning up (their pid is gone)."""
    for d in root.glob(".*-*-*-*"):
        parts = d.name.split("-")
        if d.name.startswith((".build-", ".old-")) and parts[-2].isdigit():
            pid = int(parts[-2])
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                ui.info(f"removing {d} left by an interrupted build")
                _remove_tree(d)


def _swap_into_place(work: Path, final: Path, in_use: set[str] | None = None) -> None:
    """Replace `final` with `work` using renames, so a reader sees the old or the new box.

    A root filesystem that a running container has as its overlay's lower layer is kept (its
    files deleted under a running container made every command in it vanish): it moves back
    into `final` under its own name, and a later build removes it once no container uses it."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}-x")
        os.rename(final, old)
    os.rename(work, final)
    if old is None:
        return
    in_use = overlay_lower_dirs() if in_use is None else in_use
    for tree in sorted(old.glob("rootfs*")):
        if str(final / tree.name) in in_use and not (final / tree.name).exists():
            os.rename(tree, final / tree.name)
            ui.info(f"  kept {final / tree.name}: running containers use it")
    _remove_tree(old)
    current = boxes.read_record(final.name)
    for tree in final.glob("rootfs*"):
        if (current is None or tree != current.rootfs) and str(tree) not in in_use:
            _remove_tree(tree)


def overlay_lower_dirs(mounts: str | None = None) -> set[str]:
    """Every lower layer of this host's overlay mounts, as the path given when mounted."""
    if mounts is None:
        mounts = Path("/proc/self/mounts").read_text()
    found: set[str] = set()
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "overlay":
            for option in fields[3].split(","):
                if option.startswith("lowerdir="):
                    found.update(option.removeprefix("lowerdir=").split(":"))
    return found
