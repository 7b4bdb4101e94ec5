"""The container provider, Incus: each lab host is an Incus system container in the lab's own
project, on the lab's own managed bridge, cloned copy-on-write from the box's image. Incus owns the
containers' state: what `status` says is what Incus says.

Containers share the host's kernel: they are privileged, and root in a lab host is root on this
machine. VMs are the isolated choice.

On an Incus cluster (the topology's `incus:`), the same objects live on the cluster, reached
through an Incus remote: each host is placed on a member before anything is created, and the
lab's network spans the members (`incus.cluster`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from ipaddress import IPv4Network
from pathlib import Path

from halab import hostlock, ui
from halab.config import owned, placement
from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll
from halab.providers import inotify, sshconfig
from halab.providers.incus import (
    cgroups,
    checks,
    client,
    cluster,
    clustersim,
    config,
    guest,
    image,
    names,
    objects,
    sysctls,
    veths,
)
from halab.providers.protocol import OnLine
from halab.render import hostkeys

PRIVILEGED = ("Incus containers are privileged, with nesting: root in a lab host is root on "
              "this machine (VMs are the isolated choice)")


PLACING_TIMEOUT = 600  # s: other labs placing and creating their instances on the same cluster
OFF_POLLS = 2  # "shut off" on this many polls in a row, a second apart, counts as off
IMAGE_FILE = "incus-image"  # in the lab's directory: the image its hosts were created from


class Incus:
    kind = "container"

    def __init__(self, lab_dir: Path, plan: Plan):
        self.lab_dir, self.plan = Path(lab_dir), plan
        self._image: str | None = None
        # None: this machine's own incusd; else the remote that reaches the lab's cluster.
        self.remote = plan.cluster.remote if plan.cluster else None

    @property
    def project(self) -> str:
        return names.project(self.plan.lab)

    @property
    def bridge(self) -> str:
        return names.cluster_bridge(self.plan.lab) if self.remote else names.bridge(self.plan.lab)

    def prepare(self) -> None:
        """incusd answering (started here when no service runs it; a cluster answers through
        its remote), root and the kernel's features, then halab's pool."""
        if self.remote:
            cluster.members(self.remote)
        else:
            client.ensure_daemon()
        checks.host_ready()
        objects.ensure_pool(self.remote)

    def networks_in_use(self) -> dict[str, tuple[IPv4Network, str]]:
        """Every halab lab's Incus bridge: `halab-<lab>` → (subnet, bridge)."""
        return objects.lab_networks(self.remote)

    @staticmethod
    def acceleration() -> str:
        return "native"

    def ensure_image(self, box: str) -> str:
        """The image the lab's hosts were created from (recorded in the lab's directory), so a
        box rebuilt since does not mix into a running lab; else the box's, imported once."""
        kept = self._kept_image()
        if kept is not None and client.exists("image", "show", names.at(self.remote, kept)):
            self._image = kept
            return f"image {kept}: the one this lab was created from ({PRIVILEGED})"
        self._image, how = image.ensure(box, self.remote)
        return f"image {self._image}: {how} ({PRIVILEGED})"

    def _kept_image(self) -> str | None:
        try:
            return (self.lab_dir / IMAGE_FILE).read_text().strip() or None
        except OSError:
            return None

    def files(self, plan: Plan) -> dict[str, str]:
        return {}

    def states(self, plan: Plan) -> dict[str, str]:
        have = objects.instances(self.project, self.remote)
        return {h.name: have.get(h.domain, "not created") for h in plan.hosts}

    def members(self, plan: Plan) -> dict[str, str]:
        """Each created host's cluster member ({} off a cluster)."""
        if not self.remote:
            return {}
        have = objects.located(self.project, self.remote)
        return {h.name: have[h.domain][1] for h in plan.hosts if h.domain in have}

    def lose_member(self, member: str) -> str:
        m = self._simulated(member)
        n = clustersim.kill_member(m)
        return f"{member}: its incusd and every process of its containers killed ({n} processes)"

    def restore_member(self, member: str) -> str:
        m = self._simulated(member)
        took = clustersim.revive(m)
        return f"{member}: incusd running again and Online in the cluster after {took:.1f}s"

    def _simulated(self, member: str) -> clustersim.Member:
        """halab takes away only the simulation's members: a real machine is the user's."""
        if self.remote != clustersim.REMOTE:
            raise HalabError(f"halab takes a member away only in the simulated cluster, and "
                             f"this lab runs on {self.remote or 'this machine'}",
                             f"on real machines: `incus cluster evacuate {self.remote}:{member}`"
                             ", or power the machine off; `incus cluster restore` brings it "
                             "back")
        return clustersim.member(member)

    def objects(self, plan: Plan) -> owned.Objects:
        out = {"container": [h.domain for h in plan.hosts], "bridge": [self.bridge],
               "project": [names.project(plan.lab)]}
        if self.remote:
            out["tunnel"] = [names.gateway_link(plan.lab)]
        return out

    def present(self, objs: owned.Objects) -> owned.Objects:
        """Instances in the lab's project, the bridge among Incus's networks (managed or a host
        interface of that name), the project among Incus's projects, and on a cluster this
        machine's end of the tunnel."""
        have = objects.instances(self.project, self.remote)
        nets = {n["name"] for n in objects.networks(self.remote)}
        projects = objects.projects(self.remote)
        out = {"container": [m for m in objs.get("container", []) if m in have],
               "bridge": [b for b in objs.get("bridge", []) if b in nets],
               "project": [p for p in objs.get("project", []) if p in projects]}
        if objs.get("tunnel"):
            out["tunnel"] = [t for t in objs["tunnel"] if cluster.link_exists(t)]
        return out

    def lab_machines(self, plan: Plan, recorded: owned.Objects) -> dict[str, str]:
        have = objects.instances(self.project, self.remote)
        return {m: have[m] for m in recorded.get("container", []) if m in have}

    def cluster_facts(self, plan: Plan) -> placement.ClusterFacts:
        assert self.remote is not None
        rooms = cluster.rooms(self.remote)
        alias = image.current_alias(plan.box)
        here = alias if alias and client.exists("image", "show",
                                                names.at(self.remote, alias)) else None
        have = objects.instances(self.project, self.remote)
        try:
            placed = self._place([h for h in plan.hosts if h.domain not in have], rooms)
        except placement.PlacementError as exc:
            return placement.ClusterFacts(self.remote, rooms, here, None, exc.message)
        return placement.ClusterFacts(self.remote, rooms, here, placed)

    def _place(self, hosts: list[HostPlan], rooms: list[placement.Room]) -> placement.Placement:
        """Where these hosts would go on the cluster's members now (placement.place)."""
        zones = dict(self.plan.cluster.zones if self.plan.cluster else ())
        return placement.place([placement.Guest(h.name, h.zone, h.memory) for h in hosts],
                               zones, rooms)

    def _placement(self, targets: list[HostPlan], have: dict[str, str]) -> dict[str, str]:
        """Each host to create on a cluster: its member, decided for all of them before any is
        created, and said."""
        new = [h for h in targets if h.domain not in have]
        if not self.remote or not new:
            return {}
        where = self._place(new, cluster.rooms(self.remote))
        for line in where.lines():
            ui.info(f"placed {line}")
        return where.where

    def boot(self, hosts: list[str] | None, on_line: OnLine) -> None:
        """Create what is missing, then start every named host that is not running."""
        p = self.plan
        targets = [h for h in p.hosts if hosts is None or h.name in hosts]
        have = objects.instances(self.project, self.remote)
        checks.before_create(p, self.bridge, self.remote)
        with self._placing():
            where = self._placement(targets, have)
            self._create(targets, have, where, on_line)
        for h in targets:
            if have.get(h.domain) == "running":
                continue
            key = hostkeys.read(self.lab_dir / "pki", h.name)
            objects.push(p.lab, h.domain, guest.files(h, p, key), self.remote)
            objects.start(p.lab, h.domain, self.remote)
            on = f" on {where[h.name]}" if h.name in where else ""
            on_line(f"{h.name}: container {h.domain} started{on} (Incus project {self.project})")

    def _placing(self) -> AbstractContextManager[None]:
        """On a cluster, one lab at a time from placement to its instances created, so that
        labs brought up at once (a class) see each other's instances and spread."""
        if not self.remote:
            return nullcontext()
        lock = image.work_dir() / f"placing-{self.remote}.lock"
        return hostlock.exclusive(
            lock, timeout=PLACING_TIMEOUT, interval=1,
            on_wait=lambda: ui.info(f"waiting for another lab's placement on {self.remote}"),
            held_too_long=HalabError(f"another lab held {lock} for {PLACING_TIMEOUT}s",
                                     "is another `halab up` stuck? (`ps aux | grep halab`)"))

    def _create(self, targets: list[HostPlan], have: dict[str, str], where: dict[str, str],
                on_line: OnLine) -> None:
        """The image, network, profile and every missing instance (on its member)."""
        p = self.plan
        if self._image is None:
            self.ensure_image(p.box)
        assert self._image is not None
        for line in inotify.ensure():  # privileged: every host's systemd counts against root's
            on_line(line)
        layout = config.cgroup_layout(Path("/proc/self/mountinfo").read_text())
        self._network(on_line)
        objects.ensure_profile(p.lab, layout, self._sysctl_copies(), self.bridge, self.remote)
        if not self.remote:  # a cluster's veths and cgroups are its members' own
            for v in veths.sweep(p.lab):
                on_line(f"removed {v}, a veth left on the lab's bridge by a container that died")
            cgroups.sweep(self.project, {h.domain for h in targets
                                         if have.get(h.domain, "not created") in objects.OFF})
        for h in targets:
            if h.domain not in have:
                (self.lab_dir / IMAGE_FILE).write_text(f"{self._image}\n")
                objects.create(p.lab, h.domain, self._image, config.limits(h.memory, h.cpus),
                               self.remote, where.get(h.name))

    def _network(self, on_line: OnLine) -> None:
        """The lab's project and bridge; on a cluster, the bridge on every member and this
        machine's end of its tunnel."""
        p = self.plan
        objects.ensure_project(p.lab, self.remote)
        if not self.remote:
            objects.ensure_network(p.lab, p.subnet)
            return
        interface = p.cluster.interface if p.cluster else None
        if interface is None and self.remote == clustersim.REMOTE:
            interface = clustersim.UNDERLAY
        cluster.ensure_network(p.lab, p.subnet, self.remote, interface)
        said = cluster.gateway_up(p.lab, p.subnet, self.remote)
        if said:
            on_line(said)

    def _sysctl_copies(self) -> Path:
        """The lab's own copies of the sysctls kubelet writes, with the host's values now;
        bound over /proc/sys/... in each host by the profile. On a cluster, the member's own
        copies, which each member holds at the same path (docs/cluster.md; the simulation's
        members share this machine's)."""
        if self.remote:
            return config.MEMBER_SYSCTL_DIR
        return sysctls.copies((self.lab_dir / "incus-sysctl").resolve())

    def halt(self, h: HostPlan, hard: bool) -> None:
        """Returns once Incus says the host is off (a power cut, or a clean shutdown of up to
        objects.GRACEFUL_TIMEOUT)."""
        if objects.instances(self.project, self.remote).get(h.domain) != "running":
            return
        try:
            objects.stop(self.plan.lab, h.domain, hard, self.remote)
        except client.IncusError as exc:
            if objects.instances(self.project, self.remote).get(h.domain) == "running":
                raise HalabError(f"{h.name} did not stop: {exc.stderr}",
                                 f"halt it hard: `halab halt {h.name} --hard`") from None

    def wait_off(self, hosts: list[HostPlan], timeout: float) -> list[str]:
        left = set(self._wait_stopped([h.domain for h in hosts], timeout))
        return [h.name for h in hosts if h.domain in left]

    def _wait_stopped(self, doomed: list[str], timeout: float) -> list[str]:
        """Poll Incus until these instances are off on two polls in a row (bounded by
        `timeout`); those still on. Only "shut off" counts, and only when it holds: while a
        container stops, Incus can say "Error" for a moment, and a CI run saw one host "Running"
        again right after every host of the seed lab had read "shut off" once."""
        def running() -> list[str]:
            have = objects.instances(self.project, self.remote)
            return [m for m in doomed if have.get(m, "not created") not in objects.OFF]
        seen_off = [0]

        def all_off(why: Reason) -> list[str] | None:
            on = running()
            seen_off[0] = 0 if on else seen_off[0] + 1
            why(f"still running: {', '.join(on)}" if on else "off once; asking again")
            return [] if seen_off[0] >= OFF_POLLS else None
        try:
            return poll(all_off, timeout=timeout, interval=1.0, what="the containers to stop")
        except Timeout:
            return running()

    def destroy(self, host: str | None = None, recorded: owned.Objects | None = None) -> None:
        """One host with its disk, or every instance, the profile, the project and the bridge
        the lab recorded."""
        recorded = recorded or {}
        if host is not None:
            h = self.plan.host(host)
            have = objects.instances(self.project, self.remote)
            doomed = [h.domain] if h and h.domain in have else []
        else:
            doomed = list(self.lab_machines(self.plan, recorded))
        for m in doomed:
            objects.delete(self.plan.lab, m, self.remote)
        if not self.remote:
            cgroups.sweep(self.project, set(doomed))
        if host is None:
            lab = self.plan.lab
            if not self.remote:
                veths.sweep(lab)
            tunnel = ([cluster.gateway_down(lab)]
                      if names.gateway_link(lab) in recorded.get("tunnel", []) else [])
            for what in [*objects.remove_lab(
                    lab, names.project(lab) in recorded.get("project", []),
                    self.bridge in recorded.get("bridge", []), self.bridge, self.remote),
                    *filter(None, tunnel), *image.prune(self.plan.box, self.remote)]:
                ui.info(f"  {what}")

    def leftovers(self, plan: Plan, recorded: owned.Objects) -> str | None:
        found = self.present(recorded)
        if not any(found.values()):
            return None
        return owned.describe(found)

    def ssh_config(self, plan: Plan, key: Path) -> str:
        return sshconfig.render(plan, key, sshconfig.known_hosts_path(self.lab_dir))

    def close(self) -> None:
        pass
