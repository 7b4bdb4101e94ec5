"""`halab ssh` and `halab down`: logging in to a host, and destroying exactly this lab."""

from __future__ import annotations

import os
import shutil

from halab import ui
from halab.config import owned
from halab.errors import HalabError
from halab.lab import kubeconfig
from halab.render import kubecontexts
from halab.session import labdir
from halab.session.context import Lab


def ssh(arg: str | None, host_name: str, command: list[str]) -> int:
    lab = Lab.existing(arg)
    lab.host(host_name)
    ssh_bin = shutil.which("ssh")
    if not ssh_bin:
        raise HalabError("ssh is not installed", "run `make deps` (openssh-client)")
    os.execv(ssh_bin, ["ssh", "-F", str(lab.ssh_config), host_name, *command])
    return 0  # not reached


def down(arg: str | None, yes: bool) -> int:
    with Lab.open(arg) as lab:
        p = lab.plan
        lab.provider.prepare()
        recorded = lab.recorded()  # exactly what this lab created: never by name prefix
        found = lab.provider.leftovers(p, recorded)
        stray = owned.foreign(lab.provider.present(lab.provider.objects(p)), recorded)
        if stray:
            ui.warn(f"left alone, not recorded by lab {p.lab!r} in {lab.dir}: "
                    + ", ".join(f"{kind} {name!r}" for kind, name in stray)
                    + f"; if the same lab is up from another directory or HALAB_LABS_DIR, run "
                      f"`halab down {p.lab}` there")
        if found is None and not labdir.holds_anything(lab.dir):
            ui.info(f"lab {p.lab!r} has nothing to tear down")
            _forget_context(p.lab)
            return 0
        what = f"{found or 'nothing of the provider'} and {lab.dir}"
        if not yes:
            if not os.isatty(0):
                raise HalabError(f"`halab down` would destroy lab {p.lab!r}: {what}",
                                 "add --yes to confirm")
            answer = input(f"destroy lab {p.lab!r} ({what})? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                ui.info("nothing destroyed")
                return 1
        with ui.step(f"destroy lab {p.lab!r}"):
            lab.provider.destroy(None, recorded)
            shutil.rmtree(lab.dir, ignore_errors=True)
            ui.info(f"  removed {what}")
            _forget_context(p.lab)
    return 0


def _forget_context(lab: str) -> None:
    """The lab's context in the user's kubeconfig (`halab kubeconfig --merge`) goes with it."""
    forgotten = kubeconfig.forget(lab)
    if forgotten:
        ui.info(f"  removed context {kubecontexts.context_name(lab)} from {forgotten}")
