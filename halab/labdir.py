"""A lab's working directory `.halab/<lab>/`: which topology it came from and what is done.

`state.json` makes later commands (`status`, `halt`, `down`) find the lab by name, and lets a
second `up` know what the first one finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from halab.errors import HalabError
from halab.home import labs_dir
from halab.plan import Plan

# A student lab's topology (`halab up --student N`) is saved here, and its state points at it, so
# `halab status <lab>-sNN` finds the student's lab, not the file it was derived from.
TOPOLOGY_FILE = "topology.yaml"
# The latest `halab verify` results of the lab, which `halab report` collects.
JUNIT_FILE = "verify.junit.xml"


@dataclass
class State:
    topology: str
    accel: str = "tcg"
    tiers_done: list[str] = field(default_factory=list)
    # Masters that joined the running etcd cluster (add-master, replace), and the replica
    # changes made since `up`. After a change `topology` is the lab's own copy, TOPOLOGY_FILE.
    joined: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    origin: str = ""  # the file the lab came from, once `topology` is the lab's own copy


def lab_path(name: str) -> Path:
    return labs_dir() / name


def read_state(lab_dir: Path) -> State | None:
    try:
        data = json.loads((lab_dir / "state.json").read_text())
        return State(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_state(lab_dir: Path, state: State) -> None:
    lab_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=lab_dir, prefix=".state-")
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(state), fh, indent=2)
    os.replace(tmp, lab_dir / "state.json")


def write_topology(lab_dir: Path, text: str) -> Path:
    """Save a derived topology in the lab's directory (atomically) and return its path."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    path = lab_dir / TOPOLOGY_FILE
    fd, tmp = tempfile.mkstemp(dir=lab_dir, prefix=".topology-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def junit_path(lab_dir: Path) -> Path:
    return lab_dir / JUNIT_FILE


def known_labs() -> dict[str, State]:
    """Labs that have been brought up from this project (they have a state file)."""
    root = labs_dir()
    if not root.is_dir():
        return {}
    out = {}
    for d in sorted(root.iterdir()):
        state = read_state(d)
        if state is not None:
            out[d.name] = state
    return out


def resolve_topology(arg: str | None) -> str:
    """A topology path from what the user typed: a file, a lab name, or nothing (the only lab)."""
    if arg and (arg.endswith((".yaml", ".yml")) or os.path.sep in arg or Path(arg).is_file()):
        return arg
    labs = known_labs()
    if arg:
        if arg in labs:
            return labs[arg].topology
        raise HalabError(f"no lab named {arg!r} has been brought up here",
                         _listing(labs) + "; or give the topology file, e.g. labs/seed.yaml")
    if len(labs) == 1:
        return next(iter(labs.values())).topology
    if not labs:
        raise HalabError("no lab has been brought up yet",
                         "run `halab up labs/etcd-only.yaml` (or `make lab-up`) first")
    raise HalabError("several labs exist; say which one with --lab NAME", _listing(labs))


def _listing(labs: dict[str, State]) -> str:
    if not labs:
        return "no lab is up yet"
    return "labs here: " + ", ".join(f"{n} ({s.topology})" for n, s in labs.items())


def ssh_config_text(plan: Plan, key: Path) -> str:
    """SSH to each VM's private address (the host owns the bridge's first address)."""
    blocks = []
    for h in plan.hosts:
        blocks.append(
            f"Host {h.name}\n"
            f"  HostName {h.ip}\n"
            "  User vagrant\n"
            "  Port 22\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            "  ConnectTimeout 10\n")
    return f"# Written by halab for lab {plan.lab}.\n" + "\n".join(blocks)
