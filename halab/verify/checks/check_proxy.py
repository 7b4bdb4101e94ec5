"""lb.mode per-node: each minion's own API proxy passes its kubelet's identity, and nobody's
else. Runs once per such minion; a lab without per-node has none, and they are not collected."""

from __future__ import annotations

from halab.facts import apicall
from halab.session.context import Lab


def _kube_tokens(lab: Lab) -> bool:
    return lab.plan.kube is not None and lab.plan.kube.node_tokens


def test_the_node_proxy_carries_the_kubelets_own_identity(proxied, lab: Lab,  # noqa: ANN001
                                                          record_property) -> None:
    """the node's own API proxy (127.0.0.1:6443) reaches an apiserver as the node itself"""
    body, status = apicall.split(proxied.run(apicall.who_am_i(_kube_tokens(lab))).stdout)
    want = f"system:node:{proxied.name}"
    assert status == 201 and apicall.username(body) == want, f"HTTP {status}: {body[-200:]}"
    how = "bearer token through Pound" if _kube_tokens(lab) else "client certificate"
    record_property("detail", f"{want} ({how}, {lab.plan.lb_kind} on loopback)")


def test_an_anonymous_call_through_the_node_proxy_is_refused(proxied) -> None:  # noqa: ANN001
    """a call without credentials through the node's proxy is refused: the proxy adds none"""
    body, status = apicall.split(proxied.run(apicall.curl("/api/v1/nodes")).stdout)
    assert status in (401, 403), f"HTTP {status}: {body[-200:]}"
