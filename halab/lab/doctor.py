"""`halab doctor`: the preflight alone, before a workshop, with a fix for every problem.

Each finding is ok, a warning (the lab still comes up, e.g. slower, or without the kube tier),
or blocking (`halab up` would stop). The judgements are pure functions of facts the providers
gather; `gather` is the only part that asks the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from halab import ui
from halab.artifacts import binaries, boxes
from halab.config import placement, preflight
from halab.config.plan import Plan

OK, WARN, BLOCK = "ok", "warning", "blocking"


def doctor(path: str, student: int | None, incus_remote: str | None = None) -> int:
    """`halab doctor`: the lab planned as `up` would plan it (its provider decided the same
    way), then every finding."""
    from halab.session.choice import Asked
    from halab.session.context import Lab, read

    lab = Lab.planned(path, read(path, student), Asked(incus_remote=incus_remote))
    p = lab.plan
    ui.info(f"[bold]halab doctor[/]: can this host run lab {p.lab!r} ({len(p.hosts)} "
            f"{'containers' if p.containers else 'VMs'})?")
    return report(p, [provider(p.provider, lab.why), *gather(p)])

MARK = {OK: "[green]✓[/]", WARN: "[yellow]![/]", BLOCK: "[red]✗[/]"}

# What `halab up` runs on the host (the rest of `make deps` is for building and testing).
RUNTIME_PACKAGES = ["vagrant", "vagrant-libvirt", "libvirt-daemon-system", "qemu-system-x86",
                    "qemu-utils", "dnsmasq-base", "openssh-client", "debootstrap", "umoci"]


@dataclass(frozen=True)
class Finding:
    area: str
    status: str  # OK, WARN or BLOCK
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix else ""
        return f"{MARK[self.status]} {self.area:<10} {self.detail}{fix}"


def packages(missing: list[str]) -> Finding:
    if not missing:
        return Finding("packages", OK, "Vagrant, vagrant-libvirt, libvirt and qemu are installed")
    return Finding("packages", BLOCK, f"missing Debian packages: {', '.join(missing)}",
                   "`make deps` (installs them with apt)")


def provider(kind: str, why: str) -> Finding:
    """Which provider the lab uses, and why; for containers, what that costs in isolation."""
    if kind == "container":
        return Finding("provider", OK, f"system containers (Incus): {why}; they are privileged, "
                                       "with nesting: root in a lab host is root on this machine")
    return Finding("provider", OK, f"VMs (Vagrant + libvirt): {why}")


# The container provider's engine, and how `make` installs it.
ENGINE_FIX = "`make deps` (scripts/incus-install: incus-base and incus-client)"


def daemons(running: bool, why: str = "", containers: bool = False) -> Finding:
    if containers:
        return (Finding("engine", OK, "Incus is installed and incusd answers; halab runs as root")
                if running else Finding("engine", BLOCK, why, ENGINE_FIX))
    if running:
        return Finding("libvirt", OK, "virtlogd and libvirtd answer on their sockets")
    return Finding("libvirt", BLOCK, f"libvirtd could not be started: {why}",
                   "look at /var/log/libvirt/ and run `libvirtd -d` by hand")


def cluster(facts: placement.ClusterFacts) -> list[Finding]:
    """Every member answering and online (the lab's network spans them all), the box's image
    there or to be imported once, and where each host would go."""
    out = []
    down = [f"{r.member} is {r.status}" for r in facts.rooms if r.status != placement.ONLINE]
    members = ", ".join(f"{r.member} ({r.free_mib} MiB free)" for r in facts.rooms)
    out.append(Finding("cluster", BLOCK, f"{facts.remote}: {'; '.join(down)}",
                       "bring the member back (`incus cluster list`), or `halab cluster-sim "
                       "up` for the simulation") if down else
               Finding("cluster", OK, f"{facts.remote} answers: {members}"))
    out.append(Finding("image", OK, f"the cluster has {facts.image}") if facts.image else
               Finding("image", WARN, "the box's image is not on the cluster yet",
                       "nothing to do: `halab up` imports it once through Incus"))
    if facts.placed is None:
        out.append(Finding("placement", BLOCK, facts.problem.splitlines()[0],
                           "; ".join(facts.problem.splitlines()[1:]).strip()))
    else:
        out.append(Finding("placement", OK, "; ".join(facts.placed.lines())))
    return out


def accel(kind: str) -> Finding:
    if kind == "native":
        return Finding("speed", OK, "containers run on this host's kernel at native speed")
    if kind == "kvm":
        return Finding("KVM", OK, "a kernel really booted under KVM: VMs use hardware "
                                  "virtualisation")
    return Finding("KVM", WARN, "KVM does not work here: VMs run under software emulation "
                                "(TCG), several times slower; etcd and lease timings are relaxed",
                   "nothing to do for a lab; for speed, use a host with working /dev/kvm")


def resources(plan: Plan, facts: preflight.HostFacts, running: set[str]) -> list[Finding]:
    """RAM, disk and subnets, judged exactly as `halab up`'s preflight judges them."""
    found = [Finding("resources", BLOCK, p) for p in preflight.problems(plan, facts, running)]
    if found:
        return found
    need = preflight.needed_mib(plan, running)
    ram = (f"{need} MiB of RAM needed, {facts.mem_available_mib} MiB available" if need else
           "its hosts already run")
    return [Finding("resources", OK, f"{ram}; {facts.disk_free_gib:.0f} GiB of disk free; "
                                     f"subnets {plan.subnet} and {plan.management_subnet} are "
                                     "free")]


def box(plan: Plan, built: bool, registered: bool) -> Finding:
    name = f"halab/{plan.box}"
    if built and registered:
        return Finding("box", OK, f"{name} is built and registered with Vagrant")
    if built:
        return Finding("box", WARN, f"{name} is built but not registered with Vagrant",
                       "`halab up` registers it (seconds)")
    return Finding("box", WARN, f"{name} is not built yet",
                   "`make box` now, or let `halab up` build it (a few minutes, offline)")


def capacity(plan: Plan, accel: str, cores: int) -> Finding:
    why = preflight.kube_capacity(plan, accel, cores)
    if why:
        return Finding("cpu", WARN, why, preflight.KUBE_CAPACITY_FIX)
    cores_line = f"{cores or 'an unknown number of'} cores"
    if plan.kube is None or plan.containers:
        return Finding("cpu", OK, cores_line + (" for the kube tier" if plan.kube else ""))
    return Finding("cpu", OK, f"{cores_line} for the kube tier; "
                              f"{preflight.kube_needs(plan, accel)}")


def kube_binaries(plan: Plan, available: tuple[bool, str]) -> Finding:
    if plan.kube is None:
        return Finding("kube", OK, "the lab has no kube tier: no binaries needed")
    ok, reason = available
    if ok:
        return Finding("kube", OK, reason)
    return Finding("kube", WARN, reason.split(": run")[0] + "; `halab up` gets them first "
                   "(the release downloads where reachable, else a build from Go modules: "
                   f"{binaries.ROUTE_COSTS['build']})",
                   "nothing: `halab up` does it (or `halab binaries fetch|build` beforehand)")


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status == BLOCK]


def gather(plan: Plan) -> list[Finding]:
    """Ask the host. The provider's daemons are started if needed, as `halab up` would."""
    from halab import providers
    from halab.errors import HalabError
    from halab.providers import hostfacts
    from halab.session import labdir

    found = [packages(hostfacts.missing_packages(RUNTIME_PACKAGES))]
    if found[0].status == BLOCK:
        return found
    provider = providers.for_lab(labdir.lab_path(plan.lab), plan)
    try:
        provider.prepare()
        found.append(daemons(True, containers=plan.containers))
    except HalabError as exc:
        return [*found, daemons(False, exc.message, plan.containers)]
    try:
        states = provider.states(plan)
        running = {h for h, s in states.items() if s == "running"}
        facts = hostfacts.gather(provider.networks_in_use())
        found += resources(plan, facts, running)
        if plan.cluster is not None:
            found += cluster(provider.cluster_facts(plan))
        kind = provider.acceleration()
    finally:
        provider.close()
    record = boxes.read_record(plan.box)
    registered = record is not None and boxes.registered_key(record.box_name) == record.key
    found.append(box(plan, record is not None, registered))
    found.append(accel(kind))
    found.append(capacity(plan, kind, facts.cores))
    found.append(kube_binaries(plan, binaries.available(plan.kube.version) if plan.kube
                               else (True, "")))
    return found


def report(plan: Plan, findings: list[Finding]) -> int:
    for f in findings:
        ui.info(f.line())
    stop = blocking(findings)
    if stop:
        ui.info(f"[bold red]lab {plan.lab!r} cannot come up here[/]: {len(stop)} blocking "
                "problem(s) above")
        return 1
    warned = sum(f.status == WARN for f in findings)
    ui.info(f"[bold green]lab {plan.lab!r} can come up here[/]"
            + (f" ({warned} warning(s) above)" if warned else ""))
    return 0
