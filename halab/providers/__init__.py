"""Where lab hosts come from, behind one small `Provider` protocol (`providers.protocol`).

Everything above a provider (the runner, the tiers, verify) speaks only SSH to the hosts, so a
new kind of host plugs in here without changing them. Only this package, the runner and verify
touch subprocess, libvirt or a container engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from halab.errors import HalabError

if TYPE_CHECKING:
    from halab.artifacts.boxes import Record
    from halab.config.plan import Plan
    from halab.providers.protocol import Provider

KINDS = ("vm", "container")


def for_lab(lab_dir: Path, plan: Plan) -> Provider:
    """The provider of a lab: VMs through Vagrant and libvirt, or system containers that Incus
    runs."""
    return _kind(plan.provider)(lab_dir, plan)


def acceleration(kind: str) -> str:
    """What a kind of provider can do here ("kvm", "tcg" or "native"), asked before its lab is
    planned."""
    return _kind(kind).acceleration()


def _kind(kind: str) -> type[Provider]:
    """Imported here, not at the top, so commands that never touch a host work without
    libvirt-python."""
    if kind == "container":
        from halab.providers.incus.provider import Incus

        return Incus
    if kind != "vm":  # a lab recorded by an older halab: "incus" became "container"
        raise HalabError(f"unknown provider {kind!r} (halab knows {', '.join(KINDS)})",
                         'a lab created with provider "incus" is a "container" lab now: say so '
                         "in its .halab/<lab>/state.json")
    from halab.providers.vagrant_libvirt.provider import VagrantLibvirt

    return VagrantLibvirt


def ensure_box(recipe: str | None = None, force: bool = False) -> tuple[Record, str]:
    """The box, built when needed, for `halab box build`: see `vagrant_libvirt.box`."""
    from halab.providers.vagrant_libvirt import box

    return box.ensure_box(recipe, force=force)


def choose(setting: str) -> tuple[str, str]:
    """("vm" | "container", why) for a topology's or `--provider`'s setting. "auto" means VMs
    where a KVM guest really boots here (probed once per host boot), containers otherwise."""
    if setting in KINDS:
        return setting, f"provider: {setting} was asked for"
    from halab.providers.vagrant_libvirt import host

    if host.detect_accel(quiet=True) == "kvm":
        return "vm", "KVM works here, so VMs (the isolated choice)"
    return "container", ("KVM is not usable here, so system containers: native speed instead of "
                         "software emulation")


def cluster_sim():  # noqa: ANN201 - the module itself: up, down, kill_member, leftovers
    """The simulated three-member Incus cluster on this machine (docs/cluster.md)."""
    from halab.providers.incus import clustersim

    return clustersim
