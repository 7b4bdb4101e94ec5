"""What the command groups share: how a command is added, and the options several take."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from halab.config import students
from halab.session.labdir import DEFAULT_LAB

Subparsers = argparse._SubParsersAction


def command(sub: Subparsers, name: str, func: Callable[[argparse.Namespace], int], help: str,
            description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help keeps the description's own line breaks."""
    p = sub.add_parser(name, help=help, description=description or help,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def add_topology_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")


def add_student_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--student", type=int, metavar="N",
                   help=f"student N's own copy of the lab, N in 1–{students.N_MAX} (a "
                        "workshop): lab <lab>-sNN on network 10.150.N.0/24, management "
                        "10.151.N.0/24, every host at its offset (.11 stays .11)")
