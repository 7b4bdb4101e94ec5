"""`halab halt|start`: one host, a zone or every host off and on again. Parsing only;
`halab.lab.power` acts."""

from __future__ import annotations

from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, command
from halab.lab import power

HALT_HELP = (
    "Shut a host down gracefully (default) or pull its plug (--hard). For a master of a 3+ "
    "member cluster this is the failover demo: it writes numbered keys through the LB, prints "
    "who leads, halts the host, then prints the time until a new leader was seen, the longest "
    "write gap, writes acknowledged against writes found afterwards, and the member list with "
    "the halted member unreachable.\n\n"
    "--zone Z halts every host of zone Z at once (losing a zone), --all every host of the lab "
    "(`halab up` afterwards is a cold restart). Both say first what is left of etcd's quorum, "
    "and show the member list afterwards.")


def add_power_commands(sub: Subparsers) -> None:
    p = command(sub, "halt", lambda a: power.halt(a.lab, a.host, a.hard, a.zone, a.all,
                                                  a.member),
                "stop one host, a zone, or every host", HALT_HELP)
    p.add_argument("host", nargs="?", help="the host to halt (or give --zone or --all)")
    p.add_argument("--zone", metavar="Z", help="halt every host whose topology zone is Z")
    p.add_argument("--all", action="store_true", help="halt every host of the lab")
    p.add_argument("--member", metavar="NAME",
                   help="lose a member of the lab's Incus cluster with every host on it (the "
                        "simulation kills its incusd and containers; docs/cluster.md)")
    p.add_argument("--hard", action="store_true", help="power off without a guest shutdown")
    p.add_argument("--lab", help="lab name or topology file (needed when several labs exist)")
    add_lock_option(p)

    p = command(sub, "start", lambda a: power.start(a.lab, a.host, a.zone, a.all, a.member),
                "start a halted host, a zone, or every host",
                "Boot a halted host. For a master, also print the time until it rejoined and "
                "caught up (its raft index equal to the leader's). --zone Z and --all boot "
                "several at once and wait until every etcd member is healthy.")
    p.add_argument("host", nargs="?", help="the host to start (or give --zone or --all)")
    p.add_argument("--zone", metavar="Z", help="start every host whose topology zone is Z")
    p.add_argument("--all", action="store_true", help="start every host of the lab")
    p.add_argument("--member", metavar="NAME",
                   help="bring a lost member of the lab's Incus cluster back (the simulation "
                        "starts its incusd again), then start every host on it")
    p.add_argument("--lab", help="lab name or topology file")
    add_lock_option(p)
