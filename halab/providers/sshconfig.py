"""The ssh_config every provider writes: each host at its address on the lab network, as
`vagrant`, with this installation's key, and its host key pinned (pure).

`StrictHostKeyChecking yes` with the lab's own known_hosts (and no other): a host that presents
another key than the one halab made for it is refused, by OpenSSH (`halab ssh`) and, reading the
same lines, by Fabric and testinfra. `HostKeyAlias` makes OpenSSH name the host when it refuses.
"""

from __future__ import annotations

from pathlib import Path

from halab.config.plan import Plan
from halab.render.hostkeys import KNOWN_HOSTS


def known_hosts_path(lab_dir: Path) -> Path:
    return Path(lab_dir) / KNOWN_HOSTS


def render(plan: Plan, key: Path, known_hosts: Path) -> str:
    blocks = []
    for h in plan.hosts:
        blocks.append(
            f"Host {h.name}\n"
            f"  HostName {h.ip}\n"
            "  User vagrant\n"
            "  Port 22\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking yes\n"
            f"  UserKnownHostsFile {known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            f"  HostKeyAlias {h.name}\n"
            "  HostKeyAlgorithms ssh-ed25519\n"
            "  LogLevel ERROR\n"
            "  ConnectTimeout 10\n")
    return f"# Written by halab for lab {plan.lab}.\n" + "\n".join(blocks)
