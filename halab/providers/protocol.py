"""The `Provider` protocol: what a lab needs from whatever runs its hosts (kind's provider
interface, in Python). Everything above it speaks only SSH to the hosts."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from halab.config.owned import Objects
    from halab.config.placement import ClusterFacts
    from halab.config.plan import HostPlan, Plan

OnLine = Callable[[str], None]


class Provider(Protocol):
    """One lab's hosts on this machine. Cheap to create; `close()` releases connections."""

    kind: str  # what `status` shows for a running host's kind: "VM"

    def prepare(self) -> None:
        """Make the host ready to run hosts (start daemons); idempotent."""

    def networks_in_use(self) -> dict[str, tuple[IPv4Network, str]]:
        """Every network this provider already has on the machine: name → (subnet, bridge)."""

    @staticmethod
    def acceleration() -> str:
        """"kvm" when hardware virtualisation really works, "tcg" when VMs are emulated,
        "native" for containers: what this kind of host can do here, asked before a lab is
        planned (its etcd timings follow it)."""

    def ensure_image(self, box: str) -> str:
        """Build or reuse the image hosts boot from; returns one line saying which."""

    def files(self, plan: Plan) -> dict[str, str]:
        """The provider's own files in the lab directory (a Vagrantfile), by relative path."""

    def states(self, plan: Plan) -> dict[str, str]:
        """Each topology host's state: "running", "shut off", "not created", ..."""

    def members(self, plan: Plan) -> dict[str, str]:
        """Each created host's machine when the lab spans several (an Incus cluster's member);
        {} when every host is on this one."""

    def lose_member(self, member: str) -> str:
        """Take a member of the lab's cluster away at once, with every host on it (only where
        halab may: the simulated cluster); one line saying what happened."""

    def restore_member(self, member: str) -> str:
        """Bring that member back (its hosts stay off); one line saying how."""

    def cluster_facts(self, plan: Plan) -> ClusterFacts:
        """For `halab doctor`, of a lab on a cluster: its members, the image, its placement."""

    def objects(self, plan: Plan) -> Objects:
        """Every object the lab's hosts and networks need on this machine, by kind: what `up`
        records before it creates them (config.owned)."""

    def present(self, objects: Objects) -> Objects:
        """Those of `objects` that exist on this machine now, whoever made them."""

    def lab_machines(self, plan: Plan, recorded: Objects) -> dict[str, str]:
        """Every machine the lab recorded that exists, in the topology or not, and its state."""

    def boot(self, hosts: list[str] | None, on_line: OnLine) -> None:
        """Boot (or create) these hosts, or every host of the lab."""

    def halt(self, host: HostPlan, hard: bool) -> None:
        """A guest shutdown, or with `hard` a power cut."""

    def wait_off(self, hosts: list[HostPlan], timeout: float) -> list[str]:
        """Wait until these hosts are off; returns the names still on after `timeout`."""

    def destroy(self, host: str | None = None, recorded: Objects | None = None) -> None:
        """Destroy one host with its disk, or (None) every object in `recorded` that exists:
        what the lab created, and nothing else."""

    def leftovers(self, plan: Plan, recorded: Objects) -> str | None:
        """What `destroy()` would remove, in words; None when nothing of the lab is left."""

    def ssh_config(self, plan: Plan, key: Path) -> str:
        """The ssh_config through which the runner, testinfra and `halab ssh` log in."""

    def close(self) -> None: ...
