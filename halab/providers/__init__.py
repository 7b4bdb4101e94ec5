"""Where lab hosts come from, behind one small `Provider` protocol (`providers.protocol`).

Everything above a provider (the runner, the tiers, verify) speaks only SSH to the hosts, so a
new kind of host plugs in here without changing them. Only this package, the runner and verify
touch subprocess, libvirt or a container engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from halab.config.plan import Plan
    from halab.providers.protocol import Provider


def for_lab(lab_dir: Path, plan: Plan) -> Provider:
    """The provider of a lab (today: VMs through Vagrant and libvirt). Imported here, not at
    the top, so commands that never touch a host work without libvirt-python."""
    from halab.providers.vagrant_libvirt.provider import VagrantLibvirt

    return VagrantLibvirt(lab_dir, plan)
