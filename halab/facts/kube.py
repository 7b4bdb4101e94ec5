"""Kubernetes facts from `kubectl -o json` output, and the kubectl command lines that produce them.

Pure, like `halab.facts.etcd`: the runner executes the commands on a master (with the admin
kubeconfig, which points at the load balancer), this module builds them and reads their output.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass

from halab.config import layout

ADMIN_KUBECONFIG = f"{layout.KUBE_CONFIG_DIR}/admin.kubeconfig"
LEASES = ("kube-controller-manager", "kube-scheduler")


def kubectl(args: str, timeout: str = "20s") -> str:
    """A kubectl command line on a master, through the LB with the admin credentials."""
    return (f"{layout.KUBE_BIN}/kubectl --kubeconfig={ADMIN_KUBECONFIG} "
            f"--request-timeout={shlex.quote(timeout)} {args}")


def kubectl_stdin(args: str, data: str, timeout: str = "60s") -> str:
    """kubectl reading `data` on stdin (e.g. `apply -f -`), passed base64-encoded so no
    quoting of the manifest can break the shell line."""
    encoded = base64.b64encode(data.encode()).decode()
    return f"echo {encoded} | base64 -d | {kubectl(args, timeout)}"


@dataclass(frozen=True)
class Node:
    name: str
    ready: bool
    unschedulable: bool
    internal_ip: str
    kubelet_version: str = ""  # as the node reports it, e.g. v1.36.3


def parse_nodes(text: str) -> list[Node]:
    out = []
    for item in json.loads(text or "{}").get("items", []):
        conditions = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
        ips = [a["address"] for a in item.get("status", {}).get("addresses", [])
               if a.get("type") == "InternalIP"]
        out.append(Node(item["metadata"]["name"], conditions.get("Ready") == "True",
                        bool(item.get("spec", {}).get("unschedulable")), ips[0] if ips else "",
                        item.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")))
    return out


def node_problems(nodes: list[Node], minions: list[str]) -> list[str]:
    """Why the registered nodes are not exactly the minions, all Ready."""
    by_name = {n.name: n for n in nodes}
    out = [f"{m} is not registered" for m in minions if m not in by_name]
    out += [f"{m} is not Ready" for m in minions if m in by_name and not by_name[m].ready]
    out += [f"{n} is registered but is not a minion" for n in by_name if n not in minions]
    return out


def parse_lease_holders(text: str) -> dict[str, str]:
    """Lease name → holderIdentity (the identity is `<hostname>_<uuid>`)."""
    out = {}
    for item in json.loads(text or "{}").get("items", []):
        out[item["metadata"]["name"]] = item.get("spec", {}).get("holderIdentity") or ""
    return out


NODE_LEASE_NS = "kube-node-lease"


def parse_lease_records(text: str) -> dict[str, tuple[str, str]]:
    """Lease name → (holder host, renewTime): the renewal time changes at every renewal, so a
    watcher sees when the holder last renewed (and a release, whose holder is empty). A node's
    lease (namespace kube-node-lease, renewed by its kubelet) is keyed `node_lease(name)`."""
    out = {}
    for item in json.loads(text or "{}").get("items", []):
        spec, meta = item.get("spec", {}), item["metadata"]
        name = (node_lease(meta["name"]) if meta.get("namespace") == NODE_LEASE_NS
                else meta["name"])
        out[name] = (holder_host(spec.get("holderIdentity") or ""), spec.get("renewTime") or "")
    return out


def node_lease(node: str) -> str:
    return f"{NODE_LEASE_NS}/{node}"


def holder_host(identity: str) -> str:
    """The host in a leader-election identity (`master2_6f1c…` → `master2`)."""
    return identity.split("_", 1)[0]


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    ready: bool
    node: str
    ip: str


def parse_pods(text: str) -> list[Pod]:
    out = []
    for item in json.loads(text or "{}").get("items", []):
        status = item.get("status", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions", []))
        out.append(Pod(item["metadata"]["name"], status.get("phase", ""), ready,
                       item.get("spec", {}).get("nodeName", ""), status.get("podIP", "")))
    return out


def running_versions_command(services: list[str]) -> str:
    """Each service's running process asked for its version: /proc/PID/exe is the binary it
    was started from even after an upgrade replaced the file (one line `SERVICE VERSION`)."""
    return "; ".join(
        f"pid=$(systemctl show -p MainPID --value {s}); "
        f"echo {s} $([ \"$pid\" -gt 0 ] 2>/dev/null && /proc/$pid/exe --version 2>&1 "
        f"| grep -o 'v[0-9][0-9.]*' | head -1 || echo stopped)" for s in services)


def parse_running_versions(text: str) -> dict[str, str]:
    """`SERVICE VERSION` lines → service → version ("stopped" when it does not run)."""
    return {parts[0]: parts[1] for line in text.splitlines()
            if len(parts := line.split()) == 2}
