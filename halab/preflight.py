"""Can this host run the lab? Pure checks over facts the providers gather (RAM, disk, subnets)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from halab.plan import Plan

# What a VM costs beyond its memory: qemu itself, page tables, TCG's translation cache.
VM_OVERHEAD_MIB = 200
DISK_PER_VM_GIB = 2.0


@dataclass(frozen=True)
class HostFacts:
    mem_available_mib: int
    disk_free_gib: float
    routes: list[tuple[str, IPv4Network]]  # (device, subnet routed there)
    libvirt_networks: dict[str, tuple[IPv4Network, str]]  # network name -> (subnet, bridge)


def needed_mib(plan: Plan, running: set[str]) -> int:
    return sum(h.memory + VM_OVERHEAD_MIB for h in plan.hosts if h.name not in running)


def problems(plan: Plan, facts: HostFacts, running: set[str]) -> list[str]:
    """Every reason the lab cannot come up here, each saying what to do about it."""
    out = []
    need = needed_mib(plan, running)
    if need > facts.mem_available_mib:
        out.append(f"the lab needs {need} MiB of RAM for its VMs but {facts.mem_available_mib} "
                   "MiB are available: lower `memory` in the topology or stop another lab")
    missing_vms = len([h for h in plan.hosts if h.name not in running])
    disk = missing_vms * DISK_PER_VM_GIB
    if disk > facts.disk_free_gib:
        out.append(f"the lab needs about {disk:.0f} GiB free for VM disks but "
                   f"{facts.disk_free_gib:.1f} GiB are free in /var/lib/libvirt/images")
    ours = {plan.network_name, plan.management_network_name}
    for label, mine in (("network.subnet", IPv4Network(plan.subnet)),
                        ("network.management", IPv4Network(plan.management_subnet))):
        for name, (other, _) in facts.libvirt_networks.items():
            if name not in ours and mine.overlaps(other):
                out.append(f"{label} {mine} collides with libvirt network {name!r} ({other}): "
                           "pick another subnet in the topology, or `halab down` that lab")
        bridges = {bridge for _, bridge in facts.libvirt_networks.values()}
        for dev, other in facts.routes:
            # Routes on libvirt bridges are the networks checked just above.
            if dev not in bridges and mine.overlaps(other):
                out.append(f"{label} {mine} collides with this host's route to {other} on "
                           f"{dev}: pick another subnet in the topology")
    return out
