"""Command line: argument parsing and dispatch only; the work is done by the modules it calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from halab import __version__, plan, render, ui
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
