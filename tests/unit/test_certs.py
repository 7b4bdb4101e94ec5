"""`halab certs`' pure parts: the PKI's renewal (every leaf reissued, keys and CAs kept), which
files on which host hold a certificate, reading them back (PEM, Pound's PEM, kubeconfigs), the
host listing's shell command and its parse, and where each server certificate is served."""

from __future__ import annotations

import subprocess

import pytest
from labfiles import lab_plan

from halab.facts import certs
from halab.render import desired, pki

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    p = lab_plan("seed", accel="native", provider="container")
    store = pki.PKIStore(tmp_path_factory.mktemp("pki"))
    desired.sync_secrets(p, store)
    return p, store


def serials(store: pki.PKIStore, names: list[str]) -> dict[str, int]:
    return {n: pki.cert_from_pem(store.read_cert_pem(n)).serial_number for n in names}


def test_renew_reissues_every_leaf_with_its_key_and_keeps_the_cas(tmp_path) -> None:
    p = lab_plan("seed", accel="native", provider="container")
    store = pki.PKIStore(tmp_path)
    desired.sync_secrets(p, store)
    reqs = pki.lab_certificates(desired.pki_input(p))
    leaves = [r.name for r in reqs if r.kind == "cert"]
    cas = [r.name for r in reqs if r.kind == "ca"]
    before, keys = serials(store, leaves + cas), {n: store.read_key_pem(n) for n in leaves}
    summary = desired.sync_secrets(p, store, renew=True)
    after = serials(store, leaves + cas)
    assert sorted(summary.reissued) == sorted(leaves)
    assert sorted(summary.kept) == sorted([*cas, pki.SERVICE_ACCOUNT])
    assert set(summary.reasons.values()) == {"renewed on request"}
    assert all(after[n] != before[n] for n in leaves)
    assert all(after[n] == before[n] for n in cas)
    assert all(store.read_key_pem(n) == keys[n] for n in leaves)
    assert not desired.sync_secrets(p, store).changed  # the renewed ones are kept from then on


def test_the_certificate_files_are_the_certificates_pems_and_kubeconfigs(seed_store) -> None:
    p, store = seed_store
    files = desired.certificate_files(p, store)
    master1 = files["master1"]
    assert master1["/etc/etcd/pki/server.crt"].name == "etcd/master1-server"
    assert master1["/etc/etcd/pki/server.crt"].readers == ("etcd",)
    assert not any(path.endswith(".key") for host in files.values() for path in host)
    kubeconfigs = [path for path, f in files["minion1"].items() if b"apiVersion" in f.content]
    assert kubeconfigs, files["minion1"]
    for host in files.values():
        for path, f in host.items():
            assert certs.from_file(f.content) is not None, (path, f.name)


def test_a_file_is_read_back_whatever_holds_the_certificate(seed_store) -> None:
    p, store = seed_store
    cert = store.read_cert_pem("etcd/master1-server")
    got = certs.from_file(cert + store.read_key_pem("etcd/master1-server"))  # Pound's PEM
    assert got is not None and got.subject == "master1" and got.issuer == "seed-etcd-ca"
    assert "127.0.0.1" in got.sans and "master1" in got.sans
    assert got.serial == pki.cert_from_pem(cert).serial_number
    kubelet = certs.from_file(pki.lab_kubeconfigs(desired.pki_input(p), store,
                                                  "https://10.0.0.1:6443")["kubelet-minion1"]
                              .encode())
    assert kubelet is not None and kubelet.subject == "system:node:minion1 (system:nodes)"
    token = pki.kubeconfig("x", "https://10.0.0.1:6443", cert, "u", token="t").encode()
    assert certs.from_file(token) is None
    with pytest.raises(ValueError, match="neither a PEM certificate nor a kubeconfig"):
        certs.from_file(b"hello")


def test_the_listing_reads_every_file_and_names_the_missing(tmp_path) -> None:
    a, b = tmp_path / "a.crt", tmp_path / "b.crt"
    a.write_bytes(b"-----BEGIN CERTIFICATE-----\nxyz\n")
    out = subprocess.run(["bash", "-c", certs.read_listing_command([str(a), str(b)])],
                         capture_output=True, text=True, check=True).stdout
    assert certs.parse_listing(out) == {str(a): a.read_bytes(), str(b): None}


def test_each_server_certificate_has_its_port() -> None:
    p = lab_plan("seed", accel="native", provider="container")
    at = certs.served_at(p)
    m1 = p.masters[0]
    assert [(e.ip, e.port) for e in at["etcd/master1-server"]] == [(m1.ip, 2379)]
    assert [(e.ip, e.port) for e in at["etcd/master1-peer"]] == [(m1.ip, 2380)]
    assert {e.host for e in at["kubernetes/apiserver"]} == {m.name for m in p.masters}
    assert [e.port for e in at["kubernetes/kubelet-minion1"]] == [10250]
    assert "etcd/lb-server" not in at  # nginx passes etcd's TLS through
    pound = lab_plan("pound-per-node", accel="native", provider="container")
    assert [e.host for e in certs.served_at(pound)["etcd/lb-server"]] == [h.name
                                                                          for h in pound.lbs]


def test_a_service_started_before_its_file_changed_is_named(tmp_path) -> None:
    a, b = tmp_path / "a.crt", tmp_path / "b.crt"
    a.write_text("a")
    out = subprocess.run(["bash", "-c", certs.started_command([str(a), str(b)], [])],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["file", str(a), str(int(a.stat().st_ctime))]
    mtime = int(a.stat().st_ctime)
    listing = out + f"service etcd {mtime - 5}\nservice kubelet {mtime + 5}\n"
    readers = {str(a): ("etcd", "kubelet", "flanneld"), str(b): ("etcd",)}
    assert certs.stale_readers(listing, readers) == {str(a): ("etcd",), str(b): ()}
