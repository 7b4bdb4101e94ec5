"""`halab validate|doctor|render|up|status`: a lab from its file to running, and how it is.

Argument parsing only; `halab.lab` acts, and `halab.session` decides the provider and
acceleration.
"""

from __future__ import annotations

import argparse

from halab import providers
from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, add_student_option, add_topology_argument, command
from halab.errors import HalabError
from halab.lab import doctor, hostcheck, render, status, up

DOCTOR_HELP = (
    "The preflight of `halab up` on its own, creating nothing: Debian packages (Vagrant, "
    "vagrant-libvirt, libvirt and qemu), for containers Incus (incusd started if needed) and "
    "halab's storage pool, for VMs the libvirt daemons (started if needed) and whether KVM "
    "really works or software emulation will be used, free RAM and disk against the lab, subnet "
    "collisions with this host's routes and the other labs' networks, the box cache and the "
    "Kubernetes binary cache. Each problem comes with "
    "its fix. Exit status 1 when the lab cannot come up here; warnings (emulation, no box yet, "
    "no kube binaries) do not fail.")

UP_HELP = (
    "Preflight (daemons, KVM or software emulation, RAM, disk, subnets), build or reuse the "
    "box, get the Kubernetes binaries when the lab has the kube tier (the cache, else the "
    "official release downloads, else a build from Go modules), render, boot the hosts, and "
    "provision them over SSH tier by tier: etcd (TLS, client certificates), the load balancer, "
    "the Kubernetes control plane, the minions, each healthy before the next. Running it again "
    "changes only what differs and reports the number of changes.\n\n"
    "If the Kubernetes binaries cannot be had, etcd and the load balancer still come up, and "
    "`up` ends with what is missing and exit status 1. --no-kube leaves the kube tier out on "
    "purpose (as `kubernetes.enabled: false` does).\n\n"
    "--student N brings up student N's own copy of the lab (a workshop: several labs on one "
    "host): named <lab>-sNN, on its own networks, saved as .halab/<lab>-sNN/topology.yaml so "
    "`halab status|verify|down <lab>-sNN` find it.\n\n"
    "--provider: vm (Vagrant + libvirt VMs) or container (Incus system containers on this "
    "host's kernel, native speed; privileged, with nesting: root in a lab host is root on this "
    "machine). Default: the topology's `provider`, auto: VMs where KVM works, containers "
    "otherwise. A lab keeps the provider it was created with.")


def add_lab_commands(sub: Subparsers) -> None:
    p = command(sub, "validate", lambda a: hostcheck.validate(a.lab, a.student,
                                                              not a.no_host_check),
                "check a topology file; create nothing",
                "Check the whole topology file and report every problem with its file, line "
                "and field. Nothing is written or created.")
    add_topology_argument(p)
    p.add_argument("--no-host-check", action="store_true",
                   help="check the file only, not its networks against this host's routes, "
                        "addresses and labs (e.g. for a lab meant for another machine)")
    add_student_option(p)

    p = command(sub, "doctor", lambda a: doctor.doctor(a.lab, a.student, a.incus_remote),
                "check that this host can run a lab (before a workshop)", DOCTOR_HELP)
    add_topology_argument(p)
    add_student_option(p)
    p.add_argument("--incus-remote", metavar="NAME",
                   help="check the Incus cluster this remote reaches instead: every member "
                        "answers, the image, and where each host would go")

    _add_render(sub)

    p = command(sub, "up", lambda a: up.up(a.lab, a.student, a.provider, kube=not a.no_kube,
                                           incus_remote=a.incus_remote),
                "boot and provision a lab", UP_HELP)
    add_topology_argument(p)
    p.add_argument("--provider", choices=providers.KINDS,
                   help="vm or container (default: the topology's `provider`, auto)")
    p.add_argument("--incus-remote", metavar="NAME",
                   help="run the hosts on the Incus cluster this remote reaches (the topology's "
                        "`incus.remote`; `halab cluster-sim up` makes halab-sim): each zone on "
                        "one member, placed before anything is created (docs/cluster.md)")
    p.add_argument("--no-kube", action="store_true",
                   help="leave the Kubernetes tier out this time (etcd and the LB only)")
    add_student_option(p)
    add_lock_option(p)

    p = command(sub, "status", cmd_status, "show every host of a lab, or every lab (--all)",
                "One row per host: role, zone, state (of its VM or container), IP, etcd "
                "membership and leader, raft term, and for the load balancer the masters it can "
                "reach.\n\n"
                "--all: one row per lab brought up on this host (student labs of a workshop "
                "too): its hosts, how many run, and which do not or that they are gone.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--all", action="store_true", help="every lab on this host, one row each")


def _add_render(sub: Subparsers) -> None:
    p = command(sub, "render",
                lambda a: render.render(a.lab, a.student, a.provider, a.accel, a.out),
                "write the Vagrantfile and every host's config files",
                "Render the Vagrantfile and every host's configuration files (etcd, flannel, "
                "kube-*, kubelet, kube-proxy, containerd, the load balancer) as they will be "
                "laid out on the hosts, under OUT/hosts/<host>/. Output is deterministic.")
    add_topology_argument(p)
    p.add_argument("--out", metavar="DIR", help="output directory (default .halab/<lab>/)")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="tune etcd timings for software emulation (tcg, default) or KVM")
    p.add_argument("--provider", choices=providers.KINDS,
                   help="render for VMs or system containers (default: the lab's, else the "
                        "topology's `provider`, where auto means VMs only where KVM works)")
    add_student_option(p)


def cmd_status(args: argparse.Namespace) -> int:
    if not args.all:
        return status.status(args.lab)
    if args.lab:
        raise HalabError(f"give a lab or --all, not both (got {args.lab!r} and --all)",
                         f"`halab status --all` or `halab status {args.lab}`")
    return status.status_all()
