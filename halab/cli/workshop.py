"""`halab diagram|report`: a lab drawn, and every lab's verify results, for a workshop.
Parsing only; `halab.lab.diagram` and `halab.lab.report` act."""

from __future__ import annotations

from halab.cli.options import DEFAULT_LAB, Subparsers, command
from halab.lab import diagram, report

DIAGRAM_HELP = (
    "Draw the lab from its topology with Graphviz: hosts grouped by zone, the load balancer on "
    "top with its arrows to the masters, the etcd peer links between the masters, and the "
    "minions below with their link to the API through the LB. Without --live no host is "
    "needed: LAB may be a topology file never brought up.\n\n"
    "--live colours in the lab's state now: the etcd leader, halted hosts, masters the LB "
    "cannot reach, and the holders of the controller-manager and scheduler leases. What cannot "
    "be asked is left uncoloured and said.")

DIAGRAM_EPILOG = """\
colours with --live: etcd leader (amber), halted host (grey, dashed), LB backend down (red
dashed arrow), holder of the kube-controller-manager or kube-scheduler lease (purple border).

examples:
  halab diagram                          the lab that is up, else labs/seed.yaml
  halab diagram labs/zones.yaml          writes .halab/zones/diagram.svg and diagram.png
  halab diagram labs/seed.yaml --out seed.png
  halab diagram seed --live --out /tmp/now   /tmp/now.svg and /tmp/now.png, state coloured in
"""

REPORT_HELP = """\
Write a Markdown report from `halab verify` results: one table over all labs (checks passed, \
failed and skipped), then per lab every failed check with its host and message, and the \
skipped ones with the reason. Without FILEs it reads the latest results of every lab on this \
host (.halab/<lab>/verify.junit.xml) and lists labs not verified yet. A scoreboard follows when \
labs have an exercise in progress (.halab/<lab>/exercise.json, from `halab exercise`): exercise, \
lab, items passed, time taken and time left.

example, a workshop:
  for n in $(seq -w 1 12); do halab verify seed-s$n; done
  halab report --out report.md"""


def add_workshop_commands(sub: Subparsers) -> None:
    p = command(sub, "diagram", lambda a: diagram.diagram(a.lab, a.out, a.live),
                "draw the lab as a picture (SVG and PNG)", DIAGRAM_HELP)
    p.epilog = DIAGRAM_EPILOG
    p.add_argument("lab", nargs="?",
                   help=f"topology file or lab name (the only lab up, else {DEFAULT_LAB})")
    p.add_argument("--out", metavar="FILE",
                   help="FILE.svg or FILE.png writes that; FILE with no suffix writes both "
                        "(default .halab/<lab>/diagram.svg and .png)")
    p.add_argument("--live", action="store_true",
                   help="colour in the current state of a lab that is up (asks its hosts)")

    p = command(sub, "report", lambda a: report.report(a.junit, a.out),
                "summarise verify results of every lab as Markdown", REPORT_HELP)
    p.add_argument("junit", nargs="*", metavar="FILE",
                   help="JUnit XML files from `halab verify --junit FILE` (default: every lab's "
                        "latest results)")
    p.add_argument("--out", metavar="FILE", help="write the Markdown here (default: print it)")
