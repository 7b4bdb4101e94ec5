"""Reads back which backends a rendered load-balancer config forwards to (nginx, Pound, HAProxy).

Pure: verification reads the config on the LB host and compares this with the topology's masters.
"""

from __future__ import annotations

import re

_NGINX = re.compile(r"^\s*server\s+(\d+\.\d+\.\d+\.\d+):(\d+)\b", re.M)
_HAPROXY = re.compile(r"^\s*server\s+\S+\s+(\d+\.\d+\.\d+\.\d+):(\d+)\b", re.M)


def _pound(text: str) -> set[tuple[str, int]]:
    """Address/Port pairs inside BackEnd … End blocks (listeners use the same keywords)."""
    out, inside, addr, port = set(), False, None, None
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        key = words[0].lower()
        if key == "backend":
            inside, addr, port = True, None, None
        elif inside and key == "end":
            if addr and port:
                out.add((addr, port))
            inside = False
        elif inside and key == "address" and len(words) > 1:
            addr = words[1].strip('"')
        elif inside and key == "port" and len(words) > 1:
            port = int(words[1])
    return out


def backends(kind: str, text: str) -> set[tuple[str, int]]:
    """(ip, port) of every backend server the config names."""
    if kind == "nginx":
        return {(ip, int(port)) for ip, port in _NGINX.findall(text)}
    if kind == "haproxy":
        return {(ip, int(port)) for ip, port in _HAPROXY.findall(text)}
    if kind == "pound":
        return _pound(text)
    raise ValueError(f"unknown load balancer kind {kind!r}")
