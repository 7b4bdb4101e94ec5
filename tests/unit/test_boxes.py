"""Unit tests for box recipes, cache keys, box metadata, cache records and the installation key."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import paramiko
import pytest

from halab.artifacts import boxes, sshkey
from halab.cli.app import main
from halab.errors import HalabError

pytestmark = pytest.mark.unit

GOOD = b"""\
suite: trixie
kernel: linux-image-cloud-amd64
disk_size: 8G
packages:
  - openssh-server
  - etcd-server
disabled_services:
  - etcd
  - apt-daily.timer
"""


@pytest.fixture(autouse=True)
def halab_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HALAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant.d"))
    return tmp_path / "home"


# ---------------------------------------------------------------------------- recipes


def test_shipped_default_recipe_is_valid():
    r = boxes.load_recipe()
    assert r.name == "trixie" and r.box_name == "halab/trixie"
    assert r.suite == "trixie"
    assert r.include[0] == "linux-image-cloud-amd64"
    for pkg in ("etcd-server", "nginx-light", "libnginx-mod-stream", "pound", "haproxy",
                "keepalived", "containerd", "python3", "openssh-server", "ifupdown"):
        assert pkg in r.packages
    for svc in ("etcd", "nginx", "pound", "haproxy", "keepalived", "containerd"):
        assert svc in r.disabled_services


def test_parse_good_recipe():
    r = boxes.parse_recipe(GOOD, "boxes/small.yaml")
    assert (r.name, r.suite, r.kernel, r.disk_gib) == ("small", "trixie",
                                                        "linux-image-cloud-amd64", 8)
    assert r.packages == ("openssh-server", "etcd-server")
    assert r.disabled_services == ("etcd", "apt-daily.timer")
    assert r.include == ["linux-image-cloud-amd64", "openssh-server", "etcd-server"]
    assert r.raw == GOOD


@pytest.mark.parametrize(
    "raw, expected",
    [
        (GOOD + b"mirror: somewhere\n", "boxes/small.yaml:10: field 'mirror': unknown field"),
        (GOOD.replace(b"suite: trixie\n", b""), "missing field 'suite'"),
        (GOOD.replace(b"8G", b"8GB"), "boxes/small.yaml:3: field 'disk_size': '8GB' is not"),
        (GOOD.replace(b"8G", b"2G"), "field 'disk_size': 2G is out of range"),
        (GOOD.replace(b"etcd-server\n", b"openssh-server\n"),
         "boxes/small.yaml:4: field 'packages': listed twice: openssh-server"),
        (GOOD.replace(b"etcd-server", b"Etcd Server"), "field 'packages': 'Etcd Server' is not"),
        (GOOD.replace(b"suite: trixie", b"suite: [trixie]"), "field 'suite': ['trixie'] is not"),
        (GOOD.replace(b"  - etcd\n", b"  - 'etcd;reboot'\n"), "field 'disabled_services'"),
        (b"suite: trixie\nkernel: kk\ndisk_size: 8G\npackages: []\n",
         "field 'packages': must be a non-empty list"),
        (b"- just\n- a list\n", "a recipe is a YAML mapping"),
        (b"suite: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_recipes_name_file_and_field(raw, expected):
    with pytest.raises(HalabError) as err:
        boxes.parse_recipe(raw, "boxes/small.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("boxes/small.yaml")
    assert err.value.hint


def test_bad_recipe_file_name():
    with pytest.raises(HalabError, match="recipe file name 'My Box.yaml'"):
        boxes.parse_recipe(GOOD, "boxes/My Box.yaml")


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(HalabError) as err:
        boxes.load_recipe("nosuchbox")
    assert "no box recipe named 'nosuchbox'" in err.value.message
    assert "trixie" in err.value.hint


def test_recipe_from_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_bytes(GOOD)
    assert boxes.load_recipe(str(path)).box_name == "halab/mine"
    with pytest.raises(HalabError, match="does not exist"):
        boxes.load_recipe(str(tmp_path / "absent.yaml"))


# ---------------------------------------------------------------------------- cache key

SOURCES = {"boxes.py": b"code A", "boxbuild.py": b"code B"}
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMu0 halab-installation-key"


def test_cache_key_is_stable():
    assert boxes.cache_key(GOOD, SOURCES, PUB) == boxes.cache_key(GOOD, dict(SOURCES), PUB)
    assert len(boxes.cache_key(GOOD, SOURCES, PUB)) == 64


def test_cache_key_ignores_key_comment_and_source_order():
    base = boxes.cache_key(GOOD, SOURCES, PUB)
    assert boxes.cache_key(GOOD, SOURCES, PUB.replace("halab-installation-key", "x")) == base
    assert boxes.cache_key(GOOD, dict(reversed(list(SOURCES.items()))), PUB) == base


@pytest.mark.parametrize(
    "change",
    [
        lambda r, s, p: (r + b"# a comment\n", s, p),
        lambda r, s, p: (r.replace(b"8G", b"9G"), s, p),
        lambda r, s, p: (r, {**s, "boxbuild.py": b"code B2"}, p),
        lambda r, s, p: (r, {**s, "new.py": b""}, p),
        lambda r, s, p: (r, s, p.replace("IMu0", "IMu1")),
    ],
    ids=["recipe-comment", "recipe-field", "builder-edit", "builder-file", "pubkey"],
)
def test_cache_key_changes(change):
    assert boxes.cache_key(*change(GOOD, SOURCES, PUB)) != boxes.cache_key(GOOD, SOURCES, PUB)


def test_builder_sources_cover_the_builder():
    names = set(boxes.builder_sources())
    assert names == {"boxes.py", "box.py"}


# ---------------------------------------------------------------------------- box contents


def test_box_metadata():
    r = boxes.parse_recipe(GOOD, "boxes/small.yaml")
    meta = boxes.box_metadata(r, "k" * 64)
    assert meta == {
        "provider": "libvirt",
        "format": "qcow2",
        "virtual_size": 8,
        "halab": {"recipe": "small", "suite": "trixie", "key": "k" * 64},
    }
    json.dumps(meta)  # must be JSON as it is written into the .box


def test_box_vagrantfile_disables_synced_folder_and_key_insertion():
    assert 'synced_folder ".", "/vagrant", disabled: true' in boxes.BOX_VAGRANTFILE
    assert "insert_key = false" in boxes.BOX_VAGRANTFILE


# ---------------------------------------------------------------------------- cache records


def _fake_cache(name: str, key: str) -> boxes.Record:
    base = boxes.cache_dir(name)
    (base / "rootfs/boot").mkdir(parents=True)
    (base / "rootfs/usr").mkdir()
    for rel in ("x.box", "rootfs/boot/vmlinuz-6", "rootfs/boot/initrd.img-6"):
        (base / rel).write_bytes(b"x")
    rec = boxes.Record(name=name, box_name="halab/" + name, key=key, box=base / "x.box", size=1,
                       rootfs=base / "rootfs", kernel=base / "rootfs/boot/vmlinuz-6",
                       initrd=base / "rootfs/boot/initrd.img-6", built_at="2025-01-01T00:00:00",
                       build_seconds=1.0, versions={"pound": "4.16-3"})
    boxes.write_record(rec, base)
    return rec


def test_record_roundtrip_and_rootfs_path():
    assert boxes.rootfs_path("small") is None
    assert boxes.kernel_paths("small") is None
    rec = _fake_cache("small", "a" * 64)
    assert boxes.read_record("small") == rec
    data = json.loads((boxes.cache_dir("small") / "record.json").read_text())
    assert data["rootfs"] == "rootfs" and data["box"] == "x.box"  # relative: the dir can move
    assert boxes.rootfs_path("small") == rec.rootfs
    assert boxes.kernel_paths("small") == (rec.kernel, rec.initrd)
    assert [r.name for r in boxes.list_records()] == ["small"]


def test_incomplete_cache_is_no_record():
    rec = _fake_cache("small", "a" * 64)
    rec.box.unlink()
    assert boxes.read_record("small") is None
    assert boxes.rootfs_path("small") is None


def test_registered_key_read_from_vagrant_home():
    assert boxes.registered_key("halab/small") is None
    d = boxes.registered_box_dir("halab/small")
    assert str(d).endswith("boxes/halab-VAGRANTSLASH-small/0/libvirt")
    d.mkdir(parents=True)
    r = boxes.parse_recipe(GOOD, "boxes/small.yaml")
    (d / "metadata.json").write_text(json.dumps(boxes.box_metadata(r, "b" * 64)))
    assert boxes.registered_key("halab/small") is None  # no box.img: not a usable box
    (d / "box.img").write_bytes(b"")
    assert boxes.registered_key("halab/small") == "b" * 64


# ---------------------------------------------------------------------------- ssh key


def test_keypair_is_generated_once_with_mode_0600(halab_home):
    path, public = sshkey.ensure_keypair()
    assert path == halab_home / "ssh" / "id_ed25519"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ") and public.endswith(sshkey.COMMENT)
    assert path.with_name("id_ed25519.pub").read_text().strip() == public
    # OpenSSH format that paramiko (and so Vagrant, Fabric, testinfra) can load
    loaded = paramiko.Ed25519Key.from_private_key_file(str(path))
    assert public.split()[1] == loaded.get_base64()
    again_path, again = sshkey.ensure_keypair()
    assert (again_path, again) == (path, public)


def test_missing_pub_is_restored_from_private_key():
    path, public = sshkey.ensure_keypair()
    pub = path.with_name("id_ed25519.pub")
    pub.unlink()
    assert sshkey.public_key() == public
    assert pub.read_text().strip() == public


def test_unreadable_key_is_a_clear_error():
    path, _ = sshkey.ensure_keypair()
    path.write_text("not a key")
    with pytest.raises(HalabError, match="not a readable OpenSSH private key"):
        sshkey.ensure_keypair()


# ---------------------------------------------------------------------------- preflight


def test_missing_tools_are_named_with_their_package(tmp_path):
    from halab.build.box import missing_tools

    missing = missing_tools(str(tmp_path), mbr_candidates=(tmp_path / "mbr.bin",))
    for needed in ("debootstrap (Debian package debootstrap)", "qemu-img (Debian package "
                   "qemu-utils)", "extlinux", "sfdisk (Debian package fdisk)", "mkfs.ext4",
                   "losetup", "syslinux mbr.bin (Debian package syslinux-common)"):
        assert any(m.startswith(needed) for m in missing), needed
    tool = tmp_path / "debootstrap"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "mbr.bin").write_bytes(b"\0" * 440)
    missing = missing_tools(str(tmp_path), mbr_candidates=(tmp_path / "mbr.bin",))
    assert not any(m.startswith(("debootstrap", "syslinux")) for m in missing)


# ---------------------------------------------------------------------------- CLI surface


def test_box_list_when_empty(capsys):
    assert main(["box", "list"]) == 0
    assert "no boxes cached" in capsys.readouterr().out


def test_box_build_unknown_recipe_is_an_error_not_a_traceback(capsys):
    assert main(["box", "build", "nosuchbox"]) == 1
    err = capsys.readouterr().err
    assert "no box recipe named 'nosuchbox'" in err and "Traceback" not in err


# ── a rebuild under running containers (issue 29: no lab destroyed by another action) ──────


def _built(work: Path, name: str, key: str) -> Path:
    """A finished build in `work`, its rootfs named by key as `_Build` leaves it."""
    tree = work / f"rootfs-{key[:12]}"
    (tree / "boot").mkdir(parents=True)
    (tree / "usr").mkdir()
    for rel in ("x.box", f"{tree.name}/boot/vmlinuz-6", f"{tree.name}/boot/initrd.img-6"):
        (work / rel).write_bytes(b"x")
    boxes.write_record(boxes.Record(
        name=name, box_name="halab/" + name, key=key, box=work / "x.box", size=1, rootfs=tree,
        kernel=tree / "boot/vmlinuz-6", initrd=tree / "boot/initrd.img-6",
        built_at="2026-01-01T00:00:00", build_seconds=1.0, versions={}), work)
    return tree


def test_a_rebuild_keeps_the_rootfs_a_running_container_mounts_and_drops_it_once_unused(
        ) -> None:
    """Before, a rebuild deleted the old rootfs while containers had it as their lower layer:
    every command in them vanished ("id: command not found", "sudo: a password is required")."""
    from halab.build import box

    old = _fake_cache("trixie", "a" * 64)
    (old.rootfs / "usr/bin").mkdir()
    final = boxes.cache_dir("trixie")
    work = final.with_name(".build-trixie-1-x")
    new = _built(work, "trixie", "b" * 64)
    box._swap_into_place(work, final, in_use={str(old.rootfs)})
    assert (old.rootfs / "usr/bin").is_dir()  # the running containers' layer, untouched
    assert boxes.rootfs_path("trixie") == final / new.name
    work = final.with_name(".build-trixie-2-x")
    newer = _built(work, "trixie", "c" * 64)
    box._swap_into_place(work, final, in_use=set())
    assert sorted(p.name for p in final.glob("rootfs*")) == [newer.name]


def test_overlay_lower_dirs_reads_every_lower_layer() -> None:
    from halab.build import box

    mounts = ("overlay /c/root overlay rw,lowerdir=/b/rootfs:/b/extra,upperdir=/c/u,workdir=/c/w"
              " 0 0\nproc /proc proc rw 0 0\n")
    assert box.overlay_lower_dirs(mounts) == {"/b/rootfs", "/b/extra"}
