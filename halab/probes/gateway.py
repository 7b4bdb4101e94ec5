"""A small client for etcd's JSON gateway (`/v3/...` over HTTP/1.1), run from this host.

The failover demo writes and polls from here rather than from a VM, so its clock is one clock
and nothing it measures waits on an SSH round trip. HTTP/1.1 also passes every LB kind (Pound
cannot carry etcdctl's gRPC). Every call has a timeout; a failure is a `GatewayError`.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from halab.config.plan import Plan
from halab.facts import etcd
from halab.render import pki


class GatewayError(Exception):
    pass


@dataclass(frozen=True)
class ClientIdentity:
    """The lab's etcd CA and client certificate, as `halab up` keeps them on this host."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def of_lab(cls, pki_dir: Path) -> ClientIdentity:
        store = pki.PKIStore(pki_dir)
        return cls(store.cert_path(pki.ETCD_CA), store.cert_path("etcd/client"),
                   store.key_path("etcd/client"))

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


class Gateway:
    """One keep-alive connection to one etcd URL (a member, or the LB in front of them)."""

    def __init__(self, url: str, identity: ClientIdentity | None, timeout: float = 2.0):
        parts = urlsplit(url)
        self.url, self.host, self.port = url, parts.hostname or "", parts.port or 2379
        self.tls = parts.scheme == "https"
        self.timeout = timeout
        self._ctx = identity.context() if (self.tls and identity) else None
        self._conn: http.client.HTTPConnection | None = None

    @classmethod
    def for_lab(cls, plan: Plan, pki_dir: Path, url: str, timeout: float = 2.0) -> Gateway:
        return cls(url, ClientIdentity.of_lab(pki_dir) if plan.etcd.tls else None, timeout)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.tls:
                self._conn = http.client.HTTPSConnection(self.host, self.port, context=self._ctx,
                                                         timeout=self.timeout)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, path: str, body: dict) -> dict:
        """POST one request; on any failure the connection is dropped and the next reconnects."""
        try:
            conn = self._connection()
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise GatewayError(f"{self.url}{path}: {exc.__class__.__name__}: {exc}") from exc
        if resp.status != 200:
            self.close()
            raise GatewayError(f"{self.url}{path}: HTTP {resp.status}: "
                               f"{data.decode(errors='replace')[:200]}")
        try:
            return json.loads(data or b"{}")
        except ValueError as exc:
            raise GatewayError(f"{self.url}{path}: not JSON: {data[:200]!r}") from exc

    def put(self, key: str, value: str) -> None:
        self.call("/v3/kv/put", {"key": etcd.b64(key), "value": etcd.b64(value)})

    def keys(self, prefix: str) -> list[str]:
        data = self.call("/v3/kv/range", {"key": etcd.b64(prefix),
                                          "range_end": etcd.prefix_end(prefix),
                                          "keys_only": True})
        return etcd.parse_range_keys(data)

    def status(self) -> etcd.EndpointStatus:
        return etcd.status_from(self.url, self.call("/v3/maintenance/status", {}))

    def members(self) -> list[etcd.Member]:
        return etcd.members_from(self.call("/v3/cluster/member/list", {}))

    def delete_prefix(self, prefix: str) -> None:
        self.call("/v3/kv/deleterange", {"key": etcd.b64(prefix),
                                         "range_end": etcd.prefix_end(prefix)})

    def move_leader(self, target_id: int) -> None:
        """Hand etcd's leadership to member `target_id`; only the current leader accepts it."""
        self.call("/v3/maintenance/transfer-leadership", {"targetID": str(target_id)})
