"""The lab PKI on real certificates: what they say, who signed them, what a re-run keeps."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU
from cryptography.x509.oid import NameOID

from halab.errors import HalabError
from halab.render import pki

pytestmark = pytest.mark.unit

LAB = pki.LabPKIInput(
    lab_name="seed",
    masters=[("master1", "10.240.0.11"), ("master2", "10.240.0.12"), ("master3", "10.240.0.13")],
    minions=[("minion1", "10.240.0.21"), ("minion2", "10.240.0.22")],
    lb_ips=["10.240.0.10"],
    service_first_ip="10.32.0.1",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, pki.PKISummary]:
    """One PKI for the whole module; tests that change it work on a copy (see `store`)."""
    directory = tmp_path_factory.mktemp("pki") / "pki"
    return directory, pki.PKIStore(directory).sync(pki.lab_certificates(LAB))


@pytest.fixture
def store(built, tmp_path) -> pki.PKIStore:
    copy = tmp_path / "pki"
    shutil.copytree(built[0], copy)  # copy2 keeps the modes
    return pki.PKIStore(copy)


def cert(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes())


def sans(c: x509.Certificate) -> tuple[set[str], set[str]]:
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(i) for i in san.get_values_for_type(x509.IPAddress)})


def ekus(c: x509.Certificate) -> set:
    return set(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def subject(c: x509.Certificate, oid) -> list[str]:
    return [a.value for a in c.subject.get_attributes_for_oid(oid)]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# ── what the certificates say ───────────────────────────────────────────────────────────────────


def test_first_run_creates_everything(built):
    _, summary = built
    names = [r.name for r in pki.lab_certificates(LAB)]
    assert summary.created == names and not summary.kept and not summary.reissued
    assert {"etcd-ca", "kubernetes-ca", "front-proxy-ca", "etcd/master2-server",
            "etcd/master2-peer", "etcd/client", "kubernetes/apiserver", "kubernetes/admin",
            "kubernetes/kubelet-minion2", "front-proxy/client",
            "kubernetes/service-account"} <= set(names)


def test_apiserver_sans_cover_every_way_in(built):
    dns, ips = sans(cert(built[0], "kubernetes/apiserver"))
    assert ips >= {"10.240.0.11", "10.240.0.12", "10.240.0.13", "10.240.0.10", "10.32.0.1",
                   "127.0.0.1"}
    assert dns >= {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local", "localhost"}


def test_etcd_server_is_reachable_through_the_load_balancer(built):
    c = cert(built[0], "etcd/master2-server")
    assert sans(c) == ({"master2", "localhost"}, {"10.240.0.12", "127.0.0.1", "10.240.0.10"})
    assert ekus(c) == {EKU.SERVER_AUTH, EKU.CLIENT_AUTH}
    assert sans(cert(built[0], "etcd/master2-peer")) == ({"master2"}, {"10.240.0.12"})


@pytest.mark.parametrize(("name", "cn", "orgs", "usages"), [
    ("etcd/client", "halab-etcd-client", [], {EKU.CLIENT_AUTH}),
    ("kubernetes/apiserver", "kube-apiserver", [], {EKU.SERVER_AUTH}),
    ("kubernetes/apiserver-kubelet-client", "kube-apiserver-kubelet-client",
     ["system:masters"], {EKU.CLIENT_AUTH}),
    ("kubernetes/admin", "admin", ["system:masters"], {EKU.CLIENT_AUTH}),
    ("kubernetes/kube-controller-manager", "system:kube-controller-manager", [],
     {EKU.CLIENT_AUTH}),
    ("kubernetes/kube-scheduler", "system:kube-scheduler", [], {EKU.CLIENT_AUTH}),
    ("kubernetes/kube-proxy", "system:kube-proxy", ["system:node-proxier"], {EKU.CLIENT_AUTH}),
    ("kubernetes/kubelet-minion1", "system:node:minion1", ["system:nodes"],
     {EKU.CLIENT_AUTH, EKU.SERVER_AUTH}),
    ("front-proxy/client", "front-proxy-client", [], {EKU.CLIENT_AUTH}),
])
def test_identities_and_usages(built, name, cn, orgs, usages):
    c = cert(built[0], name)
    assert subject(c, NameOID.COMMON_NAME) == [cn]
    assert subject(c, NameOID.ORGANIZATION_NAME) == orgs
    assert ekus(c) == usages
    ku = c.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    assert not ku.value.key_cert_sign
    assert not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
    ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert ski.digest and aki.key_identifier


def test_kubelet_serves_its_own_address(built):
    assert sans(cert(built[0], "kubernetes/kubelet-minion2")) == ({"minion2"}, {"10.240.0.22"})


@pytest.mark.parametrize("name", ["etcd-ca", "kubernetes-ca", "front-proxy-ca"])
def test_cas_are_cas(built, name):
    c = cert(built[0], name)
    bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert c.subject == c.issuer
    c.verify_directly_issued_by(c)
    assert subject(c, NameOID.COMMON_NAME) == [f"seed-{name}"]
    assert c.not_valid_after_utc - c.not_valid_before_utc == dt.timedelta(days=3650)


def test_validity_window_allows_for_clock_skew(built):
    c = cert(built[0], "kubernetes/admin")
    now = dt.datetime.now(dt.UTC)
    assert now - dt.timedelta(minutes=10) < c.not_valid_before_utc < now - dt.timedelta(minutes=4)
    assert c.not_valid_after_utc - c.not_valid_before_utc == dt.timedelta(days=365)


def test_every_certificate_chains_to_its_own_ca(built):
    directory = built[0]
    for req in pki.lab_certificates(LAB):
        if req.kind == "cert":
            cert(directory, req.name).verify_directly_issued_by(cert(directory, req.issuer))
    assert {r.issuer for r in pki.lab_certificates(LAB) if r.name.startswith("etcd/")} == {
        "etcd-ca"}
    with pytest.raises((ValueError, InvalidSignature)):  # wrong CA: refused
        cert(directory, "front-proxy/client").verify_directly_issued_by(
            cert(directory, "kubernetes-ca"))


def test_service_account_key_is_rsa_with_its_public_half(built):
    directory = built[0]
    key = pki.key_from_pem((directory / "kubernetes/service-account.key").read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert (directory / "kubernetes/service-account.pub").read_bytes() == pki.public_key_pem(key)
    assert not (directory / "kubernetes/service-account.crt").exists()


def test_private_keys_are_0600_and_directories_0700(built):
    directory = built[0]
    keys = list(directory.rglob("*.key"))
    assert len(keys) == len(pki.lab_certificates(LAB))
    assert {stat.S_IMODE(k.stat().st_mode) for k in keys} == {0o600}
    dirs = [directory, *(p for p in directory.rglob("*") if p.is_dir())]
    assert {stat.S_IMODE(d.stat().st_mode) for d in dirs} == {0o700}
    assert not list(directory.rglob("*.tmp"))


def test_etcd_only_lab_has_no_kubernetes_pki():
    names = [r.name for r in pki.lab_certificates(dataclasses.replace(LAB, kube_enabled=False))]
    assert names == ["etcd-ca", "etcd/master1-server", "etcd/master1-peer",
                     "etcd/master2-server", "etcd/master2-peer", "etcd/master3-server",
                     "etcd/master3-peer", "etcd/client", "etcd/lb-server"]


# ── re-runs ─────────────────────────────────────────────────────────────────────────────────────


def test_rerun_changes_nothing(store):
    before = snapshot(store.directory)
    summary = store.sync(pki.lab_certificates(LAB))
    assert summary.created == [] and summary.reissued == [] and not summary.changed
    assert summary.kept == [r.name for r in pki.lab_certificates(LAB)]
    assert str(summary).startswith("0 changes")
    assert snapshot(store.directory) == before


def test_changed_minion_ip_reissues_only_its_kubelet_and_keeps_the_key(store):
    before = snapshot(store.directory)
    minions = [("minion1", "10.240.0.21"), ("minion2", "10.240.0.99")]
    summary = store.sync(pki.lab_certificates(dataclasses.replace(LAB, minions=minions)))
    assert summary.reissued == ["kubernetes/kubelet-minion2"] and summary.created == []
    assert "alternative names" in summary.reasons["kubernetes/kubelet-minion2"]
    after = snapshot(store.directory)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"kubernetes/kubelet-minion2.crt"}
    assert sans(cert(store.directory, "kubernetes/kubelet-minion2"))[1] == {"10.240.0.99"}


def test_new_lb_ip_reissues_what_clients_reach_through_the_lb(store):
    summary = store.sync(pki.lab_certificates(dataclasses.replace(LAB, lb_ips=["10.240.0.10",
                                                                              "10.240.0.9"])))
    assert set(summary.reissued) == {"etcd/master1-server", "etcd/master2-server",
                                     "etcd/master3-server", "etcd/lb-server",
                                     "kubernetes/apiserver"}
    assert "10.240.0.9" in sans(cert(store.directory, "kubernetes/apiserver"))[1]


def test_expiring_certificate_is_renewed(store):
    spec = next(r.spec for r in pki.lab_certificates(LAB) if r.name == "kubernetes/admin")
    ca = store.load_ca("kubernetes-ca")
    key = pki.key_from_pem(store.read_key_pem("kubernetes/admin"))
    old = pki.issue(ca, key, spec, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=340))
    store.cert_path("kubernetes/admin").write_bytes(pki.cert_to_pem(old))
    summary = store.sync(pki.lab_certificates(LAB))
    assert summary.reissued == ["kubernetes/admin"]
    assert "expires" in summary.reasons["kubernetes/admin"]
    assert store.read_key_pem("kubernetes/admin") == pki.key_to_pem(key)


def test_lost_ca_reissues_everything_it_signed_and_nothing_else(store):
    store.key_path("front-proxy-ca").unlink()
    summary = store.sync(pki.lab_certificates(LAB))
    assert summary.reissued == ["front-proxy-ca", "front-proxy/client"]
    cert(store.directory, "front-proxy/client").verify_directly_issued_by(
        cert(store.directory, "front-proxy-ca"))


def test_damaged_files_are_repaired(store):
    store.cert_path("etcd/client").write_text("garbage")
    store.key_path("kubernetes/service-account").write_bytes(
        pki.key_to_pem(pki.new_key("ec")))  # wrong kind: service accounts need RSA
    store.key_path("kubernetes/admin").chmod(0o644)
    summary = store.sync(pki.lab_certificates(LAB))
    assert set(summary.reissued) == {"etcd/client", "kubernetes/service-account"}
    assert isinstance(pki.key_from_pem(store.read_key_pem("kubernetes/service-account")),
                      rsa.RSAPrivateKey)
    assert stat.S_IMODE(store.key_path("kubernetes/admin").stat().st_mode) == 0o600


# ── kubeconfigs ─────────────────────────────────────────────────────────────────────────────────


def test_kubeconfigs_embed_the_lab_credentials(built):
    store = pki.PKIStore(built[0])
    configs = pki.lab_kubeconfigs(LAB, store, "https://10.240.0.10:6443")
    assert set(configs) == {"admin", "kube-controller-manager", "kube-scheduler", "kube-proxy",
                            "kubelet-minion1", "kubelet-minion2"}
    doc = yaml.safe_load(configs["kubelet-minion1"])
    (cluster,), (user,), (context,) = doc["clusters"], doc["users"], doc["contexts"]
    assert doc["current-context"] == context["name"] == "seed"
    assert context["context"] == {"cluster": "seed", "user": "system:node:minion1"}
    assert cluster["cluster"]["server"] == "https://10.240.0.10:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == (
        store.read_cert_pem("kubernetes-ca"))
    cert_pem = base64.b64decode(user["user"]["client-certificate-data"])
    assert cert_pem == store.read_cert_pem("kubernetes/kubelet-minion1")
    key = pki.key_from_pem(base64.b64decode(user["user"]["client-key-data"]))
    assert x509.load_pem_x509_certificate(cert_pem).public_key() == key.public_key()
    assert yaml.safe_load(configs["admin"])["users"][0]["name"] == "admin"


def test_kubeconfigs_need_a_materialised_store(tmp_path):
    with pytest.raises(HalabError, match="missing PKI file"):
        pki.lab_kubeconfigs(LAB, pki.PKIStore(tmp_path), "https://10.240.0.10:6443")
    assert pki.lab_kubeconfigs(dataclasses.replace(LAB, kube_enabled=False),
                               pki.PKIStore(tmp_path), "https://x:6443") == {}


# ── guard rails ─────────────────────────────────────────────────────────────────────────────────


def test_specs_and_requests_reject_what_would_break_later():
    with pytest.raises(ValueError, match="30 days"):
        pki.CertSpec("short", client=True, days=7)  # would be "renewed" on every run
    with pytest.raises(ValueError):
        pki.CertSpec("x", ip_sans=("10.0.0.300",))
    with pytest.raises(ValueError, match="bad PKI name"):
        pki.CertRequest("../escape", "keypair")
    ca = pki.CertificateAuthority.create("test-ca")
    with pytest.raises(ValueError, match="server and/or client"):
        pki.issue(ca, pki.new_key(), pki.CertSpec("nothing"))
