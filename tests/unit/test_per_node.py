"""lb.mode per-node (seed 001): each minion's own API proxy, and with Pound the node components'
bearer tokens. Pure: topology → plan → files, and the secrets kept beside the PKI."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from labfiles import lab_plan, topology

from halab.config import layout, plan
from halab.render import desired, files, lbconfig, pki, tokens

pytestmark = pytest.mark.unit


def pound_lab() -> plan.Plan:
    return lab_plan("pound-per-node")


def with_kind(kind: str) -> plan.Plan:
    topo = topology("pound-per-node")
    return plan.build(topo.model_copy(update={"lb": topo.lb.model_copy(update={"kind": kind})}))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[plan.Plan, pki.PKIStore, dict[str, dict[str, desired.FileSpec]]]:
    p = pound_lab()
    store = pki.PKIStore(tmp_path_factory.mktemp("pki"))
    desired.sync_secrets(p, store)
    return p, store, desired.desired_files(p, files.render(p), store)


def test_the_nodes_use_their_own_proxy_and_the_masters_their_own_apiserver() -> None:
    p = pound_lab()
    assert p.kube is not None and p.kube.node_tokens
    assert [h.name for h in p.node_proxies] == ["minion1", "minion2"]
    assert p.kube.node_api_url == p.kube.master_api_url == "https://127.0.0.1:6443"
    assert p.kube.api_url == "https://192.168.35.11:6443"  # what a central LB would serve
    central = lab_plan("seed")
    assert central.node_proxies == () and central.kube is not None
    assert central.kube.node_api_url == central.kube.master_api_url == central.kube.api_url
    assert not central.kube.node_tokens and not with_kind("nginx").kube.node_tokens


def test_each_minion_proxies_every_apiserver_on_loopback_only() -> None:
    p = pound_lab()
    rendered = files.render(p)
    for m in p.minions:
        text = rendered.hosts[m.name][layout.POUND_CONF]
        assert lbconfig.backends("pound", text) == {(x.ip, 6443) for x in p.masters}
        assert "Address 127.0.0.1\n    Port 6443" in text and "0.0.0.0" not in text
        # No client certificate is asked of the node, and none is shown to the apiservers:
        # a token passes, and nothing of Pound's stands in for it.
        assert "ClientCert" not in text and "-client.pem" not in text
    lb = rendered.hosts["lb1"][layout.POUND_CONF]
    assert lbconfig.backends("pound", lb) == {(x.ip, 2379) for x in p.masters}
    assert layout.POUND_CONF not in rendered.hosts["master1"]  # masters run no proxy


@pytest.mark.parametrize("kind,conf,listen", [
    ("nginx", layout.NGINX_CONF, "listen 127.0.0.1:6443;"),
    ("haproxy", layout.HAPROXY_CONF, "bind 127.0.0.1:6443"),
])
def test_tcp_kinds_listen_on_loopback_and_keep_certificates(kind: str, conf: str,
                                                             listen: str) -> None:
    p = with_kind(kind)
    rendered = files.render(p)
    text = rendered.hosts["minion1"][conf]
    assert listen in text and lbconfig.backends(kind, text) == {(x.ip, 6443) for x in p.masters}
    assert "2379" not in text
    if kind == "haproxy":
        assert "http-check send meth GET uri /readyz" in text
    # The central LB host still forwards both ports for users and etcd's clients.
    assert lbconfig.backends(kind, rendered.hosts["lb1"][conf]) == {
        (x.ip, port) for x in p.masters for port in (2379, 6443)}


def test_kubelets_and_kube_proxy_authenticate_with_tokens_of_their_certificates_identity(
        built) -> None:
    p, store, wanted = built
    table = {}
    for line in wanted["master1"][layout.KUBE_TOKEN_FILE].content.decode().splitlines():
        token, user, uid, groups = line.split(",", 3)
        assert len(token) == 32 and uid == user
        table[token] = (user, groups.strip('"'))
    assert sorted(table.values()) == [("system:kube-proxy", "system:node-proxier"),
                                      ("system:node:minion1", "system:nodes"),
                                      ("system:node:minion2", "system:nodes")]
    for m in p.minions:
        config = yaml.safe_load(wanted[m.name]["/var/lib/kubelet/kubeconfig"].content)
        [user] = config["users"]
        assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
        assert set(user["user"]) == {"token"}
        assert table[user["user"]["token"]] == (f"system:node:{m.name}", "system:nodes")
        proxy = yaml.safe_load(wanted[m.name]["/var/lib/kube-proxy/kubeconfig"].content)
        assert table[proxy["users"][0]["user"]["token"]][0] == "system:kube-proxy"
    unit = wanted["master1"]["/etc/systemd/system/kube-apiserver.service"].content.decode()
    assert f"--token-auth-file={layout.KUBE_TOKEN_FILE}" in unit
    assert wanted["master1"][layout.KUBE_TOKEN_FILE].mode == 0o600
    # The masters' own clients keep their certificates, on their own apiserver.
    cm = yaml.safe_load(wanted["master1"][desired.CM_KUBECONFIG].content)
    assert "client-certificate-data" in cm["users"][0]["user"]
    assert cm["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


def test_pound_serves_loopback_with_a_certificate_the_kubelets_verify(built) -> None:
    p, store, wanted = built
    spec = wanted["minion1"][desired.NODE_PROXY_PEM]
    assert (spec.mode, spec.group) == (0o640, "www-data")
    cert = pki.cert_from_pem(spec.content)
    ca = pki.cert_from_pem(store.read_cert_pem(pki.KUBE_CA))
    assert cert.issuer == ca.subject
    ips, names = pki._sans(cert)[1], pki._sans(cert)[0]
    assert {str(i) for i in ips} == {"127.0.0.1"} and names == {"localhost"}
    assert b"PRIVATE KEY" in spec.content


def test_tokens_are_kept_across_runs_and_new_minions_get_theirs(tmp_path: Path) -> None:
    store = pki.PKIStore(tmp_path)
    first = tokens.sync(store, ["kubelet-minion1", "kube-proxy"])
    assert stat.S_IMODE((tmp_path / tokens.FILE).stat().st_mode) == 0o600
    assert tokens.sync(store, ["kubelet-minion1", "kube-proxy"]) == first
    more = tokens.sync(store, ["kubelet-minion1", "kubelet-minion2", "kube-proxy"])
    assert {k: more[k] for k in first} == first and len(set(more.values())) == 3


def test_a_missing_token_says_to_run_up(tmp_path: Path) -> None:
    p = pound_lab()
    store = pki.PKIStore(tmp_path)
    store.sync(pki.lab_certificates(desired.pki_input(p)))  # certificates, but no tokens
    with pytest.raises(Exception, match="run `halab up`") as exc:
        desired.desired_files(p, files.render(p), store)
    assert "kubelet-minion1" in str(exc.value)


def test_node_proxy_files_are_kube_files_only_on_minions() -> None:
    assert files.is_kube_file(layout.POUND_CONF, "minion")
    assert not files.is_kube_file(layout.POUND_CONF, "lb")
