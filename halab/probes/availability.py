"""Availability probes from this host, outside the lab: the API's `/readyz` through the load
balancer, and a workload's HTTP answer through a NodePort. Each call opens a new connection (a
kept one would hide an LB that stopped sending new clients anywhere) and is bounded by its
timeout; each returns "" when it got its answer, else why not."""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path


def readyz(host: str, port: int, ca: Path, timeout: float = 1.0) -> str:
    """GET /readyz over a new TLS connection that checks the apiserver's certificate against
    the lab's CA (anonymous: /readyz is public-info in Kubernetes' default RBAC)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    return _get(http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx),
                "/readyz", b"ok")


def http_ok(host: str, port: int, path: str = "/", timeout: float = 1.0) -> str:
    """GET `path` over a new HTTP connection: 200 is an answer."""
    return _get(http.client.HTTPConnection(host, port, timeout=timeout), path, None)


def _get(conn: http.client.HTTPConnection, path: str, want: bytes | None) -> str:
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read(4096)
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    finally:
        conn.close()
    if r.status != 200 or (want is not None and body.strip() != want):
        return f"HTTP {r.status}: {body[:80]!r}"
    return ""


def ready_replicas(host: str, port: int, ca: Path, client: tuple[Path, Path], path: str,
                   timeout: float = 1.0) -> int | str:
    """A Deployment's readyReplicas as the API says at `path`, over a new TLS connection with
    the admin's client certificate (`client`: cert and key files); why not, when it could not."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(client[0]), str(client[1]))
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read(1 << 20)
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    finally:
        conn.close()
    if r.status != 200:
        return f"HTTP {r.status}: {body[:80]!r}"
    try:
        return int(json.loads(body).get("status", {}).get("readyReplicas", 0))
    except (ValueError, AttributeError):
        return f"not a Deployment: {body[:80]!r}"
