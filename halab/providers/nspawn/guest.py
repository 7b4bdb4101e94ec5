"""What a container's own disk layer gets before its first boot (pure): its name, its address on
the lab bridge, and the PID 1 wrapper that lets containerd and kubelet run inside it.

The box's rootfs is the lower layer of every host; these files go into each host's upper layer,
so the box itself is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from halab.config.plan import HostPlan, Plan
from halab.render.hostkeys import HostKey

INIT = "usr/local/sbin/halab-init"
KUBELET_CGROUPS = "usr/local/sbin/halab-kubelet-cgroups"
KUBELET_DROPIN = "etc/systemd/system/kubelet.service.d/halab-container.conf"

# The container's PID 1 until it execs systemd. Each step was found by a failure first (README,
# "System containers"): nspawn mounts the cgroup v1 controllers read-only, kubelet writes three
# sysctls the host must keep, and a nested runtime needs shared mount propagation. It runs before
# systemd: remounting a hierarchy while systemd starts units made their spawns fail (ENOENT).
INIT_SCRIPT = r"""#!/bin/sh
# Written by halab's container provider: makes this system container able to run containerd and
# kubelet, then becomes systemd.
set -eu
mount --make-rshared /
if [ -d /sys/fs/cgroup/unified ] || ! grep -q ' - cgroup2 ' /proc/self/mountinfo; then
  # cgroup v1 (hybrid): remount each controller hierarchy writable.
  grep ' - cgroup ' /proc/self/mountinfo | while read -r line; do
    mp=$(echo "$line" | cut -d' ' -f5)
    opts=$(echo "${line#* - cgroup }" | cut -d' ' -f2 | tr ',' '\n' \
           | grep -v -x -e rw -e ro | paste -sd, -)
    case "$opts" in *name=*|"") continue ;; esac
    umount -l "$mp"
    mount -t cgroup -o "$opts" cgroup "$mp"
  done
fi
# kubelet insists on writing these; the host's own values must stay, so it writes copies.
mkdir -p /run/halab-sysctl
for f in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
  copy=/run/halab-sysctl/$(echo "$f" | tr / _)
  if ! grep -q " /proc/sys/$f " /proc/self/mountinfo; then
    cat "/proc/sys/$f" > "$copy"
    mount --bind "$copy" "/proc/sys/$f"
  fi
done
exec /sbin/init
"""


def interfaces(h: HostPlan, plan: Plan) -> str:
    """A static address on `host0`, nspawn's end of the veth pair; no gateway, on purpose."""
    return (f"# Written by halab's container provider for {h.name} (lab {plan.lab}).\n"
            "auto lo\niface lo inet loopback\n\n"
            f"auto host0\niface host0 inet static\n    address {h.ip}/{plan.prefixlen}\n")


@dataclass(frozen=True)
class GuestFile:
    path: str  # relative to the container's root
    text: str = ""
    mode: int = 0o644
    symlink: str | None = None  # a symlink to this target instead of a file


def cgroup_root(h: HostPlan) -> str:
    """The host's own cgroup, in every hierarchy: its machine name (unique on this host)."""
    return f"/{h.domain}"


# Made just before kubelet starts, not at boot: the systemd inside removed an empty one it did
# not know in the cpu hierarchy ("cgroup … has some missing paths").
KUBELET_CGROUPS_SCRIPT = r"""#!/bin/sh
# Written by halab's container provider: kubelet's cgroupRoot ($1) in every hierarchy.
set -eu
for mp in /sys/fs/cgroup/*/; do
  [ "$mp" = /sys/fs/cgroup/unified/ ] && continue
  mkdir -p "$mp$1"
  if [ -f "${mp}cpuset.cpus" ]; then
    [ -s "$mp$1/cpuset.cpus" ] || cat "${mp}cpuset.cpus" > "$mp$1/cpuset.cpus"
    [ -s "$mp$1/cpuset.mems" ] || cat "${mp}cpuset.mems" > "$mp$1/cpuset.mems"
  fi
done
"""


def kubelet_dropin(h: HostPlan) -> str:
    return ("# Written by halab's container provider.\n[Service]\n"
            f"ExecStartPre=/{KUBELET_CGROUPS} {cgroup_root(h)}\n")


def init_command(h: HostPlan) -> list[str]:
    """What nspawn runs as the container's PID 1 (it execs systemd)."""
    return [f"/{INIT}"]


def files(h: HostPlan, plan: Plan) -> list[GuestFile]:
    return [
        GuestFile("etc/hostname", f"{h.name}\n"),
        GuestFile("etc/network/interfaces", interfaces(h, plan)),
        # kubelet opens it for every pod sandbox; a VM gets one from DHCP, a container none.
        GuestFile("etc/resolv.conf", "# Written by halab: the lab has no DNS server beyond "
                                     "its own cluster DNS.\n"),
        # Remounting / is the host's business; the unit fails in a container (harmless, but
        # `systemctl is-system-running` would then say "degraded").
        GuestFile("etc/systemd/system/systemd-remount-fs.service", symlink="/dev/null"),
        GuestFile(INIT, INIT_SCRIPT, 0o755),
        GuestFile(KUBELET_CGROUPS, KUBELET_CGROUPS_SCRIPT, 0o755),
        GuestFile(KUBELET_DROPIN, kubelet_dropin(h)),
    ]


def host_key_files(h: HostPlan, key: HostKey | None) -> list[GuestFile]:
    """The host's SSH host key, which halab made and pins, before sshd first starts (the box's
    first-boot key service then makes none). None: a lab from before halab pinned keys."""
    if key is None:
        return []
    return [GuestFile(path.lstrip("/"), content.decode(), mode)
            for path, (content, mode) in key.files(h.name).items()]
