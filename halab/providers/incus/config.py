"""What halab asks Incus for (pure): the lab's project, bridge and profile, and the box image's
metadata. Each setting is here because a measurement on this project's host needed it
(workplace facts, "Incus"; docs/containers.md).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from halab.providers.incus import names

# kubelet writes these three; a host's own values must never change, so each container gets a
# file of its own bound over each (its source is a copy the provider writes).
SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
# On each member of a cluster: the copies its lab hosts' profile binds (made once per member).
MEMBER_SYSCTL_DIR = Path("/var/lib/halab-sysctl")

# The guest's systemd mounts cpu,cpuacct together; a v1/hybrid host has them apart, so that
# mount fails and runc cannot place a nested container. LXC then mounts every host hierarchy
# writable in the cgroup namespace itself. A pure cgroup v2 host was not measured.
CGROUP_V1_RAW_LXC = "lxc.mount.auto = cgroup:rw:force"


def project(lab: str) -> dict[str, str]:
    """The lab's own project: its instances, profile and volumes; the box image and the
    bridge stay in the default project (one image for every lab; Incus allows bridges only
    there)."""
    return {"features.images": "false", "features.profiles": "true",
            "features.storage.volumes": "true", "features.networks": "false",
            names.LAB_KEY: lab}


def network(lab: str, subnet: str) -> dict[str, str]:
    """The lab's bridge, holding the subnet's first address: no NAT, no DHCP, no DNS, no
    firewall rules and no forwarding change on the host. Hosts have static addresses."""
    net = IPv4Network(subnet)
    gateway = IPv4Interface(f"{next(net.hosts())}/{net.prefixlen}")
    return {"ipv4.address": str(gateway), "ipv4.nat": "false", "ipv4.dhcp": "false",
            "ipv4.firewall": "false", "ipv4.routing": "false", "ipv6.address": "none",
            "dns.mode": "none", names.LAB_KEY: lab}


VXLAN_PORT = 4789  # IANA's; Incus's default (0) leaves the kernel's 8472
CLUSTER_MTU = 1450  # 1500 less VXLAN's 50 bytes: every NIC on the lab's bridge gets it


def gateway_address(subnet: str) -> str:
    """The subnet's first address, with its prefix: this machine's side of a lab's network."""
    net = IPv4Network(subnet)
    return str(IPv4Interface(f"{next(net.hosts())}/{net.prefixlen}"))


def cluster_network(lab: str, subnet: str, tunnel: str, vni: int, group: str,
                    interface: str | None) -> dict[str, str]:
    """The lab's bridge on every member of a cluster: no address (this machine's end of the
    tunnel holds the gateway's), no NAT, DHCP, DNS or firewall, and a VXLAN tunnel over
    multicast joining the members. `interface` is the members' link to each other; without it
    Incus takes each member's default route's."""
    out = {"ipv4.address": "none", "ipv4.nat": "false", "ipv4.dhcp": "false",
           "ipv4.firewall": "false", "ipv4.routing": "false", "ipv6.address": "none",
           "dns.mode": "none", "bridge.mtu": str(CLUSTER_MTU), names.LAB_KEY: lab,
           names.SUBNET_KEY: subnet,
           f"tunnel.{tunnel}.protocol": "vxlan", f"tunnel.{tunnel}.id": str(vni),
           f"tunnel.{tunnel}.group": group, f"tunnel.{tunnel}.port": str(VXLAN_PORT),
           f"tunnel.{tunnel}.ttl": "1"}
    if interface:
        out[f"tunnel.{tunnel}.interface"] = interface
    return out


def limits(memory_mib: int, cpus: int) -> dict[str, str]:
    """A host's own limits from the topology (`memory`, `cpus`), as a VM of it would have. CPU
    time, not CPUs: `limits.cpu` pins a cpuset, and kubelet, seeing every core of the machine,
    was refused writing "0-1" to its kubepods cpuset ("Failed to start ContainerManager")."""
    return {"limits.memory": f"{memory_mib}MiB", "limits.cpu.allowance": f"{cpus * 100}ms/100ms"}


def sysctl_file(sysctl: str) -> str:
    return sysctl.replace("/", "_")


def profile(lab: str, bridge: str, cgroup_layout: str, sysctl_dir: str) -> dict:
    """halab's profile in the lab's project. Privileged with nesting, as kind's nodes are: root
    in a lab host is root on this machine. `boot.autostart=false`: a lab stays as halab left it
    when incusd restarts (else a host that died meanwhile is booted again)."""
    config = {"security.privileged": "true", "security.nesting": "true",
              "boot.autostart": "false"}
    if cgroup_layout == "v1":
        config["raw.lxc"] = CGROUP_V1_RAW_LXC
    devices: dict[str, dict[str, str]] = {
        "root": {"type": "disk", "path": "/", "pool": names.POOL},
        # Named host0 inside: the tiers' plan.nic (flannel's and keepalived's interface).
        "host0": {"type": "nic", "nictype": "bridged", "parent": bridge, "name": "host0"},
        "kmsg": {"type": "unix-char", "source": "/dev/kmsg", "path": "/dev/kmsg"},
    }
    for s in SYSCTLS:
        devices[f"sysctl-{sysctl_file(s)}"] = {
            "type": "disk", "source": f"{sysctl_dir}/{sysctl_file(s)}", "path": f"/proc/sys/{s}"}
    return {"description": f"halab: the hosts of lab {lab}", "config": config,
            "devices": devices}


def as_yaml(obj: dict) -> str:
    """What `incus ... edit` reads on stdin: JSON is YAML."""
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def image_metadata(box: str, key: str, created: int) -> str:
    """metadata.yaml of the box's unified image tarball."""
    return as_yaml({"architecture": "x86_64", "creation_date": created,
                    "properties": {"os": "debian", "description": f"halab box {box} {key[:12]}",
                                   "halab.box": box, "halab.key": key}})



def cgroup_layout(mountinfo: str) -> str:
    """"v1" when cgroup v1 controller hierarchies are mounted (a hybrid host, this project's),
    "v2" when only the unified hierarchy is."""
    return "v1" if any(" - cgroup " in line for line in mountinfo.splitlines()) else "v2"
