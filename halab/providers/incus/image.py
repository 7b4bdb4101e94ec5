"""The box's root filesystem as an Incus image, imported once per box and cache key.

A "unified" image tarball (metadata.yaml beside rootfs/), uncompressed: tar of the 570 MB
rootfs takes seconds where gzip took 27 s, and the tarball is removed once Incus has it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from halab import home, hostlock, ui
from halab.build.command import run_captured
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


def ensure(box: str, remote: str | None = None) -> tuple[str, str]:
    """(the image's alias, "cached" or "imported in N s"): under a lock, so that labs brought up
    at once import it once. A cluster gets it once, through its remote; Incus copies it to each
    member that needs it, and keeps it there."""
    record = box_record(box)
    alias = names.image_alias(box, record.key)
    lock = work_dir() / "image.lock"
    with hostlock.exclusive(
            lock, timeout=IMPORT_TIMEOUT, interval=1,
            on_wait=lambda: ui.info(f"waiting for another lab's import of {alias} to finish"),
            held_too_long=HalabError(f"another import held {lock} for {IMPORT_TIMEOUT}s",
                                     "is another `halab up` stuck? (`ps aux | grep incus`)")):
        if client.exists("image", "show", names.at(remote, alias)):
            return alias, "cached"
        start = time.monotonic()
        _import(record.rootfs, box, record.key, alias, remote)
    return alias, f"imported in {time.monotonic() - start:.1f} s"


def current_alias(box: str) -> str | None:
    """The alias the current box's image has (or will have), None before the box is built."""
    from halab.artifacts import boxes

    record = boxes.read_record(box)
    return names.image_alias(box, record.key) if record is not None else None


def unused(images: list[dict], instances: list[dict], keep: str | None) -> list[str]:
    """halab's box images (alias `halab-…`) that no instance in any project was created from
    (Incus keeps each one's image as `volatile.base_image`) and that are not `keep`, the current
    box's alias: their aliases (pure)."""
    used = {(i.get("config") or {}).get("volatile.base_image") for i in instances}
    out = []
    for img in images:
        aliases = [a["name"] for a in img.get("aliases") or []]
        if img.get("fingerprint") in used or keep in aliases:
            continue
        out += [a for a in aliases if a.startswith(names.IMAGE_PREFIX)][:1]
    return sorted(out)


def prune(box: str, remote: str | None = None) -> list[str]:
    """Remove the images of boxes that no lab's host was created from any more, but the current
    box's (kept for the next `up`); what was removed, in words. Run at a lab's `down`: the last
    lab made from an old box takes its image with it."""
    from halab.artifacts import boxes

    record = boxes.read_record(box)
    keep = names.image_alias(box, record.key) if record is not None else None
    lock = work_dir() / "image.lock"
    with hostlock.exclusive(
            lock, timeout=IMPORT_TIMEOUT, interval=1,
            on_wait=lambda: ui.info("waiting for another lab's image import to finish"),
            held_too_long=HalabError(f"another import held {lock} for {IMPORT_TIMEOUT}s",
                                     "is another `halab up` stuck? (`ps aux | grep incus`)")):
        doomed = unused(client.query("image", "list", *names.scope(remote)),
                        client.query("list", *names.scope(remote), "--all-projects"), keep)
        for alias in doomed:
            client.run("image", "delete", names.at(remote, alias))
    return [f"removed image {a}: no lab's host was made from it, and it is not box {box}'s "
            "current image" for a in doomed]


def _import(rootfs: Path, box: str, key: str, alias: str, remote: str | None) -> None:
    with tempfile.TemporaryDirectory(dir=work_dir()) as tmp:
        meta = Path(tmp) / "metadata.yaml"
        meta.write_text(config.image_metadata(box, key, int(time.time())))
        tarball = Path(tmp) / "image.tar"
        # rootfs-<key>/ becomes rootfs/; symlink targets are left as they are (flag S).
        run_captured(["tar", "-cf", str(tarball), "--xattrs", "--numeric-owner", "-C", tmp,
                      "metadata.yaml", "-C", str(rootfs.parent), "--transform",
                      f"s,^{rootfs.name},rootfs,S", rootfs.name],
                     timeout=IMPORT_TIMEOUT, what=f"packing box {box!r} for Incus",
                     hint=f"check the free space under {work_dir()}")
        client.run("image", "import", str(tarball), *names.scope(remote), "--alias", alias,
                   timeout=IMPORT_TIMEOUT)
