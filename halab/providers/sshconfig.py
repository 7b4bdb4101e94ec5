"""The ssh_config every provider writes: each host at its address on the lab network, as
`vagrant`, with this installation's key (pure)."""

from __future__ import annotations

from pathlib import Path

from halab.config.plan import Plan


def render(plan: Plan, key: Path) -> str:
    blocks = []
    for h in plan.hosts:
        blocks.append(
            f"Host {h.name}\n"
            f"  HostName {h.ip}\n"
            "  User vagrant\n"
            "  Port 22\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            "  ConnectTimeout 10\n")
    return f"# Written by halab for lab {plan.lab}.\n" + "\n".join(blocks)
