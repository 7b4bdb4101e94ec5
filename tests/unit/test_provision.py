"""Provisioning plan, preflight and lab-directory logic (pure; no VMs)."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest
from labfiles import topology

from halab import tiers
from halab.artifacts import images
from halab.config import layout, plan, preflight
from halab.facts import kube
from halab.providers.vagrant_libvirt.provider import VagrantLibvirt
from halab.render import desired as provision
from halab.render import files as render
from halab.render import pki
from halab.tiers import etcd as etcd_tier
from halab.tiers import kube_nodes
from halab.tiers import lb as lb_tier

pytestmark = pytest.mark.unit


def lab(name: str = "etcd-only", **lb: str) -> plan.Plan:
    topo = topology(name)
    if lb:
        topo = topo.model_copy(update={"lb": topo.lb.model_copy(update=lb)})
    return plan.build(topo)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> pki.PKIStore:
    s = pki.PKIStore(tmp_path_factory.mktemp("pki"))
    s.sync(pki.lab_certificates(provision.pki_input(lab(kind="pound"))))
    return s


def test_masters_get_etcd_certificates_owned_by_etcd_with_private_keys_0600(store) -> None:
    p = lab()
    files = provision.desired_files(p, render.render(p), store)
    key = files["master1"][f"{layout.ETCD_PKI}/server.key"]
    assert (key.owner, key.group, key.mode) == ("etcd", "etcd", 0o600)
    assert files["master1"][f"{layout.CLIENT_PKI}/etcd-client.key"].mode == 0o600
    assert f"{layout.ETCD_PKI}/server.key" not in files["lb1"]
    assert files["master1"][layout.ETCD_ENV].content.startswith(b"# etcd member master1")


def test_pound_gets_combined_pem_files_readable_by_its_group(store) -> None:
    p = lab(kind="pound")
    files = provision.desired_files(p, render.render(p), store)["lb1"]
    pem = files[f"{layout.POUND_PKI}/etcd-server.pem"]
    assert b"BEGIN CERTIFICATE" in pem.content and b"PRIVATE KEY" in pem.content
    assert (pem.group, pem.mode) == ("www-data", 0o640)


def test_only_changed_files_are_uploaded() -> None:
    desired = {"/a": provision.FileSpec(b"one"), "/b": provision.FileSpec(b"two")}
    remote = {"/a": provision.FileSpec(b"one").sha256, "/b": "stale"}
    assert provision.changed_paths(desired, remote) == ["/b"]
    assert provision.changed_paths(desired, {}) == ["/a", "/b"]


def test_a_changed_file_restarts_only_its_service() -> None:
    assert etcd_tier.TIER.services_for([layout.ETCD_ENV]) == ["etcd"]
    assert etcd_tier.TIER.services_for([f"{layout.ETCD_PKI}/peer.crt"]) == ["etcd"]
    assert etcd_tier.TIER.services_for(["/etc/hosts"]) == []
    assert lb_tier.make("nginx").services_for([layout.NGINX_CONF]) == ["nginx"]
    assert lb_tier.make("pound").services_for([f"{layout.POUND_PKI}/x.pem"]) == ["pound"]
    assert provision.is_unit("/etc/systemd/system/etcd.service")
    assert not provision.is_unit("/etc/default/etcd")


def test_tiers_are_etcd_then_the_load_balancer() -> None:
    assert [s.tier.name for s in tiers.steps(lab())] == ["etcd", "load balancer"]


def facts(**kw: object) -> preflight.HostFacts:
    base = dict(mem_available_mib=20000, disk_free_gib=50.0, routes=[], libvirt_networks={})
    base.update(kw)
    return preflight.HostFacts(**base)  # type: ignore[arg-type]


def test_preflight_passes_on_a_roomy_host() -> None:
    assert preflight.problems(lab(), facts(), running=set()) == []


def test_preflight_counts_memory_of_vms_not_yet_running() -> None:
    p = lab()
    need = preflight.needed_mib(p, set())
    assert need == 4 * (512 + preflight.VM_OVERHEAD_MIB)
    assert preflight.needed_mib(p, {"master1"}) == need - 512 - preflight.VM_OVERHEAD_MIB
    found = preflight.problems(p, facts(mem_available_mib=need - 1), running=set())
    assert len(found) == 1 and f"needs {need} MiB" in found[0]


def test_preflight_refuses_colliding_subnets_but_not_the_labs_own_networks() -> None:
    p = lab()
    other = {"halab-other": (IPv4Network("192.168.43.0/24"), "virbr9"),
             p.network_name: (IPv4Network(p.subnet), "virbr1")}
    found = preflight.problems(p, facts(libvirt_networks=other), running=set())
    assert len(found) == 1 and "halab-other" in found[0]
    routed = [("eth0", IPv4Network("192.168.0.0/16")), ("virbr1", IPv4Network(p.subnet))]
    found = preflight.problems(p, facts(routes=routed, libvirt_networks=other), running=set())
    assert any("route to 192.168.0.0/16 on eth0" in f for f in found)
    assert not any("virbr1" in f for f in found)


def test_ssh_config_targets_private_ips_with_the_installation_key() -> None:
    p = lab()
    text = VagrantLibvirt(Path("/nonexistent"), p).ssh_config(p, Path("/k/id_ed25519"))
    assert "Host master2\n  HostName 192.168.43.22\n  User vagrant" in text
    assert text.count("IdentityFile /k/id_ed25519") == 4


# ── kube tier ───────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory: pytest.TempPathFactory) -> pki.PKIStore:
    s = pki.PKIStore(tmp_path_factory.mktemp("seed-pki"))
    s.sync(pki.lab_certificates(provision.pki_input(lab("seed"))))
    return s


def test_kube_keys_and_kubeconfigs_are_0600_and_point_at_the_lb(seed_store) -> None:
    import yaml

    p = lab("seed")
    files = provision.desired_files(p, render.render(p), seed_store)
    m1, n1 = files["master1"], files["minion1"]
    for path in (f"{layout.KUBE_PKI}/apiserver.key", f"{layout.KUBE_PKI}/service-account.key",
                 f"{layout.KUBE_PKI}/ca.key", provision.CM_KUBECONFIG, kube.ADMIN_KUBECONFIG):
        assert m1[path].mode == 0o600, path
    for path in (f"{provision.KUBELET_PKI}/kubelet.key", provision.KUBELET_KUBECONFIG,
                 provision.PROXY_KUBECONFIG):
        assert n1[path].mode == 0o600, path
    assert f"{layout.KUBE_PKI}/ca.key" not in n1  # only masters sign
    assert not any(path.startswith(layout.KUBE_PKI) for path in files["lb1"])
    cfg = yaml.safe_load(n1[provision.KUBELET_KUBECONFIG].content)
    assert cfg["clusters"][0]["cluster"]["server"] == "https://192.168.33.11:6443"
    assert cfg["users"][0]["name"] == "system:node:minion1"


def test_each_role_gets_its_own_kube_binaries() -> None:
    p = lab("seed")
    by_role = {h.role: set(provision.binaries_for(p, h).values()) for h in p.hosts}
    assert by_role["master"] == {"kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                 "kubectl"}
    assert by_role["minion"] == {"kubelet", "kube-proxy", "flanneld", "flannel"}
    assert by_role["lb"] == set()
    assert provision.binaries_for(lab("etcd-only"), lab("etcd-only").masters[0]) == {}


def test_kube_tiers_follow_etcd_and_the_lb_only_when_on() -> None:
    p = lab("seed")
    assert [s.tier.name for s in tiers.steps(p)] == ["etcd", "load balancer",
                                                    "kube control plane", "kube nodes"]
    assert [s.tier.name for s in tiers.steps(p, kube=False)] == ["etcd", "load balancer"]


def test_a_changed_kubelet_certificate_restarts_the_kubelet_only() -> None:
    tier = kube_nodes.TIER
    assert tier.services_for([f"{provision.KUBELET_PKI}/kubelet.crt"]) == ["kubelet"]
    assert tier.services_for(["/usr/local/bin/kube-proxy"]) == ["kube-proxy"]
    assert tier.services_for([provision.CONTAINERD_CONFIG]) == ["containerd"]


def test_minions_get_the_image_archives() -> None:
    p = lab("seed")
    archives = {spec.ref: b"tar" for spec in images.IMAGES}
    minion, master = p.minions[0], p.masters[0]
    assert set(provision.image_files(p, minion, archives)) == {
        images.remote_archive(s) for s in images.IMAGES}
    assert provision.image_files(p, master, archives) == {}


def test_the_binary_manifest_round_trips_and_forgets_missing_files() -> None:
    hashes = {"/usr/local/bin/kubelet": "a" * 64, "/usr/local/bin/kube-proxy": "b" * 64}
    text = provision.binary_manifest(hashes)
    assert provision.parse_binary_manifest(text) == hashes
    gone = provision.parse_binary_manifest(text + "missing /usr/local/bin/kubelet\n")
    assert gone == {"/usr/local/bin/kube-proxy": "b" * 64}


@pytest.mark.parametrize(("service", "reached", "kube_up", "cell"), [
    ("etcd", ["master1", "master2"], False, "master1, master2"),
    ("etcd", [], False, "none"),
    ("kube-apiserver", [], False, "—"),
    ("kube-apiserver", [], True, "none"),
    ("kube-apiserver", ["master3"], False, "master3"),
    ("etcd", None, True, "?"),
])
def test_status_lb_cell_says_what_it_measured(service, reached, kube_up, cell):
    """A closed apiserver port on a lab whose kube tier is not provisioned is "—", not an LB
    with no backends (issue 16)."""
    from halab.lab.status import lb_cell

    assert lb_cell(service, reached, kube_up) == cell
