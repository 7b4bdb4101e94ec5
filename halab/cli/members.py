"""`halab add-master|remove-master|replace|down`: which hosts a lab has, one master in, out or
anew, or all of them gone. Parsing only; `halab.lab.membership` and `halab.lab.down` act."""

from __future__ import annotations

from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, command
from halab.lab import down, membership


def add_member_commands(sub: Subparsers) -> None:
    p = command(sub, "add-master", lambda a: membership.add_master(a.lab, a.name, a.ip, a.zone),
                "add a master: a new host that joins etcd (and the kube tier)",
                "Add a master to a lab that is up: `etcdctl member add`, then `halab up` boots "
                "the host, issues its certificates, starts etcd with initial-cluster-state "
                "existing, and converges the LB's backends and the kube tier. Every etcd member "
                "must be healthy first.\n\n"
                "The lab's own copy of its topology, .halab/<lab>/topology.yaml, records the "
                "change and is from then on what `up`, `status` and `render` read (halab says "
                "so); `halab down` forgets it.")
    p.add_argument("--lab", help="lab name or topology file")
    p.add_argument("--name", help="host name (default: the next of the masters, e.g. master4)")
    p.add_argument("--ip", help="address (default: the next free one after the masters')")
    p.add_argument("--zone", metavar="Z", help="zone (default: the zone with fewest masters)")
    add_lock_option(p)

    p = command(sub, "remove-master", lambda a: membership.remove_master(a.lab, a.host, a.force),
                "remove a master: etcd member remove, destroy its host",
                "The reverse of add-master: `etcdctl member remove`, destroy the host, then "
                "`halab up` converges the LB's backends and the other members. Leaving exactly "
                "2 masters is refused (two members tolerate no failure) unless --force.")
    p.add_argument("host", help="the master to remove")
    p.add_argument("--lab", help="lab name or topology file")
    p.add_argument("--force", action="store_true", help="allow leaving exactly 2 masters")
    add_lock_option(p)

    p = command(sub, "replace", lambda a: membership.replace(a.lab, a.host),
                "replace a (failed) master with a fresh host of the same name and zone",
                "The seeds' recipe for a failed replica: remove it from etcd, destroy its host, "
                "add it back as a new member, and `halab up` rebuilds it (same name, address "
                "and zone; a fresh disk, so etcd syncs it from the others).")
    p.add_argument("host", help="the master to replace")
    p.add_argument("--lab", help="lab name or topology file")
    add_lock_option(p)

    p = command(sub, "down", lambda a: down.down(a.lab, a.yes), "destroy a lab",
                "Destroy exactly this lab's hosts (VMs or containers), disks and networks "
                "(found by the lab's name), and its .halab/<lab>/ directory. Other labs are not "
                "touched.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_lock_option(p)
