"""Command line: argument parsing and dispatch only; the work is done by the modules it calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from halab import __version__, providers, ui
from halab.cli import readylabs
from halab.cli.binaries import add_binaries_commands
from halab.cli.box import add_box_commands
from halab.cli.drills import add_drill_commands
from halab.cli.locking import add_lock_option, lab_lock
from halab.config import plan, students
from halab.config.topology import Loaded, TopologyError, load
from halab.errors import HalabError
from halab.home import labs_dir
from halab.lab import doctor, down, hostcheck, membership, power, scenarios, status, up
from halab.render import files as render
from halab.session import labdir
from halab.session.context import Lab
from halab.workshop import diagram, report

DEFAULT_LAB = "labs/seed.yaml"

DESCRIPTION = """\
halab builds bare-metal-style HA Kubernetes labs from one topology file: an etcd cluster on the
masters, an nginx, Pound or HAProxy load balancer in front of them, and (optionally) a Kubernetes
control plane and minions with flannel.

The hosts are VMs (Vagrant + libvirt) or system containers (systemd-nspawn, on this host's
kernel): `up --provider vm|container`, or the topology's `provider`; auto means VMs where KVM
works, containers otherwise. A lab keeps the provider it was created with.
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

LAB arguments take a topology file or the name of a lab brought up before; with one lab up
they can be left out.
"""


def _load(path: str) -> Loaded:
    loaded = load(path)
    for w in loaded.warnings:
        ui.warn(w)
    return loaded


def _load_lab(args: argparse.Namespace) -> Loaded:
    """The file as written, or with --student N that student's copy (validated the same way)."""
    if args.student is None:
        return _load(args.lab)
    derived = students.derive_lab(load(args.lab), args.student)
    for w in derived.loaded.warnings:
        ui.warn(w)
    ui.info(derived.summary())
    return derived.loaded


def _add_student_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--student", type=int, metavar="N",
                   help=f"student N's own copy of the lab, N in 1–{students.N_MAX} (a "
                        "workshop): lab <lab>-sNN on network 10.150.N.0/24, management "
                        "10.151.N.0/24, every host at its offset (.11 stays .11)")


def cmd_validate(args: argparse.Namespace) -> int:
    """The file, then (unless --no-host-check) its networks against this host, as `up` would."""
    loaded = _load_lab(args)
    topo = loaded.topology
    if args.no_host_check:
        looked = "not done (--no-host-check)"
    else:
        found, looked = hostcheck.subnet_problems(loaded)
        if found:
            raise TopologyError(found)
        looked = f"done, no collision ({looked})"
    roles = {r: len(topo.by_role(r)) for r in ("lb", "master", "minion")}
    kube = "on" if topo.kubernetes.enabled else "off"
    ui.info(f"{args.lab}: lab {topo.name!r} is valid — {roles['lb']} lb, {roles['master']} "
            f"master, {roles['minion']} minion; LB {topo.lb.kind}; kube tier {kube}\n"
            f"  host check: {looked}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    topo = _load_lab(args).topology
    state = labdir.read_state(labdir.lab_path(topo.name))
    had = state.created_with if state else None
    kind, why = (had, "the lab was created with it") if had else providers.choose(topo.provider)
    p = plan.build(topo, "native" if kind == "container" else "tcg", (), kind)  # type: ignore[arg-type]
    ui.info(f"[bold]halab doctor[/]: can this host run lab {p.lab!r} ({len(p.hosts)} "
            f"{'containers' if p.containers else 'VMs'})?")
    return doctor.report(p, [doctor.provider(kind, why), *doctor.gather(p)])


def cmd_render(args: argparse.Namespace) -> int:
    """Renders what `up` would: a lab changed by add-master/remove-master/replace from its own
    copy, with the members that joined it."""
    found = labdir.resolve(args.lab, args.student)
    if found.note:
        ui.warn(found.note)
    loaded = _load_lab(args) if args.student is not None and not found.note else \
        _load(found.topology)
    state = labdir.read_state(labdir.lab_path(loaded.topology.name))
    kind = args.provider or (state.created_with if state else None) or \
        providers.choose(loaded.topology.provider)[0]
    accel = "native" if kind == "container" else args.accel
    p = plan.build(loaded.topology, accel=accel,
                   joining=tuple(state.joined) if state else (), provider=kind)
    out = Path(args.out) if args.out else labs_dir() / p.lab
    rendered = render.render(p, providers.for_lab(out, p).files(p))
    changed = render.write(rendered, out)
    count = sum(len(f) for f in rendered.hosts.values())
    ui.info(f"rendered lab {p.lab!r} into {out}: Vagrantfile + {count} files for "
            f"{len(rendered.hosts)} hosts ({len(changed)} changed)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if not args.all:
        return status.status(args.lab)
    if args.lab:
        raise HalabError(f"give a lab or --all, not both (got {args.lab!r} and --all)",
                         f"`halab status --all` or `halab status {args.lab}`")
    return status.status_all()


def _read_results(files: list[str]) -> tuple[list[report.LabResult], list[str]]:
    """The given JUnit files, or the latest results of every lab here and the labs without."""
    if files:
        return [report.parse(_read(Path(f)), f) for f in files], []
    results, missing = [], []
    for name in labdir.known_labs():
        path = labdir.junit_path(labdir.lab_path(name))
        if path.is_file():
            results.append(report.parse(_read(path), str(path), lab=name))
        else:
            missing.append(name)
    return results, missing


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HalabError(f"no JUnit file at {path}",
                         "`halab verify LAB --junit FILE` writes one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HalabError(f"cannot read {path}: {exc}") from None


def cmd_report(args: argparse.Namespace) -> int:
    results, missing = _read_results(args.junit)
    if not results and not missing:
        raise HalabError("no lab has been brought up here, so there are no results to report",
                         "give JUnit files (`halab report FILE...`), or `halab up` and "
                         "`halab verify` a lab first")
    text = report.markdown(results, missing)
    if not args.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise HalabError(f"cannot write {args.out}: {exc}", "give another --out FILE") from None
    failed = sum(1 for r in results if r.count(report.FAILED))
    ui.info(f"wrote {args.out}: {len(results)} lab(s) verified, {failed} with failed checks"
            + (f", {len(missing)} not verified yet" if missing else ""))
    return 0


def _drawn_topology(arg: str | None) -> str:
    """A file or a lab that is up (its own copy once changed); with neither, the only lab that
    is up, else the seed lab."""
    if arg is None and len(labdir.known_labs()) != 1:
        return DEFAULT_LAB
    found = labdir.resolve(arg)
    if found.note:
        ui.warn(found.note)
    return found.topology


def cmd_diagram(args: argparse.Namespace) -> int:
    """Without --live only the topology is read, so a lab never brought up can be drawn."""
    the_lab = Lab.existing(args.lab) if args.live else None
    p = the_lab.plan if the_lab else plan.build(_load(_drawn_topology(args.lab)).topology)
    paths = diagram.outputs(Path(args.out) if args.out else labs_dir() / p.lab / "diagram")
    live = None
    if the_lab:
        try:
            live = status.live_state(the_lab)
        finally:
            the_lab.close()
    written = diagram.render_files(diagram.build(p, live), paths)
    for note in live.notes if live else ():
        ui.warn(f"not coloured in: {note}")
    ui.info(f"drew lab {p.lab!r}{' as it is now' if live else ''}: "
            + ", ".join(str(w) for w in written))
    return 0


DIAGRAM_EPILOG = """\
colours with --live: etcd leader (amber), halted host (grey, dashed), LB backend down (red
dashed arrow), holder of the kube-controller-manager or kube-scheduler lease (purple border).

examples:
  halab diagram                          the lab that is up, else labs/seed.yaml
  halab diagram labs/zones.yaml          writes .halab/zones/diagram.svg and diagram.png
  halab diagram labs/seed.yaml --out seed.png
  halab diagram seed --live --out /tmp/now   /tmp/now.svg and /tmp/now.png, state coloured in
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halab", description=f"{DESCRIPTION}\n{readylabs.listing()}", epilog=EPILOG,
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
    p.add_argument("--no-host-check", action="store_true",
                   help="check the file only, not its networks against this host's routes, "
                        "addresses and labs (e.g. for a lab meant for another machine)")
    _add_student_option(p)

    p = command("doctor", cmd_doctor, "check that this host can run a lab (before a workshop)",
                "The preflight of `halab up` on its own, creating nothing: Debian packages "
                "(for VMs Vagrant, vagrant-libvirt, libvirt and qemu; for containers "
                "systemd-container), the libvirt daemons (started if needed), for VMs whether "
                "KVM really works or software emulation will be used, free "
                "RAM and disk against the lab, subnet collisions with this host's routes and "
                "libvirt networks, the box cache and the Kubernetes binary cache. Each problem "
                "comes with its fix. Exit status 1 when the lab cannot come up here; warnings "
                "(emulation, no box yet, no kube binaries) do not fail.")
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")
    _add_student_option(p)

    p = command("render", cmd_render, "write the Vagrantfile and every host's config files",
                "Render the Vagrantfile and every host's configuration files (etcd, flannel, "
                "kube-*, kubelet, kube-proxy, containerd, the load balancer) as they will be "
                "laid out on the hosts, under OUT/hosts/<host>/. Output is deterministic.")
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")
    p.add_argument("--out", metavar="DIR", help="output directory (default .halab/<lab>/)")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="tune etcd timings for software emulation (tcg, default) or KVM")
    p.add_argument("--provider", choices=providers.KINDS,
                   help="render for VMs or system containers (default: the lab's, else the "
                        "topology's `provider`, where auto means VMs only where KVM works)")
    _add_student_option(p)
    p = command("up", lambda a: up.up(a.lab, a.student, a.provider, kube=not a.no_kube),
                "boot and provision a lab",
                "Preflight (daemons, KVM or software emulation, RAM, disk, subnets), build or "
                "reuse the box, get the Kubernetes binaries when the lab has the kube tier "
                "(the cache, else the official release downloads, else a build from Go "
                "modules), render, boot the hosts, and provision them over SSH tier by tier: "
                "etcd (TLS, client certificates), the load balancer, the Kubernetes control "
                "plane, the minions, each healthy before the next. Running it again changes "
                "only what differs and reports the number of changes.\n\n"
                "If the Kubernetes binaries cannot be had, etcd and the load balancer still come "
                "up, and `up` ends with what is missing and exit status 1. --no-kube leaves the "
                "kube tier out on purpose (as `kubernetes.enabled: false` does).\n\n"
                "--student N brings up student N's own copy of the lab (a workshop: several "
                "labs on one host): named <lab>-sNN, on its own networks, saved as "
                ".halab/<lab>-sNN/topology.yaml so `halab status|verify|down <lab>-sNN` find "
                "it.\n\n"
                "--provider: vm (Vagrant + libvirt VMs) or container (systemd-nspawn system "
                "containers on this host's kernel, native speed, privileged). Default: the "
                "topology's `provider`, auto: VMs where KVM works, containers otherwise. A lab "
                "keeps the provider it was created with.")
    p.add_argument("lab", nargs="?", default=DEFAULT_LAB, help=f"topology file ({DEFAULT_LAB})")
    p.add_argument("--provider", choices=providers.KINDS,
                   help="vm or container (default: the topology's `provider`, auto)")
    p.add_argument("--no-kube", action="store_true",
                   help="leave the Kubernetes tier out this time (etcd and the LB only)")
    _add_student_option(p)
    add_lock_option(p)

    p = command("status", cmd_status, "show every host of a lab, or every lab (--all)",
                "One row per host: role, zone, state (of its VM or container), IP, etcd "
                "membership and leader, raft term, and for the load balancer the masters it can "
                "reach.\n\n"
                "--all: one row per lab brought up on this host (student labs of a workshop "
                "too): its hosts, how many run, and which do not or that they are gone.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--all", action="store_true", help="every lab on this host, one row each")

    p = command("halt", lambda a: power.halt(a.lab, a.host, a.hard, a.zone, a.all),
                "stop one host, a zone, or every host",
                "Shut a host down gracefully (default) or pull its plug (--hard). For a master "
                "of a 3+ member cluster this is the failover demo: it writes numbered keys "
                "through the LB, prints who leads, halts the host, then prints the time until a "
                "new leader was seen, the longest write gap, writes acknowledged against writes "
                "found afterwards, and the member list with the halted member unreachable.\n\n"
                "--zone Z halts every host of zone Z at once (losing a zone), --all every host of "
                "the lab (`halab up` afterwards is a cold restart). Both say first what is left "
                "of etcd's quorum, and show the member list afterwards.")
    p.add_argument("host", nargs="?", help="the host to halt (or give --zone or --all)")
    p.add_argument("--zone", metavar="Z", help="halt every host whose topology zone is Z")
    p.add_argument("--all", action="store_true", help="halt every host of the lab")
    p.add_argument("--hard", action="store_true", help="power off without a guest shutdown")
    p.add_argument("--lab", help="lab name or topology file (needed when several labs exist)")
    add_lock_option(p)

    p = command("start", lambda a: power.start(a.lab, a.host, a.zone, a.all),
                "start a halted host, a zone, or every host",
                "Boot a halted host. For a master, also print the time until it rejoined and "
                "caught up (its raft index equal to the leader's). --zone Z and --all boot "
                "several at once and wait until every etcd member is healthy.")
    p.add_argument("host", nargs="?", help="the host to start (or give --zone or --all)")
    p.add_argument("--zone", metavar="Z", help="start every host whose topology zone is Z")
    p.add_argument("--all", action="store_true", help="start every host of the lab")
    p.add_argument("--lab", help="lab name or topology file")
    add_lock_option(p)

    p = command("verify", lambda a: scenarios.verify(a.lab, a.junit, a.scenario, a.hard),
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
    add_lock_option(p, when=lambda a: a.scenario is not None)  # the checks only read

    p = command("ssh", lambda a: down.ssh(a.lab, a.host, a.command), "log in to a lab host",
                "Open an SSH session to a lab host (as vagrant, with sudo), or run COMMAND there.")
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER, help="optional command to run")
    p.add_argument("--lab", help="lab name or topology file")

    p = command("add-master", lambda a: membership.add_master(a.lab, a.name, a.ip, a.zone),
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

    p = command("remove-master", lambda a: membership.remove_master(a.lab, a.host, a.force),
                "remove a master: etcd member remove, destroy its host",
                "The reverse of add-master: `etcdctl member remove`, destroy the host, then "
                "`halab up` converges the LB's backends and the other members. Leaving exactly "
                "2 masters is refused (two members tolerate no failure) unless --force.")
    p.add_argument("host", help="the master to remove")
    p.add_argument("--lab", help="lab name or topology file")
    p.add_argument("--force", action="store_true", help="allow leaving exactly 2 masters")
    add_lock_option(p)

    p = command("replace", lambda a: membership.replace(a.lab, a.host),
                "replace a (failed) master with a fresh host of the same name and zone",
                "The seeds' recipe for a failed replica: remove it from etcd, destroy its host, "
                "add it back as a new member, and `halab up` rebuilds it (same name, address "
                "and zone; a fresh disk, so etcd syncs it from the others).")
    p.add_argument("host", help="the master to replace")
    p.add_argument("--lab", help="lab name or topology file")
    add_lock_option(p)

    p = command("down", lambda a: down.down(a.lab, a.yes), "destroy a lab",
                "Destroy exactly this lab's hosts (VMs or containers), disks and networks "
                "(found by the lab's name), and its .halab/<lab>/ directory. Other labs are not "
                "touched.")
    p.add_argument("lab", nargs="?", help="lab name or topology file")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_lock_option(p)

    p = command("diagram", cmd_diagram, "draw the lab as a picture (SVG and PNG)",
                "Draw the lab from its topology with Graphviz: hosts grouped by zone, the load "
                "balancer on top with its arrows to the masters, the etcd peer links between "
                "the masters, and the minions below with their link to the API through the LB. "
                "Without --live no host is needed: LAB may be a topology file never brought up.\n\n"
                "--live colours in the lab's state now: the etcd leader, halted hosts, masters "
                "the LB cannot reach, and the holders of the controller-manager and scheduler "
                "leases. What cannot be asked is left uncoloured and said.")
    p.epilog = DIAGRAM_EPILOG
    p.add_argument("lab", nargs="?",
                   help=f"topology file or lab name (the only lab up, else {DEFAULT_LAB})")
    p.add_argument("--out", metavar="FILE",
                   help="FILE.svg or FILE.png writes that; FILE with no suffix writes both "
                        "(default .halab/<lab>/diagram.svg and .png)")
    p.add_argument("--live", action="store_true",
                   help="colour in the current state of a lab that is up (asks its hosts)")

    p = command("report", cmd_report, "summarise verify results of every lab as Markdown",
                "Write a Markdown report from `halab verify` results: one table over all labs "
                "(checks passed, failed and skipped), then per lab every failed check with its "
                "host and message, and the skipped ones with the reason. Without FILEs it reads "
                "the latest results of every lab on this host (.halab/<lab>/verify.junit.xml) "
                "and lists labs not verified yet.\n\n"
                "example, a workshop:\n"
                "  for n in $(seq -w 1 12); do halab verify seed-s$n; done\n"
                "  halab report --out report.md")
    p.add_argument("junit", nargs="*", metavar="FILE",
                   help="JUnit XML files from `halab verify --junit FILE` (default: every lab's "
                        "latest results)")
    p.add_argument("--out", metavar="FILE", help="write the Markdown here (default: print it)")

    add_drill_commands(sub)
    add_box_commands(sub)
    add_binaries_commands(sub)
    return parser


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
