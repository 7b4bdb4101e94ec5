"""The admin kubeconfig for this host's kubectl and its merge into the user's kubeconfig: the
server chosen per lab shape, other entries kept, removal exact, the file written 0600."""

from __future__ import annotations

import stat

import pytest
import yaml
from labfiles import lab_plan

from halab.errors import HalabError
from halab.render import kubecontexts, pki
from halab.render.desired import sync_secrets

pytestmark = pytest.mark.unit

OTHER = {
    "apiVersion": "v1", "kind": "Config", "current-context": "kind-dev",
    "clusters": [{"name": "kind-dev", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "kind-dev", "user": {"token": "t"}}],
    "contexts": [{"name": "kind-dev", "context": {"cluster": "kind-dev", "user": "kind-dev"}}],
}


def test_server_is_the_lb_or_the_first_master():
    assert kubecontexts.admin_server(lab_plan("seed")) == "https://192.168.33.11:6443"
    # Pound on lb1 forwards etcd only: kubectl goes to the first master.
    p = lab_plan("pound-per-node")
    assert kubecontexts.admin_server(p) == f"https://{p.masters[0].ip}:6443"
    with pytest.raises(HalabError, match="no Kubernetes tier"):
        kubecontexts.admin_server(lab_plan("etcd-only"))


def test_admin_kubeconfig_names_everything_halab_lab(tmp_path):
    p = lab_plan("seed")
    store = pki.PKIStore(tmp_path / "pki")
    sync_secrets(p, store)
    doc = yaml.safe_load(kubecontexts.admin_kubeconfig(p, store))
    assert doc["current-context"] == "halab-seed"
    assert [c["name"] for c in doc["clusters"]] == ["halab-seed"]
    assert doc["contexts"][0]["context"] == {"cluster": "halab-seed", "user": "halab-seed"}
    assert doc["clusters"][0]["cluster"]["server"] == "https://192.168.33.11:6443"
    assert doc["users"][0]["user"]["client-key-data"]


def test_admin_kubeconfig_without_certificates_says_to_up(tmp_path):
    with pytest.raises(HalabError, match="missing PKI file.*kubernetes-ca"):
        kubecontexts.admin_kubeconfig(lab_plan("seed"), pki.PKIStore(tmp_path))


def _ours(lab: str) -> dict:
    n = kubecontexts.context_name(lab)
    return {"clusters": [{"name": n, "cluster": {"server": "https://x:6443"}}],
            "users": [{"name": n, "user": {"token": "a"}}],
            "contexts": [{"name": n, "context": {"cluster": n, "user": n}}],
            "current-context": n}


def test_merge_keeps_other_entries_and_the_current_context():
    out = kubecontexts.merged(OTHER, _ours("seed"))
    assert [c["name"] for c in out["contexts"]] == ["kind-dev", "halab-seed"]
    assert out["current-context"] == "kind-dev"
    assert out["users"][0] == OTHER["users"][0]


def test_merge_replaces_its_own_entries_and_sets_current_only_when_none():
    once = kubecontexts.merged(None, _ours("seed"))
    again = kubecontexts.merged(once, _ours("seed"))
    assert again == once
    assert once["current-context"] == "halab-seed"
    assert len(again["clusters"]) == 1


def test_without_removes_exactly_ours():
    both = kubecontexts.merged(kubecontexts.merged(OTHER, _ours("seed")), _ours("seed-s01"))
    out, found = kubecontexts.without(both, "halab-seed")
    assert found
    assert [c["name"] for c in out["contexts"]] == ["kind-dev", "halab-seed-s01"]
    assert [c["name"] for c in out["users"]] == ["kind-dev", "halab-seed-s01"]
    assert out["current-context"] == "kind-dev"
    assert kubecontexts.without(out, "halab-seed")[1] is False


def test_without_clears_a_current_context_of_ours():
    out, found = kubecontexts.without(kubecontexts.merged(None, _ours("seed")), "halab-seed")
    assert found and out["current-context"] == "" and out["contexts"] == []


def test_user_config_path_is_the_first_of_kubeconfig(tmp_path):
    assert kubecontexts.user_config_path({}, tmp_path) == tmp_path / ".kube" / "config"
    env = {"KUBECONFIG": f":{tmp_path}/a:{tmp_path}/b"}
    assert kubecontexts.user_config_path(env, tmp_path) == tmp_path / "a"


def test_load_refuses_a_broken_file_and_write_is_private(tmp_path):
    path = tmp_path / "kube" / "config"
    assert kubecontexts.load(path) is None
    kubecontexts.write_private(path, kubecontexts.dump(OTHER))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kubecontexts.load(path) == OTHER
    path.write_text("- a list\n")
    with pytest.raises(HalabError, match="not a kubeconfig"):
        kubecontexts.load(path)
    path.write_text("a: [\n")
    with pytest.raises(HalabError, match="cannot read the kubeconfig"):
        kubecontexts.load(path)
