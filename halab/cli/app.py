"""Command line: the top parser and `main`; each command group adds its own subcommands
(`cli.labs`, `cli.power`, `cli.verify`, `cli.members`, `cli.workshop`, `cli.drills`, `cli.box`,
`cli.binaries`). Argument parsing and dispatch only; the work is done by the modules they call."""

from __future__ import annotations

import argparse
import sys

from halab import __version__, ui
from halab.cli import readylabs
from halab.cli.binaries import add_binaries_commands
from halab.cli.box import add_box_commands
from halab.cli.certs import add_certs_commands
from halab.cli.classroom import add_classroom_commands
from halab.cli.cluster import add_cluster_commands
from halab.cli.drills import add_drill_commands
from halab.cli.exercise import add_exercise_commands
from halab.cli.labs import add_lab_commands
from halab.cli.locking import lab_lock
from halab.cli.members import add_member_commands
from halab.cli.power import add_power_commands
from halab.cli.upgrade import add_upgrade_command
from halab.cli.verify import add_verify_commands
from halab.cli.workshop import add_workshop_commands
from halab.errors import HalabError

DESCRIPTION = """\
halab builds bare-metal-style HA Kubernetes labs from one topology file: an etcd cluster on the
masters, an nginx, Pound or HAProxy load balancer in front of them, and (optionally) a Kubernetes
control plane and minions with flannel.

The hosts are VMs (Vagrant + libvirt) or system containers (Incus, on this host's kernel;
privileged: root in a lab host is root on this machine): `up --provider vm|container`, or the
topology's `provider`; auto means VMs where KVM works, containers otherwise. A lab keeps the
provider it was created with.
"""

EPILOG = """\
examples:
  halab doctor labs/seed.yaml         can this host run the lab? (packages, KVM, RAM, caches)
  halab validate labs/seed.yaml       check a topology file, create nothing
  halab render labs/seed.yaml         write .halab/seed/Vagrantfile and hosts/<host>/...
  halab up labs/etcd-only.yaml        boot and provision a lab (etcd + load balancer)
  halab status                        one row per host: its state, etcd role, raft term, LB
  halab halt master1 [--hard]         stop a master and watch the cluster keep going
  halab start master1                 bring it back, time its catch-up
  halab halt --zone b                 lose a whole zone (labs/zones.yaml); `start --zone b`
  halab halt --all; halab up          a cold restart: every host off, then every tier back
  halab add-master --zone b           a fourth master; `remove-master master4` takes it away
  halab replace master2               rebuild a failed master as a fresh etcd member
  halab verify [--junit FILE]         testinfra checks of every host, one line each
  halab verify --scenario failover    halt the leader, assert failover figures, restart
  halab verify --scenario cold-restart  every host off, `halab up`, every tier healthy again
  halab verify lb-pair --scenario lb  halt the LB holding the VIP, time the takeover
  halab diagram labs/zones.yaml       draw the lab (SVG + PNG) under .halab/zones/
  halab down etcd-only --yes          destroy exactly this lab's hosts, networks and disks

workshop (several student labs on one host):
  halab up --student 3                student 3's own seed lab, seed-s03, on 10.150.3.0/24
  halab status --all                  one row per lab on this host, hosts running
  halab report --out report.md        verify results of every lab as Markdown
  halab exercise start lb-drops-a-master --lab seed   break a lab; `exercise check` grades the fix

LAB arguments take a topology file or the name of a lab brought up before; with one lab up
they can be left out.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halab", description=f"{DESCRIPTION}\n{readylabs.listing()}", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"halab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # In the order `halab --help` lists them.
    add_lab_commands(sub)
    add_power_commands(sub)
    add_verify_commands(sub)
    add_member_commands(sub)
    add_certs_commands(sub)
    add_upgrade_command(sub)
    add_workshop_commands(sub)
    add_drill_commands(sub)
    add_box_commands(sub)
    add_binaries_commands(sub)
    add_classroom_commands(sub)
    add_cluster_commands(sub)
    add_exercise_commands(sub, dispatch)
    return parser


def dispatch(argv: list[str]) -> int:
    """`halab ARGV` in this process without taking the lab's lock again: an exercise's
    `halab ...` step, run while `halab exercise` holds it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        raise HalabError(f"the exercise's step `halab {' '.join(argv)}` does not parse",
                         "fix the exercise's file") from None
    return args.func(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        with lab_lock(args, argv):
            return args.func(args)
    except HalabError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
