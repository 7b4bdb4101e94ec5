"""The VM provider: Vagrant boots and halts, libvirt-python tells states and tears down.

Every libvirt lookup is by the exact names the lab recorded when it created them
(`halab-<lab>--<host>`, networks `halab-<lab>` and `halab-<lab>--mgmt`), so nothing of another
lab is touched.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

from halab import ui
from halab.config import owned
from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError
from halab.providers import sshconfig
from halab.providers.protocol import OnLine
from halab.providers.vagrant_libvirt import host, vagrantfile
from halab.providers.vagrant_libvirt.vagrantlab import VagrantLab


class VagrantLibvirt:
    kind = "VM"

    def __init__(self, lab_dir: Path, plan: Plan):
        self.lab_dir, self.plan = Path(lab_dir), plan
        self._lv = None

    @property
    def lv(self):  # noqa: ANN201 - domains.Libvirt, imported only when a host is touched
        if self._lv is None:
            from halab.providers.vagrant_libvirt.domains import Libvirt

            self._lv = Libvirt()
        return self._lv

    def _vagrant(self) -> VagrantLab:
        return VagrantLab(self.lab_dir, self.plan.accel)

    def prepare(self) -> None:
        host.ensure_daemons()

    def networks_in_use(self) -> dict[str, tuple[IPv4Network, str]]:
        return self.lv.network_subnets()

    @staticmethod
    def acceleration() -> str:
        return host.detect_accel()

    def ensure_image(self, box: str) -> str:
        from halab.providers.vagrant_libvirt.box import ensure_box

        record, how = ensure_box(box)
        return f"{how}: {record.box_name}"

    def files(self, plan: Plan) -> dict[str, str]:
        return vagrantfile.lab_files(plan)

    def states(self, plan: Plan) -> dict[str, str]:
        return self.lv.states(plan)

    def members(self, plan: Plan) -> dict[str, str]:
        return {}

    def lose_member(self, member: str) -> str:
        raise HalabError("a VM lab runs on this machine alone: it has no members",
                         "`halab halt --zone Z` loses a zone")

    restore_member = lose_member

    def cluster_facts(self, plan: Plan):  # noqa: ANN201 - never: a VM lab has no cluster
        raise HalabError("a VM lab runs on this machine alone: it has no cluster")

    def objects(self, plan: Plan) -> owned.Objects:
        """vagrant-libvirt names a VM's disk after its domain (`<domain>.img`)."""
        return {"domain": [h.domain for h in plan.hosts],
                "network": [plan.network_name, plan.management_network_name],
                "volume": [f"{h.domain}.img" for h in plan.hosts]}

    def present(self, objects: owned.Objects) -> owned.Objects:
        found = self.lv.present(objects)
        return {"domain": found.domains, "network": found.networks,
                "volume": [vol for _, vol in found.volumes]}

    def lab_machines(self, plan: Plan, recorded: owned.Objects) -> dict[str, str]:
        return self.lv.lab_domain_states(recorded)

    def boot(self, hosts: list[str] | None, on_line: OnLine) -> None:
        """Only the hosts that are not running: `vagrant up` runs the host key provisioner on
        every machine it is given, and a running VM keeps the key it has (a changed one is
        refused by halab, not silently replaced over Vagrant's unchecked SSH)."""
        states = self.states(self.plan)
        off = [h.name for h in self.plan.hosts
               if (hosts is None or h.name in hosts) and states[h.name] != "running"]
        if off:
            self._vagrant().up(off, on_line)

    def halt(self, h: HostPlan, hard: bool) -> None:
        if hard:
            self.lv.power_off(h.domain)
        else:
            self._vagrant().halt(h.name, force=False)

    def wait_off(self, hosts: list[HostPlan], timeout: float) -> list[str]:
        left = self.lv.wait_shut_off([h.domain for h in hosts], timeout)
        return [h.name for h in hosts if h.domain in left]

    def destroy(self, name: str | None = None, recorded: owned.Objects | None = None) -> None:
        """One VM with its disk (Vagrant), or the whole lab: Vagrant first, then whatever
        libvirt still holds of what the lab recorded (a half-created lab Vagrant does not
        know)."""
        if name is not None:
            self._vagrant().destroy(name)
            return
        recorded = recorded or {}
        if (self.lab_dir / "Vagrantfile").exists() and self.lv.present(recorded).domains:
            try:
                self._vagrant().destroy()
            except HalabError as exc:
                ui.warn(f"{exc.message.splitlines()[0]}; removing the lab's libvirt objects "
                        "directly")
        left = self.lv.present(recorded)
        if not left.empty():
            self.lv.remove(left)

    def leftovers(self, plan: Plan, recorded: owned.Objects) -> str | None:
        found = self.lv.present(recorded)
        if found.empty():
            return None
        return (f"{len(found.domains)} VMs, {len(found.networks)} networks, "
                f"{len(found.volumes)} volumes")

    def ssh_config(self, plan: Plan, key: Path) -> str:
        """SSH to each VM's private address (the host owns the bridge's first address)."""
        return sshconfig.render(plan, key, sshconfig.known_hosts_path(self.lab_dir))

    def close(self) -> None:
        if self._lv is not None:
            self._lv.close()
            self._lv = None

