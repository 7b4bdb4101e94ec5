"""A lab's working directory `.halab/<lab>/`: which topology it came from and what is done.

`state.json` makes later commands (`status`, `halt`, `down`) find the lab by name, and lets a
second `up` know what the first one finished.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from halab.config import students
from halab.config.topology import LAB_NAME_RE, Loaded, load
from halab.errors import HalabError
from halab.home import labs_dir

# The lab a command that takes a topology file reads when it is given none.
DEFAULT_LAB = "labs/seed.yaml"
# A student lab's topology (`halab up --student N`) is saved here, and its state points at it, so
# `halab status <lab>-sNN` finds the student's lab, not the file it was derived from.
TOPOLOGY_FILE = "topology.yaml"
# The latest `halab verify` results of the lab, which `halab report` collects.
JUNIT_FILE = "verify.junit.xml"
# The exercise in progress (`halab exercise`; workshop/scoreboard.py says its keys), and the
# last scenario's outcome (`halab verify --scenario`): what the class page and the report show.
EXERCISE_FILE = "exercise.json"
SCENARIO_FILE = "scenario.json"
# The flock of the command changing the lab now, and what it is (`halab.session.lock`).
LOCK_FILE = "lock"


NAMING = 2


@dataclass
class State:
    topology: str
    accel: str = "tcg"
    # "vm" or "container": a lab keeps the provider it was created with ("" in labs made before
    # there was a choice, which were VMs).
    provider: str = ""
    tiers_done: list[str] = field(default_factory=list)
    # Masters that joined the running etcd cluster (add-master, replace), and the replica
    # changes made since `up`. After a change `topology` is the lab's own copy, TOPOLOGY_FILE.
    joined: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    origin: str = ""  # the file the lab came from, once `topology` is the lab's own copy
    # What the lab created on this host, recorded before the provider created it (config.owned):
    # `down` removes exactly these. NAMING: machine names joined with "--" (plan.machine_name);
    # a state file without it is from before, and its lab keeps its old names.
    objects: dict[str, list[str]] = field(default_factory=dict)
    naming: int = NAMING
    # The Incus remote of the cluster the lab's hosts run on ("": this machine): a lab keeps it.
    incus_remote: str = ""

    @property
    def created_with(self) -> str:
        """The provider the lab was created with (labs from before the choice are VMs)."""
        return self.provider or "vm"


def lab_path(name: str) -> Path:
    return labs_dir() / name


def read_state(lab_dir: Path) -> State | None:
    try:
        data = json.loads((lab_dir / "state.json").read_text())
        return State(**{"naming": 1, **data})
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


def read_json(lab_dir: Path, name: str) -> object | None:
    """A JSON record of the lab's directory (None when absent; a broken one as its text, so the
    reader can say what is wrong with it)."""
    try:
        text = (lab_dir / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def write_json(lab_dir: Path, name: str, doc: object) -> None:
    """Write a record atomically, so a reader never sees half of it."""
    fd, tmp = tempfile.mkstemp(dir=lab_dir, prefix=f".{name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
    os.replace(tmp, lab_dir / name)


def holds_anything(lab_dir: Path) -> bool:
    """Whether the lab's directory holds more than the lock of the command running now."""
    try:
        return any(p.name != LOCK_FILE for p in lab_dir.iterdir())
    except OSError:
        return False


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


@dataclass(frozen=True)
class Resolved:
    """Which file a command reads for the lab it was given, and why, when that is not the file
    the user named (`note`, to be said in one line)."""

    topology: str
    lab: str | None = None  # the lab's name, when it is known without reading the file
    note: str | None = None
    # The file given, when it had to be read whole to know its lab (see `_from_file`); with a
    # student, the file that student's copy is derived from.
    loaded: Loaded | None = field(default=None, compare=False)


def is_file_arg(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml")) or os.path.sep in arg or Path(arg).is_file()


def resolve(arg: str | None, student: int | None = None) -> Resolved:
    """The one resolution every command uses: a lab name, a topology file or nothing (the only
    lab) all lead to the same lab, read from its own copy once add-master, remove-master or
    replace changed it. With `student`, the file given is the instructor's and student N's lab
    is meant."""
    if arg and is_file_arg(arg):
        return _from_file(arg, student)
    if student is not None:
        raise HalabError("--student N goes with a topology file, not a lab name",
                         f"e.g. `--student {student} labs/seed.yaml`, or name the student's "
                         "lab itself (seed-s03)")
    labs = known_labs()
    if arg:
        if arg in labs:
            return Resolved(labs[arg].topology, arg)
        raise HalabError(f"no lab named {arg!r} has been brought up here",
                         _listing(labs) + "; or give the topology file, e.g. labs/seed.yaml")
    if len(labs) == 1:
        name, state = next(iter(labs.items()))
        return Resolved(state.topology, name)
    if not labs:
        raise HalabError("no lab has been brought up yet",
                         "run `halab up labs/etcd-only.yaml` (or `make lab-up`) first")
    raise HalabError("several labs exist; say which one with --lab NAME", _listing(labs))


# A topology's `name:` line at the top level: enough to know which lab a file is.
NAME_LINE = re.compile(r"""^name:[ \t]*(['"]?)([^'"\s#]+)\1[ \t]*(?:#.*)?$""", re.MULTILINE)


def _name_line(path: str) -> str | None:
    try:
        match = NAME_LINE.search(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    if match is None or not LAB_NAME_RE.fullmatch(match.group(2)):
        return None
    return match.group(2)


def _from_file(path: str, student: int | None) -> Resolved:
    """The file's lab, known from its `name:` line, so that the file is read whole once, by the
    command, and not at all when the lab's own copy is its truth now. A file whose name is not
    so plain is read whole here (and refused here when it is not valid)."""
    loaded = None
    name = _name_line(path)
    if name is None:
        loaded = load(path)
        name = loaded.topology.name
    if student is not None:
        name = students.lab_name(name, student, path)
    state = read_state(lab_path(name))
    if state and state.changes and not _same_file(state.topology, path):
        return Resolved(state.topology, name,
                        f"lab {name!r} was changed since it came up ({state.changes[-1]}); its "
                        f"own copy {state.topology} is the lab now and is read instead of "
                        f"{path}")
    # With `student`, `loaded` is the file given, which student N's copy is derived from.
    return Resolved(path, name, loaded=loaded)


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _listing(labs: dict[str, State]) -> str:
    if not labs:
        return "no lab is up yet"
    return "labs here: " + ", ".join(f"{n} ({s.topology})" for n, s in labs.items())
