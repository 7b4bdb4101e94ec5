"""`halab partition|heal|netem|backup|restore`: argument parsing only; `halab.lab.drills` acts.

The main CLI wires these in with `add_drill_commands(subparsers)`.
"""

from __future__ import annotations

import argparse

from halab.cli.locking import add_lock_option
from halab.lab import drills

PARTITION_HELP = """\
Cut hosts off from the other lab hosts on the lab network, both ways, with iptables rules in
halab's own chain on each host (HALAB-PARTITION). This machine keeps reaching every host, so SSH,
`halab status` and the probes keep working. A second partition adds to the first; `halab heal`
removes every rule halab added, and a reboot does too.

examples:
  halab partition master1                    master1 alone against every other host
  halab partition master1 --from master2,master3   the LB still reaches master1
  halab partition --zone b                   zone b against the rest
  halab heal
"""

NETEM_HELP = """\
Slow down or lose traffic between zones with tc netem on each host's lab NIC: only traffic to
hosts of another zone, never within a zone, to a host without a zone, or to this host. Each
direction gets the delay, so a round trip between zones grows by twice --delay. Setting it again
replaces it; --clear (or a reboot) removes it.

examples:
  halab netem --zone b --delay 100ms               zone b against the other zones
  halab netem --zone b --delay 100ms --jitter 20ms --loss 1%
  halab netem --between-zones --delay 50ms         every pair of zones
  halab netem --clear
"""

RESTORE_HELP = """\
etcd's disaster recovery from a snapshot `halab backup` saved: check it on every master (a file
that does not verify is refused before anything stops), say what will be lost (the writes after
its revision), stop etcd (and with the kube tier the apiservers, controller-managers and
schedulers) on every master, `etcdutl snapshot restore` on each into a fresh data directory with
the lab's initial cluster (the old one is kept aside, /var/lib/etcd/halab.before-restore-TIME),
start the members together, wait for one leader, then start the control plane.
"""


def add_drill_commands(subparsers: argparse._SubParsersAction) -> None:
    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help, description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--lab", help="lab name or topology file (needed when several labs exist)")
        add_lock_option(p)  # each drill changes the lab (a backup writes into its directory)
        return p

    p = command("partition", "cut hosts (or a zone) off from the others on the lab network",
                PARTITION_HELP)
    p.add_argument("hosts", nargs="?", metavar="A[,B...]", help="the hosts to cut off")
    p.add_argument("--from", dest="others", metavar="C[,D...]",
                   help="cut them off from these hosts only (default: every other host)")
    p.add_argument("--zone", metavar="Z", help="cut off every host of zone Z")
    p.set_defaults(func=lambda a: drills.partition(a.lab, a.hosts, a.others, a.zone))

    p = command("heal", "remove every partition rule halab added",
                "Remove halab's partition chain and its jumps from every running host of the "
                "lab; nothing else of the hosts' firewalls is touched.")
    p.set_defaults(func=lambda a: drills.heal(a.lab))

    p = command("netem", "add delay, jitter or loss between zones (tc netem)", NETEM_HELP)
    p.add_argument("--zone", metavar="Z", help="shape traffic between zone Z and the others")
    p.add_argument("--between-zones", action="store_true",
                   help="shape traffic between every pair of zones")
    p.add_argument("--delay", metavar="MS", help="added delay each way, e.g. 100ms")
    p.add_argument("--jitter", metavar="MS", help="random variation of the delay, e.g. 20ms")
    p.add_argument("--loss", metavar="PCT", help="packets lost, e.g. 1%%")
    p.add_argument("--clear", action="store_true", help="remove halab's shaping from every host")
    p.set_defaults(func=lambda a: drills.netem(a.lab, a.zone, a.between_zones, a.delay,
                                               a.jitter, a.loss, a.clear))

    p = command("backup", "save an etcd snapshot in .halab/<lab>/backups/",
                "Save an etcd snapshot (`etcdctl snapshot save`) from a member that answers, "
                "check it with `etcdutl snapshot status`, copy it to "
                ".halab/<lab>/backups/TIME.db (mode 0600: it holds every secret of the lab) "
                "and print its revision, keys and size.")
    p.set_defaults(func=lambda a: drills.backup(a.lab))

    p = command("restore", "restore etcd from a snapshot on every master (disaster recovery)",
                RESTORE_HELP)
    p.add_argument("snapshot", help="a file `halab backup` wrote")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=lambda a: drills.restore(a.lab, a.snapshot, a.yes))
