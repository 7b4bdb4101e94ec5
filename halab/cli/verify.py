"""`halab verify|ssh`: into a lab's hosts, its checks and scenarios or a shell. Parsing only;
`halab.lab.scenarios` and `halab.lab.down` act."""

from __future__ import annotations

import argparse

from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, command
from halab.lab import down, scenarios

DEFAULT = {"to": None, "drain": True}  # a scenario option left as it is is not passed


def _options(a: argparse.Namespace) -> dict[str, object]:
    given = {"to": a.to, "drain": not a.no_drain}
    return {k: v for k, v in given.items() if v != DEFAULT[k]}


def add_verify_commands(sub: Subparsers) -> None:
    p = command(sub, "verify", lambda a: scenarios.verify(a.lab, a.junit, a.scenario, a.hard,
                                                          _options(a)),
                "check a lab's hosts, or run the failover scenario",
                "Run the testinfra checks against every host over SSH and print one line per "
                "check and a total: etcd (service, member list = topology, health, one leader "
                "and term, no certificate → refused, replication) and the load balancer "
                "(ports, etcd through it, backends = masters). Kube checks are skipped until "
                "the kube tier exists.\n\n" + scenarios.help_text())
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--junit", metavar="FILE",
                   help="also write JUnit XML (one test per check) to FILE; the latest results "
                        "are always kept in .halab/<lab>/verify.junit.xml for `halab report`")
    p.add_argument("--scenario", choices=list(scenarios.SCENARIOS),
                   help="run a scenario instead of checks: " + "; ".join(
                       f"{s.name}: {s.summary}" for s in scenarios.SCENARIOS.values()))
    p.add_argument("--hard", action="store_true",
                   help="with a scenario: power hosts off instead of a guest shutdown")
    p.add_argument("--to", metavar="VERSION",
                   help="with --scenario upgrade: the Kubernetes version to reach")
    p.add_argument("--no-drain", action="store_true",
                   help="with --scenario upgrade: restart in place (kubeadm #2991's comparison)")
    add_lock_option(p, when=lambda a: a.scenario is not None)  # the checks only read

    p = command(sub, "ssh", lambda a: down.ssh(a.lab, a.host, a.command), "log in to a lab host",
                "Open an SSH session to a lab host (as vagrant, with sudo), or run COMMAND there.")
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER, help="optional command to run")
    p.add_argument("--lab", help="lab name or topology file")
