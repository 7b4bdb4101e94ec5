"""The one place halab speaks to Incus: the `incus` command line with `--format json`, each call
bounded by a timeout, and incusd started by hand where no service manager runs it.

Why the CLI and not the REST API over the unix socket (docs/containers.md, "Incus"): it needs no
new Python dependency, it waits for Incus's background operations itself (image import, start,
stop), and every call halab makes is one a student can type to see the same thing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from halab import ui
from halab.build.command import run_captured
from halab.errors import HalabError

INCUSD = Path("/usr/libexec/incus/incusd")
LOG = Path("/var/log/incus/incus.log")
READY_TIMEOUT = 60  # s: `incus admin waitready`; incusd was ready in under 1 s here
CALL_TIMEOUT = 120  # s: any one call but the long ones, which pass their own
INSTALL_FIX = ("run `make deps` (scripts/incus-install installs Incus), or choose VMs: "
               "`--provider vm`")


class IncusError(HalabError):
    """An `incus` call failed; `stderr` is Incus's own words."""

    def __init__(self, args: list[str], stderr: str):
        self.stderr = stderr.strip()
        super().__init__(f"`incus {' '.join(args)}` failed: {self.stderr[-500:]}",
                         f"see {LOG}, and `incus` by hand")


def binary() -> str:
    exe = shutil.which("incus")
    if exe is None:
        raise HalabError("Incus is not installed (the container provider's engine)", INSTALL_FIX)
    return exe


def run(*args: str, project: str | None = None, timeout: float = CALL_TIMEOUT,
        stdin: str | None = None, check: bool = True,
        incus_dir: str | None = None) -> subprocess.CompletedProcess[str]:
    """`incus <args>` within `timeout`, through the providers' one helper for short commands;
    with `check` a failure is an IncusError carrying Incus's own words. `incus_dir` speaks to
    the incusd of that state directory (a simulated cluster's member) through its socket."""
    cmd = [binary(), *args, *(["--project", project] if project else [])]
    env = {**os.environ, "INCUS_DIR": incus_dir} if incus_dir else None
    proc = run_captured(cmd, timeout=timeout, what=f"`incus {' '.join(args)}`", check=False,
                        input=stdin if stdin is not None else "", env=env,
                        hint=f"is incusd stuck? see {LOG}")
    if check and proc.returncode != 0:
        raise IncusError(list(args), proc.stderr)
    return proc


def query(*args: str, project: str | None = None) -> Any:
    """A listing as JSON: `incus <args> --format json`."""
    return json.loads(run(*args, "--format", "json", project=project).stdout or "null")


def api(path: str) -> Any:
    """A raw API answer: `incus query <path>` (`remote:/1.0/...` for a remote)."""
    return json.loads(run("query", path).stdout or "null")


def exists(*show: str, project: str | None = None) -> bool:
    """True when `incus <show...>` (a `show` command) finds the object."""
    proc = run(*show, project=project, check=False)
    if proc.returncode == 0:
        return True
    if "not found" in proc.stderr.lower():
        return False
    raise IncusError(list(show), proc.stderr)


def answering() -> bool:
    return run("admin", "waitready", "--timeout=1", timeout=15, check=False).returncode == 0


def ensure_daemon() -> None:
    """incusd answering: the service where systemd runs, else incusd started by hand here
    (detached, it outlives halab), then `incus admin waitready`."""
    binary()
    if answering():
        return
    if os.geteuid() != 0:
        raise HalabError("incusd is not running and only root can start it",
                         "run halab as root, or start Incus's service")
    if Path("/run/systemd/system").is_dir():
        ui.info("starting the incus service")
        run_captured(["systemctl", "start", "incus.service"], timeout=CALL_TIMEOUT, check=False)
    else:
        if not INCUSD.exists():
            raise HalabError(f"{INCUSD} is missing (incus-base)", INSTALL_FIX)
        ui.info(f"starting incusd (no systemd here; log {LOG})")
        LOG.parent.mkdir(parents=True, exist_ok=True)
        # A daemon that outlives halab: not a command to wait for, so not run_captured.
        subprocess.Popen([str(INCUSD), "--group", "incus-admin", f"--logfile={LOG}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    proc = run("admin", "waitready", f"--timeout={READY_TIMEOUT}", timeout=READY_TIMEOUT + 10,
               check=False)
    if proc.returncode != 0:
        raise HalabError(f"incusd did not answer within {READY_TIMEOUT}s: {proc.stderr.strip()}",
                         f"see {LOG}; start it by hand: `{INCUSD} --group incus-admin`")
