"""curl command lines that call the Kubernetes API as a node's kubelet would, through its own
API proxy (lb.mode per-node), and what their answers say. Only the text is made here; the
verification runs it on the node."""

from __future__ import annotations

import json
import shlex

from halab.config import layout
from halab.config.plan import APISERVER_PORT

LOCAL = f"https://127.0.0.1:{APISERVER_PORT}"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def as_kubelet(tokens: bool) -> str:
    """curl options that present the kubelet's own credentials: its bearer token (read from
    its kubeconfig, with per-node Pound) or its client certificate."""
    if tokens:
        return (f'-H "Authorization: Bearer $(sed -n "s/^ *token: *//p" '
                f'{layout.KUBELET_KUBECONFIG})"')
    return f"--cert {layout.KUBELET_PKI}/kubelet.crt --key {layout.KUBELET_PKI}/kubelet.key"


def curl(path: str, auth: str = "", method: str = "GET", body: dict | None = None,
         url: str = LOCAL) -> str:
    """The status code on the last line, after the body; the lab's kube CA verifies the
    server (Pound's loopback certificate, or an apiserver's through a TCP proxy)."""
    data = f" -H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}" \
        if body is not None else ""
    return (f"curl -sS --max-time 10 --cacert {layout.KUBE_PKI}/ca.crt -X {method} {auth}"
            f"{data} -w '\\n%{{http_code}}' {shlex.quote(url + path)}")


def who_am_i(tokens: bool) -> str:
    return curl("/apis/authentication.k8s.io/v1/selfsubjectreviews", as_kubelet(tokens),
                "POST", REVIEW)


def split(out: str) -> tuple[str, int]:
    """(body, HTTP status) of a `curl` line; status 0 when curl got no answer."""
    body, _, code = out.rstrip("\n").rpartition("\n")
    return body, int(code) if code.isdigit() else 0


def username(body: str) -> str:
    try:
        return json.loads(body)["status"]["userInfo"]["username"]
    except (ValueError, KeyError, TypeError):
        return ""
