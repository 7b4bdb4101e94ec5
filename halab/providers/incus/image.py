"""The box's root filesystem as an Incus image, imported once per box and cache key.

A "unified" image tarball (metadata.yaml beside rootfs/), uncompressed: tar of the 570 MB
rootfs takes seconds where gzip took 27 s, and the tarball is removed once Incus has it.
"""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from halab import home
from halab.errors import HalabError
from halab.providers.incus import client, config, names

if TYPE_CHECKING:
    from halab.artifacts.boxes import Record

IMPORT_TIMEOUT = 600  # s: tar and import of the box's rootfs (about 10 s here, unloaded)


def work_dir() -> Path:
    d = home.home() / "incus"
    d.mkdir(parents=True, exist_ok=True)
    return d


def box_record(box: str) -> Record:
    """The cached box, built first when it is missing (as the VMs' box is)."""
    from halab.artifacts import boxes

    record = boxes.read_record(box)
    if record is None or boxes.rootfs_path(box) is None:
        from halab.providers.vagrant_libvirt.box import ensure_box

        ensure_box(box)
        record = boxes.read_record(box)
    if record is None or boxes.rootfs_path(box) is None:
        raise HalabError(f"box {box!r} was built but has no rootfs",
                         f"rebuild it: `halab box build --force {box}`")
    return record


def ensure(box: str) -> tuple[str, str]:
    """(the image's alias, "cached" or "imported in N s"): under a lock, so that labs brought up
    at once import it once."""
    record = box_record(box)
    alias = names.image_alias(box, record.key)
    with open(work_dir() / "image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if client.exists("image", "show", alias):
            return alias, "cached"
        start = time.monotonic()
        _import(record.rootfs, box, record.key, alias)
    return alias, f"imported in {time.monotonic() - start:.1f} s"


def _import(rootfs: Path, box: str, key: str, alias: str) -> None:
    with tempfile.TemporaryDirectory(dir=work_dir()) as tmp:
        meta = Path(tmp) / "metadata.yaml"
        meta.write_text(config.image_metadata(box, key, int(time.time())))
        tarball = Path(tmp) / "image.tar"
        # rootfs-<key>/ becomes rootfs/; symlink targets are left as they are (flag S).
        proc = subprocess.run(
            ["tar", "-cf", str(tarball), "--xattrs", "--numeric-owner", "-C", tmp,
             "metadata.yaml", "-C", str(rootfs.parent), "--transform",
             f"s,^{rootfs.name},rootfs,S", rootfs.name],
            capture_output=True, text=True, timeout=IMPORT_TIMEOUT)
        if proc.returncode != 0:
            raise HalabError(f"packing box {box!r} for Incus failed: {proc.stderr.strip()[-400:]}",
                             f"check the free space under {work_dir()}")
        client.run("image", "import", str(tarball), "--alias", alias, timeout=IMPORT_TIMEOUT)
