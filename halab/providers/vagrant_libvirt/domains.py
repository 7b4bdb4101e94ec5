"""libvirt, through libvirt-python: VM states, and exactly this lab's domains, networks, volumes.

Every lookup is by the exact names the lab recorded when it created them (the rendered
Vagrantfile's `halab-<lab>--<host>`, networks `halab-<lab>` and `halab-<lab>--mgmt`, disks
`halab-<lab>--<host>.img`), so teardown never touches another lab's objects.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network

import libvirt

from halab.config.owned import Objects
from halab.config.plan import Plan
from halab.errors import HalabError
from halab.poll import Reason, Timeout, poll

URI = "qemu:///system"

STATE_NAMES = {
    libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused", libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off", libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}


@dataclass
class LabObjects:
    domains: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[tuple[str, str]] = field(default_factory=list)  # (pool, volume)

    def empty(self) -> bool:
        return not (self.domains or self.networks or self.volumes)


def _quiet(*_: object) -> None:
    """libvirt prints every error to stderr by default; halab reports them itself."""


class Libvirt:
    def __init__(self, uri: str = URI):
        libvirt.registerErrorHandler(_quiet, None)
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise HalabError(f"cannot connect to libvirt at {uri}: {exc}",
                             "start the daemons: `virtlogd -d; libvirtd -d` (halab up does "
                             "this itself)") from None

    def close(self) -> None:
        self.conn.close()

    def domain_state(self, name: str) -> str:
        try:
            dom = self.conn.lookupByName(name)
        except libvirt.libvirtError:
            return "not created"
        return STATE_NAMES.get(dom.state()[0], "unknown")

    def states(self, plan: Plan) -> dict[str, str]:
        return {h.name: self.domain_state(h.domain) for h in plan.hosts}

    def power_off(self, name: str) -> None:
        """Pull the plug (no guest shutdown): what `halab halt --hard` demonstrates."""
        dom = self.conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()

    def wait_shut_off(self, names: list[str], timeout: float) -> list[str]:
        """Poll until every domain is off (bounded by `timeout`); returns those still on."""
        on = list(names)

        def all_off(why: Reason) -> bool | None:
            nonlocal on
            on = [n for n in names if self.domain_state(n) not in ("shut off", "not created")]
            return True if not on else None
        with contextlib.suppress(Timeout):
            poll(all_off, timeout=timeout, interval=2, what="the domains to shut off")
        return on

    def lab_domain_states(self, recorded: Objects) -> dict[str, str]:
        """Every domain the lab recorded that libvirt holds, the topology's or not, and its
        state: what a verdict about the lab's VMs counts."""
        return {name: state for name in recorded.get("domain", [])
                if (state := self.domain_state(name)) != "not created"}

    def present(self, objects: Objects) -> LabObjects:
        """Those of `objects` that libvirt holds, whoever defined them: domains, networks, and
        volumes in any active pool."""
        found = LabObjects()
        want = {k: set(v) for k, v in objects.items()}
        found.domains = [d.name() for d in self.conn.listAllDomains()
                         if d.name() in want.get("domain", ())]
        found.networks = [n.name() for n in self.conn.listAllNetworks()
                          if n.name() in want.get("network", ())]
        for pool in self.conn.listAllStoragePools():
            if not pool.isActive():
                continue
            pool.refresh(0)
            found.volumes += [(pool.name(), v.name()) for v in pool.listAllVolumes()
                              if v.name() in want.get("volume", ())]
        return found

    def remove(self, objects: LabObjects) -> None:
        for name in objects.domains:
            dom = self.conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                     | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            dom.undefineFlags(flags)
        for pool_name, vol_name in objects.volumes:
            self.conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name).delete(0)
        for name in objects.networks:
            net = self.conn.networkLookupByName(name)
            if net.isActive():
                net.destroy()
            net.undefine()

    def network_subnets(self) -> dict[str, tuple[IPv4Network, str]]:
        """Subnet and bridge of every libvirt network on this host (to refuse collisions)."""
        out = {}
        for net in self.conn.listAllNetworks():
            xml = ET.fromstring(net.XMLDesc(0))
            bridge = xml.find("bridge")
            for ip in xml.findall("ip"):
                addr = ip.get("address")
                mask = ip.get("netmask") or ip.get("prefix")
                if addr and mask and ip.get("family", "ipv4") == "ipv4":
                    out[net.name()] = (IPv4Interface(f"{addr}/{mask}").network,
                                       bridge.get("name", "") if bridge is not None else "")
        return out
