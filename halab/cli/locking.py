"""Which commands hold their lab's lock (`halab.session.lock`), and its `--no-wait`.

The lock is taken here, around the whole command, before the command reads the lab's state: a
command that waited then sees what the one before it left. Read-only commands take none.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
from collections.abc import Callable

from halab.session import labdir, lock


def add_lock_option(p: argparse.ArgumentParser,
                    when: Callable[[argparse.Namespace], bool] = lambda _: True) -> None:
    """Mark `p`'s command as one that changes its lab (`when` it does), with --no-wait."""
    p.set_defaults(locks=when)
    p.add_argument("--no-wait", action="store_true",
                   help="fail at once if another halab command is changing this lab (default: "
                        f"wait for it, at most {lock.duration(lock.WAIT)})")


def lab_lock(args: argparse.Namespace, argv: list[str]) -> contextlib.AbstractContextManager:
    """The lock of the lab `args` name, if its command changes the lab; else nothing.

    The lab is found as the command finds it (a name, a file, the only lab); a lab that cannot
    be found fails here with the command's own message."""
    when = getattr(args, "locks", None)
    if when is None or not when(args):
        return contextlib.nullcontext()
    found = labdir.resolve(args.lab, getattr(args, "student", None))
    assert found.lab is not None  # resolve names the lab of every file and name
    return lock.held(labdir.lab_path(found.lab), shlex.join(["halab", *argv]),
                     wait=not args.no_wait)
