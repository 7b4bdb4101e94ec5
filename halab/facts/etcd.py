"""etcd facts from `etcdctl -w json` output, and the etcdctl command lines that produce them.

Pure: the runner executes the commands on a VM; this module builds them and reads their output.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass

from halab.config import layout
from halab.config.plan import Plan


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]

    @property
    def hex_id(self) -> str:
        return f"{self.id:x}"


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    member_id: int
    leader: int
    raft_term: int
    raft_index: int
    version: str
    revision: int = 0  # the member's store revision (the header's)

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader and self.leader != 0


def parse_member_list(text: str) -> list[Member]:
    return members_from(json.loads(text))


def members_from(data: dict) -> list[Member]:
    """A MemberListResponse as etcdctl prints it or the JSON gateway returns it."""
    return [Member(id=int(m["ID"]), name=m.get("name", ""),
                   peer_urls=tuple(m.get("peerURLs", [])),
                   client_urls=tuple(m.get("clientURLs", [])))
            for m in data.get("members", [])]


def parse_endpoint_status(text: str) -> list[EndpointStatus]:
    """`endpoint status -w json` prints one JSON array; unreachable endpoints are just absent."""
    return [status_from(item["Endpoint"], item["Status"]) for item in json.loads(text or "[]")]


def status_from(endpoint: str, st: dict) -> EndpointStatus:
    """A StatusResponse as etcdctl prints it or the JSON gateway returns it (ids as strings)."""
    return EndpointStatus(
        endpoint=endpoint, member_id=int(st["header"]["member_id"]),
        leader=int(st.get("leader", 0)), raft_term=int(st.get("raftTerm", 0)),
        raft_index=int(st.get("raftIndex", 0)), version=st.get("version", ""),
        revision=int(st["header"].get("revision", 0)))


@dataclass(frozen=True)
class Health:
    endpoint: str
    healthy: bool
    error: str


def parse_endpoint_health(text: str) -> list[Health]:
    """`endpoint health -w json`: one entry per endpoint asked, healthy or not."""
    return [Health(item.get("endpoint", ""), bool(item.get("health")), item.get("error", ""))
            for item in json.loads(text or "[]")]


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with `prefix` (etcd's --prefix rule)."""
    raw = bytearray(prefix.encode())
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            raw[i] += 1
            return b64(bytes(raw[: i + 1]))
    return b64(b"\0")


def parse_range_keys(data: dict) -> list[str]:
    """Keys of a JSON-gateway RangeResponse (they come base64-encoded)."""
    return [base64.b64decode(kv["key"]).decode() for kv in data.get("kvs", [])]


@dataclass(frozen=True)
class ClusterView:
    """What the members say about each other at one moment."""

    members: tuple[Member, ...]
    statuses: tuple[EndpointStatus, ...]

    def leaders(self) -> set[int]:
        return {s.leader for s in self.statuses if s.leader}

    def leader_name(self) -> str | None:
        ids = self.leaders()
        if len(ids) != 1:
            return None
        (lid,) = ids
        return next((m.name for m in self.members if m.id == lid), None)

    def terms(self) -> set[int]:
        return {s.raft_term for s in self.statuses}

    def problems(self, expected: int) -> list[str]:
        """Why this is not a healthy cluster of `expected` members with one agreed leader."""
        out = []
        if len(self.statuses) < expected:
            out.append(f"{len(self.statuses)} of {expected} members answered")
        if len(self.leaders()) != 1:
            out.append(f"members name {len(self.leaders())} leaders")
        if len(self.terms()) > 1:
            out.append(f"members disagree on the raft term: {sorted(self.terms())}")
        return out

    def listed_problems(self, topology: list[str]) -> list[str]:
        """Why not every member in etcd's own list answers, with one leader and one term, and
        where that list and the lab's topology differ. Counted from etcd's list, so a member the
        topology left out is still judged."""
        answered = {s.member_id for s in self.statuses}
        out = self.problems(len(self.members))
        silent = [m.name or m.hex_id for m in self.members if m.id not in answered]
        if silent and out and out[0].endswith("members answered"):
            out[0] += f" (silent: {', '.join(silent)})"
        names = {m.name for m in self.members}
        out += [f"etcd lists {n}, which the lab's topology does not have"
                for n in sorted(names - set(topology))]
        out += [f"{n} is in the lab's topology but not in etcd's member list"
                for n in sorted(set(topology) - names)]
        return out


def etcdctl(plan: Plan, args: str, endpoints: list[str] | str | None = None,
            command_timeout: int = 5) -> str:
    """An etcdctl command line with the lab's client certificate (run with sudo on a VM)."""
    if endpoints is None:
        endpoints = list(plan.etcd.member_client_urls)
    eps = endpoints if isinstance(endpoints, str) else ",".join(endpoints)
    tls = ""
    if plan.etcd.tls:
        tls = (f" --cacert={layout.CLIENT_PKI}/etcd-ca.crt"
               f" --cert={layout.CLIENT_PKI}/etcd-client.crt"
               f" --key={layout.CLIENT_PKI}/etcd-client.key")
    return (f"ETCDCTL_API=3 etcdctl --endpoints={shlex.quote(eps)}{tls} "
            f"--dial-timeout=2s --command-timeout={command_timeout}s {args}")


def curl_health(plan: Plan, url: str) -> str:
    """etcd's /health over plain HTTP/1.1: passes through every LB kind, Pound included."""
    tls = ""
    if plan.etcd.tls:
        tls = (f" --cacert {layout.CLIENT_PKI}/etcd-ca.crt"
               f" --cert {layout.CLIENT_PKI}/etcd-client.crt"
               f" --key {layout.CLIENT_PKI}/etcd-client.key")
    return f"curl -sS --max-time 5{tls} {shlex.quote(url + '/health')}"


def expected_members(plan: Plan) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """What `member list` must say for this topology: name → (peer URLs, client URLs)."""
    return {m.name: ((peer,), (client,)) for m, peer, client in zip(
        plan.masters, (u.split("=", 1)[1] for u in plan.etcd.initial_cluster.split(",")),
        plan.etcd.member_client_urls, strict=True)}
