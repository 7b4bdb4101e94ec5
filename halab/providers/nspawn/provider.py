"""The container provider: each lab host is a systemd-nspawn system container (its own systemd,
hostname and address on the lab bridge, SSH as `vagrant` with the installation key), as kind
runs nodes. Containers share the host's kernel: they are privileged, and root in a lab host is
root on this machine. VMs are the isolated choice.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

from halab import ui
from halab.config import owned
from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll
from halab.providers import inotify, sshconfig
from halab.providers.nspawn import bridge, checks, guest, machines, names
from halab.providers.protocol import OnLine
from halab.render import hostkeys

PRIVILEGED = ("container hosts are privileged, as kind's nodes are: root in a lab host is root "
              "on this machine (VMs are the isolated choice)")


HARD_STOP_TIMEOUT = 30  # s: from SIGKILL until nspawn has exited and the disk is unmounted


class Nspawn:
    kind = "container"

    def __init__(self, lab_dir: Path, plan: Plan):
        self.lab_dir, self.plan = Path(lab_dir), plan
        self._rootfs: Path | None = None

    def prepare(self) -> None:
        checks.engine()

    def networks_in_use(self) -> dict[str, tuple[IPv4Network, str]]:
        return bridge.lab_networks()

    @staticmethod
    def acceleration() -> str:
        return "native"

    def ensure_image(self, box: str) -> str:
        """The box's rootfs is every container's lower layer: build the box when it is missing."""
        from halab.artifacts import boxes

        rootfs = boxes.rootfs_path(box)
        how = "cached"
        if rootfs is None:
            from halab.providers.vagrant_libvirt.box import ensure_box

            ensure_box(box)
            rootfs, how = boxes.rootfs_path(box), "built"
        if rootfs is None:
            raise HalabError(f"box {box!r} was built but has no rootfs",
                             f"rebuild it: `halab box build --force {box}`")
        self._rootfs = rootfs
        return f"{how}: rootfs {rootfs} ({PRIVILEGED})"

    def files(self, plan: Plan) -> dict[str, str]:
        return {}

    def states(self, plan: Plan) -> dict[str, str]:
        return {h.name: machines.state(h.domain) for h in plan.hosts}

    def objects(self, plan: Plan) -> owned.Objects:
        return {"container": [h.domain for h in plan.hosts], "bridge": [names.bridge(plan.lab)]}

    def present(self, objects: owned.Objects) -> owned.Objects:
        """Containers by their directory here or a running nspawn of that name (another
        HALAB_HOME's), bridges by name: host-wide."""
        anywhere = set(machines.lab_machines()) | machines.running_anywhere()
        return {"container": [m for m in objects.get("container", []) if m in anywhere],
                "bridge": [b for b in objects.get("bridge", []) if bridge.find(b) is not None]}

    def lab_machines(self, plan: Plan, recorded: owned.Objects) -> dict[str, str]:
        return {m: machines.state(m) for m in recorded.get("container", [])
                if machines.state(m) != "not created"}

    def boot(self, hosts: list[str] | None, on_line: OnLine) -> None:
        """Create what is missing, then start every named host that is not running."""
        targets = [h for h in self.plan.hosts if hosts is None or h.name in hosts]
        checks.before_create(self.plan, [h for h in targets
                                         if machines.state(h.domain) == "not created"])
        if self._rootfs is None:
            self.ensure_image(self.plan.box)
        assert self._rootfs is not None
        for line in inotify.ensure():
            on_line(line)
        br = bridge.ensure(self.plan.lab, self.plan.subnet)
        console = self.lab_dir / "console"
        console.mkdir(parents=True, exist_ok=True)
        for h in targets:
            if machines.state(h.domain) == "running":
                continue
            machines.create(h.domain)
            key = hostkeys.read(self.lab_dir / "pki", h.name)
            machines.write_guest_files(h.domain, guest.files(h, self.plan)
                                       + guest.host_key_files(h, key))
            machines.start(h.domain, machines.supervisor_script(
                h.domain, self._rootfs, br, h.name, console / f"{h.name}.log",
                guest.init_command(h)))
            on_line(f"{h.name}: container {h.domain} started")

    def halt(self, h: HostPlan, hard: bool) -> None:
        """A power cut returns once the container is off, as libvirt's destroy does."""
        machines.halt(h.domain, hard)
        if hard and self._wait_stopped([h.domain], HARD_STOP_TIMEOUT):
            raise HalabError(f"container {h.domain} still runs {HARD_STOP_TIMEOUT}s after SIGKILL "
                             "of its PID 1", f"see {self.lab_dir / 'console' / h.name}.log")

    def wait_off(self, hosts: list[HostPlan], timeout: float) -> list[str]:
        left = set(self._wait_stopped([h.domain for h in hosts], timeout))
        return [h.name for h in hosts if h.domain in left]

    def destroy(self, host: str | None = None, recorded: owned.Objects | None = None) -> None:
        """One container with its disk layer, or every container and bridge the lab recorded."""
        recorded = recorded or {}
        if host is not None:
            h = self.plan.host(host)
            doomed = [h.domain] if h else []
        else:
            doomed = list(self.lab_machines(self.plan, recorded))
        for m in doomed:
            machines.halt(m, hard=True)
        still = self._wait_stopped(doomed, HARD_STOP_TIMEOUT)
        if still:
            raise HalabError(f"containers still running after a power cut: {', '.join(still)}",
                             f"see {self.lab_dir / 'console'}/<host>.log")
        for m in doomed:
            machines.remove(m)
        if host is None and names.bridge(self.plan.lab) in recorded.get("bridge", []) \
                and bridge.remove(self.plan.lab):
            ui.info(f"  removed bridge {names.bridge(self.plan.lab)}")

    def _wait_stopped(self, doomed: list[str], timeout: float) -> list[str]:
        """Poll until these machines are off (bounded by `timeout`); returns those still on."""
        left = list(doomed)

        def stopped(why: Reason) -> bool | None:
            nonlocal left
            left = [m for m in doomed if machines.state(m) == "running"]
            return True if not left else None
        try:
            poll(stopped, timeout=timeout, interval=0.3, what="the containers to stop")
        except Timeout:
            pass
        return left

    def leftovers(self, plan: Plan, recorded: owned.Objects) -> str | None:
        found = self.lab_machines(plan, recorded)
        has_bridge = names.bridge(plan.lab) in recorded.get("bridge", []) and \
            bridge.find(names.bridge(plan.lab)) is not None and bridge.clash(plan.lab) is None
        if not found and not has_bridge:
            return None
        return f"{len(found)} containers, {1 if has_bridge else 0} bridge"

    def ssh_config(self, plan: Plan, key: Path) -> str:
        return sshconfig.render(plan, key, sshconfig.known_hosts_path(self.lab_dir))

    def close(self) -> None:
        pass
