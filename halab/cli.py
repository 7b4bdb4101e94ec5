"""Command line: argument parsing and dispatch only; the work is done by the modules it calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from halab import __version__, lab, plan, render, ui
from halab.cli_binaries import add_binaries_commands
from halab.cli_box import add_box_commands
from halab.errors import HalabError
from halab.home import labs_dir
from halab.topology import Loaded, load

DEFAULT_LAB = "labs/seed.yaml"

DESCRIPTION = """\
halab builds bare-metal-style HA Kubernetes labs on Vagrant + libvirt from one topology file:
an etcd cluster on the masters, an nginx, Pound or HAProxy load balancer in front of them, and
(optionally) a Kubernetes control plane and minions with flannel.

Ready labs are in labs/: seed.yaml (the classic 6-VM lab), zones.yaml, etcd-only.yaml.
"""

EPILOG = """\
examples:
  halab validate labs/seed.yaml       check a topology file, create nothing
  halab render labs/seed.yaml         write .halab/seed/Vagrantfile and hosts/<host>/...
  halab up labs/etcd-only.yaml        boot and provision a lab (etcd + load balancer)
  halab status                        one row per host: VM state, etcd role, raft term, LB
  halab halt master1 [--hard]         stop a master and watch the cluster keep going
  halab start master1                 bring it back, time its catch-up
  halab verify [--junit FILE]         testinfra checks of every host, one line each
  halab verify --scenario failover    halt the leader, assert failover figures, restart
  halab down etcd-only --yes          destroy exactly this lab's VMs, networks and volumes

LAB arguments take a topology file or the name of a lab brought up before; with one lab up
they can be left out.
"""


def _load(path: str) -> Loaded:
    loaded = load(path)
    for w in loaded.warnings:
        ui.warn(w)
    return loaded


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args.lab)
    topo = loaded.topology
    roles = {r: len(topo.by_role(r)) for r in ("lb", "master", "minion")}
    kube = "on" if topo.kubernetes.enabled else "off"
    ui.info(f"{args.lab}: lab {topo.name!r} is valid — {roles['lb']} lb, {roles['master']} "
            f"master, {roles['minion']} minion; LB {topo.lb.kind}; kube tier {kube}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    loaded = _load(args.lab)
    p = plan.build(loaded.topology, accel=args.accel)
    out = Path(args.out) if args.out else labs_dir() / p.lab
    rendered = render.render(p)
    changed = render.write(rendered, out)
    count = sum(len(f) for f in rendered.hosts.values())
    ui.info(f"rendered lab {p.lab!r} into {out}: Vagrantfile + {count} files for "
            f"{len(rendered.hosts)} hosts ({len(changed)} changed)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halab", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"halab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str,
                description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description or help,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command("validate", cmd_validate, "check a topology file; create nothing",
                "Check the whole topology file and report every problem with its file, line "
                "and field. Nothing is written or created.")
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")

    p = command("render", cmd_render, "write the Vagrantfile and every host's config files",
                "Render the Vagrantfile and every host's configuration files (etcd, flannel, "
                "kube-*, kubelet, kube-proxy, containerd, the load balancer) as they will be "
                "laid out on the VMs, under OUT/hosts/<host>/. Output is deterministic.")
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")
    p.add_argument("--out", metavar="DIR", help="output directory (default .halab/<lab>/)")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="tune etcd timings for software emulation (tcg, default) or KVM")
    p = command("up", lambda a: lab.up(a.lab), "boot and provision a lab",
                "Preflight (libvirt daemons, KVM or software emulation, RAM, disk, subnets), "
                "build or reuse the box, render, boot the VMs with Vagrant + libvirt, and "
                "provision them over SSH tier by tier: etcd (TLS, client certificates), then "
                "the load balancer, each healthy before the next. Running it again changes "
                "only what differs and reports the number of changes.")
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")

    p = command("status", lambda a: lab.status(a.lab), "show every host of a lab",
                "One row per host: role, zone, VM state, IP, etcd membership and leader, raft "
                "term, and for the load balancer the masters it can reach.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")

    p = command("halt", lambda a: lab.halt(a.lab, a.host, a.hard), "stop one VM",
                "Shut a VM down gracefully (default) or pull its plug (--hard). For a master "
                "of a 3+ member cluster this is the failover demo: it writes numbered keys "
                "through the LB, prints who leads, halts the VM, then prints the time until a "
                "new leader was seen, the longest write gap, writes acknowledged against writes "
                "found afterwards, and the member list with the halted member unreachable.")
    p.add_argument("host")
    p.add_argument("--hard", action="store_true", help="power off without a guest shutdown")
    p.add_argument("--lab", help="lab name or topology file (needed when several labs exist)")

    p = command("start", lambda a: lab.start(a.lab, a.host), "start a halted VM again",
                "Boot a halted VM. For a master, also print the time until it rejoined and "
                "caught up (its raft index equal to the leader's).")
    p.add_argument("host")
    p.add_argument("--lab", help="lab name or topology file")

    p = command("verify", lambda a: lab.verify(a.lab, a.junit, a.scenario, a.hard),
                "check a lab's hosts, or run the failover scenario",
                "Run the testinfra checks against every host over SSH and print one line per "
                "check and a total: etcd (service, member list = topology, health, one leader "
                "and term, no certificate → refused, replication) and the load balancer "
                "(ports, etcd through it, backends = masters). Kube checks are skipped until "
                "the kube tier exists.\n\n"
                "--scenario failover halts whichever master leads while writing through the "
                "LB, and asserts: a new leader within 2 × the election timeout, no "
                "acknowledged write lost, a healthy 2-of-3 cluster, and 3 healthy members "
                "after the restart. Exit status 1 if anything failed.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test per check)")
    p.add_argument("--scenario", choices=["failover"], help="run a scenario instead of checks")
    p.add_argument("--hard", action="store_true",
                   help="with --scenario failover: power the leader off instead of a shutdown")

    p = command("ssh", lambda a: lab.ssh(a.lab, a.host, a.command), "log in to a VM",
                "Open an SSH session to a VM (as vagrant, with sudo), or run COMMAND there.")
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER, help="optional command to run")
    p.add_argument("--lab", help="lab name or topology file")

    p = command("down", lambda a: lab.down(a.lab, a.yes), "destroy a lab",
                "Destroy exactly this lab's VMs, volumes and networks (found by the lab's "
                "name), and its .halab/<lab>/ directory. Other labs are not touched.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    add_box_commands(sub)
    add_binaries_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HalabError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
