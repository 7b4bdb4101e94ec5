"""`halab cluster-sim up|down|status|kill|revive`: a three-member Incus cluster on this one
machine, to try labs that span machines (docs/cluster.md). Parsing and dispatch only."""

from __future__ import annotations

import argparse

from halab import providers, ui

HELP = """\
A simulated Incus cluster of three members (member1-3) on this machine: each member is its own
incusd, with its own state directory and network namespace, its address on the bridge hlsim0
(172.30.251.0/24, no NAT, no route out). This machine's incus client reaches it as the remote
`halab-sim`; a topology's `incus: {remote: halab-sim}` puts a lab's hosts on it.

`kill MEMBER` is what losing that machine looks like: its incusd and every process of its
containers are killed at once. `revive MEMBER` starts its incusd again; its hosts stay off
until `halab start` or `halab up`. `down` leaves nothing of the simulation behind.
"""


def _up(args: argparse.Namespace) -> int:
    providers.cluster_sim().up()
    return 0


def _down(args: argparse.Namespace) -> int:
    providers.cluster_sim().down(force=args.force)
    return 0


def _status(args: argparse.Namespace) -> int:
    sim = providers.cluster_sim()
    known = sim.cluster_members()
    for m in sim.members():
        daemon = "incusd running" if sim.running(m) else "incusd stopped"
        ui.info(f"{m.name:8} {m.address:15} {known.get(m.name, '-'):8} {daemon}")
    left = sim.leftovers()
    if not left:
        ui.info("no simulation here: `halab cluster-sim up` makes one")
    return 0 if known else 1


def _kill(args: argparse.Namespace) -> int:
    sim = providers.cluster_sim()
    n = sim.kill_member(sim.member(args.member))
    ui.info(f"{args.member}: killed {n} processes (its incusd and its containers)")
    return 0


def _revive(args: argparse.Namespace) -> int:
    sim = providers.cluster_sim()
    sim.start_member(sim.member(args.member))
    ui.info(f"{args.member}: incusd running again; its hosts stay off until `halab start`")
    return 0


def add_cluster_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster-sim", help="a three-member Incus cluster on this machine",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("up", help="create it (idempotent)").set_defaults(func=_up)
    d = verbs.add_parser("down", help="remove every part of it (refused while labs are on it)")
    d.add_argument("--force", action="store_true",
                   help="remove it with the labs still on it (their .halab/<lab> stays)")
    d.set_defaults(func=_down)
    verbs.add_parser("status", help="each member and its state").set_defaults(func=_status)
    for verb, func, what in (("kill", _kill, "lose a member: kill its incusd and containers"),
                             ("revive", _revive, "start a killed member's incusd again")):
        v = verbs.add_parser(verb, help=what)
        v.add_argument("member", metavar="MEMBER", help="member1, member2 or member3")
        v.set_defaults(func=func)
