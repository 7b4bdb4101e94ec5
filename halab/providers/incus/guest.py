"""What each host gets pushed into its own disk before it boots (pure): its name, its static
address on the lab bridge, and the SSH host key halab pins. Nothing else: no PID 1 wrapper and
no cgroup scripts (Incus mounts the cgroups, docs/containers.md).
"""

from __future__ import annotations

from halab.config.plan import HostPlan, Plan
from halab.render.hostkeys import HostKey

# path in the guest -> (content, mode)
Files = dict[str, tuple[bytes, int]]


def interfaces(h: HostPlan, plan: Plan) -> str:
    """A static address on host0 (the profile names the NIC so); no gateway, on purpose: the
    lab reaches this machine and its own hosts, nothing beyond."""
    return (f"# Written by halab's container provider (Incus) for {h.name} (lab {plan.lab}).\n"
            "auto lo\niface lo inet loopback\n\n"
            f"auto host0\niface host0 inet static\n    address {h.ip}/{plan.prefixlen}\n")


def files(h: HostPlan, plan: Plan, key: HostKey | None) -> Files:
    out: Files = {
        "/etc/hostname": (f"{h.name}\n".encode(), 0o644),
        "/etc/network/interfaces": (interfaces(h, plan).encode(), 0o644),
        # kubelet opens it for every pod sandbox; nothing here serves DNS.
        "/etc/resolv.conf": (b"# Written by halab: the lab has no DNS server beyond its own "
                             b"cluster DNS.\n", 0o644),
        # An empty unit file masks it: remounting / is the host's business, and the failed
        # unit would make `systemctl is-system-running` say "degraded".
        "/etc/systemd/system/systemd-remount-fs.service": (b"", 0o644),
    }
    if key is not None:  # None: a lab from before halab pinned host keys
        out.update(key.files(h.name))
    return out
