"""The box on the vagrant-libvirt side: built when needed (`halab.build.box`, which also
registers it with Vagrant), then libvirt's copies of the old box that no VM backs onto are
dropped: vagrant-libvirt uploads each box into the pool once and never removes it."""

from __future__ import annotations

from halab import ui
from halab.artifacts.boxes import Record
from halab.build import box as boxbuild
from halab.errors import HalabError
from halab.providers.vagrant_libvirt import host, volumes


def ensure_box(recipe: str | None = None, force: bool = False) -> tuple[Record, str]:
    """`halab.build.box.ensure_box`, then the old copies pruned after a rebuild."""
    record, how = boxbuild.ensure_box(recipe, force=force)
    if how == "built":
        prune_after_rebuild(record.box_name)
    return record, how


def prune_after_rebuild(box_name: str) -> None:
    """After a rebuild, drop libvirt's copies of the old box that no VM backs onto."""
    if not host.libvirt_running():
        return  # nothing uploaded can be removed now; a later rebuild will
    try:
        gone = volumes.prune_base_volumes(box_name)
    except HalabError as exc:
        ui.warn(f"could not prune old base volumes of {box_name}: {exc.message}")
        return
    if gone:
        ui.info(f"removed {len(gone)} unused libvirt volume(s) of the previous {box_name}")
