"""`halab exercise list|start|check|hint|solve|reset`: parsing only; `halab.lab.exercise` acts.
A `halab ...` step of an exercise runs through the app's `dispatch`, in this process."""

from __future__ import annotations

import argparse
import re

from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, command
from halab.lab import exercise

EXERCISE_HELP = """\
Break-fix exercises, graded by halab. `start` breaks a running lab on purpose (after checking \
the exercise fits it and recording what the lab was like: keys written through the LB, each \
etcd member's ID, a snapshot when the exercise needs one) and prints the goal. The student \
fixes the lab with whatever they like (`halab ssh`, etcdctl, kubectl, halab's own commands). \
`check` grades each item of the exercise, the fix's cause and not only its symptom, and prints \
the time since start; `hint` shows one more hint; `solve` applies the reference solution (for \
teachers and the tests); `reset` puts the lab back as it was and forgets the exercise.

The exercise in progress is kept in .halab/<lab>/exercise.json: `halab report` and the class \
page (`halab class serve`) show it, with a scoreboard.

examples:
  halab exercise list
  halab exercise start lb-drops-a-master --lab seed --time 20m
  halab exercise check --lab seed
  halab exercise hint --lab seed
  halab exercise reset --lab seed"""


def minutes(text: str) -> float:
    """--time: 20m, 1h, 90s or a bare number of minutes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration such as 20m, 1h or 90s")
    value = float(m.group(1))
    return {"s": value / 60, "h": value * 60}.get(m.group(2), value)


def add_exercise_commands(sub: Subparsers, dispatch: exercise.RunHalab) -> None:
    """`dispatch` runs a `halab ...` step of an exercise (the app's own parser)."""
    group = sub.add_parser("exercise", help="break-fix exercises graded by halab",
                           description=EXERCISE_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    inner = group.add_subparsers(dest="exercise_command", metavar="COMMAND", required=True)

    command(inner, "list", lambda a: exercise.list_all(), "the exercises, with what each needs")

    def on_lab(name: str, func, help: str, locks: bool) -> argparse.ArgumentParser:  # noqa: ANN001
        p = command(inner, name, func, help)
        p.add_argument("--lab", help="lab name or topology file (the only lab up)")
        if locks:
            add_lock_option(p)
        return p

    p = on_lab("start", lambda a: exercise.start(a.lab, a.name, a.time, dispatch),
               "break the lab for an exercise and print its goal", True)
    p.add_argument("name", help="the exercise (`halab exercise list`)")
    p.add_argument("--time", type=minutes, metavar="DURATION",
                   help="a deadline for the scoreboard, e.g. 20m")
    on_lab("check", lambda a: exercise.check(a.lab), "grade the fix, item by item", False)
    on_lab("hint", lambda a: exercise.hint(a.lab), "show one more hint", False)
    on_lab("solve", lambda a: exercise.solve(a.lab, dispatch),
           "apply the reference solution", True)
    on_lab("reset", lambda a: exercise.reset(a.lab, dispatch),
           "put the lab back as it was and forget the exercise", True)
