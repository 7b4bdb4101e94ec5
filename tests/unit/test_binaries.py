"""halab.artifacts.binaries (pure logic) and the fetch provider against mirrors made and served
by the test itself (a directory, file://, and an HTTP server on 127.0.0.1). No internet, no Go
toolchain."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import socket
import tarfile
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from halab.artifacts import binaries as b
from halab.build import download, gobuild
from halab.cli.app import main as cli_main
from halab.config import versions
from halab.errors import HalabError

pytestmark = pytest.mark.unit

V = "v1.36.3"

# The shape of k8s.io/kubernetes's go.mod: staging modules required at v0.0.0 and replaced by
# ./staging paths; sample modules replaced but not required; other requires untouched.
KUBERNETES_GOMOD = """\
// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/spf13/cobra v1.10.0
\tk8s.io/api v0.0.0
\tk8s.io/apimachinery v0.0.0
\tk8s.io/client-go v0.0.0
\tk8s.io/component-base v0.0.0
\tk8s.io/klog/v2 v2.140.0
\tk8s.io/utils v0.0.0-20260626114624-be93311217bd
)

require (
\tgithub.com/kylelemons/godebug v1.1.0 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/component-base => ./staging/src/k8s.io/component-base
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


@pytest.fixture
def halab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HALAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# --------------------------------------------------------------------------------------------
# versions and go.mod generation


def test_pinned_versions_are_consistent():
    assert b.normalize_version(versions.KUBERNETES_VERSION) == versions.KUBERNETES_VERSION
    major, minor, _ = b.version_parts(versions.KUBERNETES_VERSION)
    assert (major, minor) >= (1, 33)
    assert versions.FLANNEL_VERSION.startswith("v")
    assert versions.FLANNEL_CNI_BUILD_SOURCES[0][1] == versions.FLANNEL_CNI_PLUGIN_VERSION


@pytest.mark.parametrize("given", ["1.36.3", "v1.36.3", " v1.36.3 "])
def test_normalize_version(given):
    assert b.normalize_version(given) == "v1.36.3"
    assert b.staging_version(given) == "v0.36.3"


@pytest.mark.parametrize("bad", ["1.36", "v1.36.0-rc.1", "latest", "", "v2.0.0x"])
def test_bad_versions_are_refused(bad):
    with pytest.raises(HalabError):
        b.normalize_version(bad)


def test_staging_modules_are_required_staging_replaces_only():
    assert b.staging_modules(KUBERNETES_GOMOD) == [
        "k8s.io/api",
        "k8s.io/apimachinery",
        "k8s.io/client-go",
        "k8s.io/component-base",
    ]


def test_kubernetes_build_gomod():
    gomod = b.kubernetes_build_gomod("1.36.3", KUBERNETES_GOMOD)
    lines = [line.strip() for line in gomod.splitlines()]
    assert lines[0] == "module halab.local/build/kubernetes"
    assert "go 1.26.0" in lines
    assert "default=go1.26" in lines  # godebug is copied: Go ignores a dependency's
    assert "k8s.io/kubernetes v1.36.3" in lines
    for mod in ("k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go", "k8s.io/component-base"):
        assert f"{mod} => {mod} v0.36.3" in lines
    assert not any("sample-controller" in line for line in lines)
    assert not any("./staging" in line for line in lines)
    tools = [line for line in lines if line.startswith("k8s.io/kubernetes/cmd/")]
    assert tools == [f"k8s.io/kubernetes/cmd/{c.name}" for c in b.KUBERNETES_COMPONENTS]
    # block structure Go can parse
    assert gomod.count("replace (") == 1 and gomod.count("tool (") == 1


def test_module_build_gomod_keeps_module_replaces_and_adds_stubs():
    dep = (
        "module github.com/x/y\n\ngo 1.14\n\nrequire golang.org/x/sys v0.1.0\n\n"
        "replace github.com/a/b => github.com/a/b v1.2.3\n"
        "replace github.com/c/d => ../d\n"
    )
    gomod = b.module_build_gomod(
        "github.com/x/y", "v0.9.1", "github.com/x/y/cmd/z", dep, {"github.com/s/t": "/abs/stub"}
    )
    assert "go 1.24" in gomod  # `tool` needs >= 1.24
    assert "\tgithub.com/x/y v0.9.1" in gomod
    assert "\tgithub.com/a/b => github.com/a/b v1.2.3" in gomod
    assert "../d" not in gomod  # a path replace only works inside its own tree
    assert "\tgithub.com/s/t => /abs/stub" in gomod
    assert "\tgithub.com/x/y/cmd/z" in gomod


def test_gomod_parsers():
    assert b.gomod_go_directive(KUBERNETES_GOMOD) == "1.26.0"
    reqs = b.gomod_requires(KUBERNETES_GOMOD)
    assert reqs["k8s.io/klog/v2"] == "v2.140.0"
    assert reqs["github.com/kylelemons/godebug"] == "v1.1.0"
    assert b.gomod_godebug(KUBERNETES_GOMOD) == ["default=go1.26"]
    with pytest.raises(HalabError):
        b.gomod_go_directive("module x\n")


# --------------------------------------------------------------------------------------------
# ldflags


def test_kubernetes_ldflags_set_version_in_both_packages():
    flags = b.kubernetes_ldflags("1.36.3", "2026-07-22T18:07:38Z").split(" ")
    assert flags[:2] == ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"{pkg}.gitVersion=v1.36.3" in flags
        assert f"{pkg}.gitMajor=1" in flags
        assert f"{pkg}.gitMinor=36" in flags
        assert f"{pkg}.buildDate=2026-07-22T18:07:38Z" in flags
    assert flags.count("-X") == 10


def test_flannel_ldflags():
    flags = b.flannel_ldflags("v0.28.10").split(" ")
    assert "github.com/flannel-io/flannel/pkg/version.Version=v0.28.10" in flags
    assert "-extldflags=-static" in flags  # cgo (UDP backend), linked statically
    cni = b.flannel_cni_ldflags(b.FLANNEL_CNI_MODULE, "v1.9.1-flannel3", "2026-01-01T00:00:00Z")
    assert "-X main.Version=v1.9.1-flannel3" in cni and "-X main.Program=flannel" in cni
    old = b.flannel_cni_ldflags(b.CNI_PLUGINS_MODULE, "v0.9.1", "x")
    assert old.endswith("pkg/utils/buildversion.BuildVersion=v0.9.1")
    with pytest.raises(HalabError):
        b.flannel_cni_ldflags("example.com/other", "v1", "x")


@pytest.mark.parametrize(
    "output,want,line",
    [
        ("Kubernetes v1.36.3\n", "v1.36.3", "Kubernetes v1.36.3"),
        (
            "Client Version: v1.36.3\nKustomize Version: v5.7.1\n",
            "v1.36.3",
            "Client Version: v1.36.3",
        ),
        ("Kubernetes v1.36.30", "v1.36.3", None),
        ("Kubernetes v1.36.3-rc.1", "v1.36.3", None),
        ("Kubernetes v1.36.2", "v1.36.3", None),
        ("CNI flannel plugin v0.9.1", "v0.9.1", "CNI flannel plugin v0.9.1"),
        (
            "CNI Plugin flannel version v1.9.1-flannel3 (linux/amd64)",
            "v1.9.1-flannel3",
            "CNI Plugin flannel version v1.9.1-flannel3 (linux/amd64)",
        ),
    ],
)
def test_reported_version_line(output, want, line):
    assert b.reported_version_line(output, want) == line


def test_build_date_is_reproducible(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert gobuild.build_date("2026-07-22T18:07:38Z") == "2026-07-22T18:07:38Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert gobuild.build_date("2026-07-22T18:07:38Z") == "1970-01-01T00:00:00Z"


# --------------------------------------------------------------------------------------------
# release URLs and published checksums


def test_release_artifact_urls_upstream():
    arts = {a.component: a for a in b.release_artifacts(V, "v0.28.10", "v1.9.1-flannel3")}
    assert set(arts) == set(b.COMPONENT_NAMES)
    api = arts["kube-apiserver"]
    assert api.url == "https://dl.k8s.io/release/v1.36.3/bin/linux/amd64/kube-apiserver"
    assert api.sha256_url == api.url + ".sha256"
    fl = arts["flanneld"]
    assert fl.url == (
        "https://github.com/flannel-io/flannel/releases/download/v0.28.10/flanneld-amd64"
    )
    assert fl.sha256_url is None and fl.asset_name == "flanneld-amd64"
    assert fl.digest_api_url.endswith("/repos/flannel-io/flannel/releases/tags/v0.28.10")
    cni = arts["flannel"]
    assert cni.url == (
        "https://github.com/flannel-io/cni-plugin/releases/download/v1.9.1-flannel3/"
        "cni-plugin-flannel-linux-amd64-v1.9.1-flannel3.tgz"
    )
    assert cni.member == "flannel-amd64"


def test_release_artifact_urls_mirror():
    arts = b.release_artifacts(V, "v0.28.10", "v1.9.1-flannel3", mirror="http://lan:8080/k8s/")
    for a in arts:
        assert a.url.startswith("http://lan:8080/k8s/") and "//" not in a.url[7:]
        assert a.sha256_url == a.url + ".sha256"  # a mirror always has sidecar files
    assert arts[0].url == "http://lan:8080/k8s/release/v1.36.3/bin/linux/amd64/kube-apiserver"


def test_parse_published_sha256_formats():
    h = "a" * 64
    assert b.parse_published_sha256(h + "\n") == h  # dl.k8s.io: bare digest
    assert b.parse_published_sha256(f"{h}  x.tgz\n", "x.tgz") == h
    two = f"{'b' * 64}  other\n{h} *dir/x.tgz\n"
    assert b.parse_published_sha256(two, "x.tgz") == h
    for bad in ("", "not-a-digest\n", "abc123  x\n"):
        with pytest.raises(HalabError):
            b.parse_published_sha256(bad, "x")
    with pytest.raises(HalabError):
        b.parse_published_sha256(two, "missing")


def test_digest_from_release_json():
    h = "c" * 64
    doc = json.dumps({"assets": [{"name": "flanneld-amd64", "digest": f"sha256:{h}"}]})
    assert b.digest_from_release_json(doc, "flanneld-amd64") == h
    with pytest.raises(HalabError):
        b.digest_from_release_json(doc, "flanneld-arm64")
    with pytest.raises(HalabError):
        b.digest_from_release_json(json.dumps({"assets": [{"name": "a", "digest": None}]}), "a")


# --------------------------------------------------------------------------------------------
# cache layout, SHA256SUMS, verification


def _fake_version_dir(d: Path, version: str = V, flannel: str | None = None) -> None:
    d.mkdir(parents=True)
    for name in b.COMPONENT_NAMES:
        (d / name).write_bytes(f"#!/bin/sh\necho {name}\n".encode())
        (d / name).chmod(0o755)
    b.write_sha256sums(d, b.COMPONENT_NAMES)
    manifest = {"kubernetes": version, "flannel": flannel or versions.FLANNEL_VERSION}
    (d / b.MANIFEST_FILE).write_text(json.dumps(manifest))


def test_sha256sums_round_trip(tmp_path):
    (tmp_path / "a").write_bytes(b"hello")
    digests = b.write_sha256sums(tmp_path, ["a"])
    text = (tmp_path / b.SUMS_FILE).read_text()
    assert text == f"{hashlib.sha256(b'hello').hexdigest()}  a\n"  # sha256sum -c compatible
    assert b.parse_sha256sums(text) == digests
    assert b.parse_sha256sums(f"{'D' * 64} *bin\n") == {"bin": "d" * 64}


@pytest.mark.parametrize("bad", ["nonsense\n", f"{'a' * 64}  ../etc/passwd\n", f"{'a' * 63}  x\n"])
def test_sha256sums_malformed(bad):
    with pytest.raises(HalabError):
        b.parse_sha256sums(bad)


def test_verify_good_tampered_missing(tmp_path):
    d = tmp_path / V
    _fake_version_dir(d)
    assert b.verify_dir(d).ok

    (d / "kubelet").write_bytes((d / "kubelet").read_bytes() + b"# evil\n")
    v = b.verify_dir(d)
    assert not v.ok and "checksum mismatch" in v.reason and "kubelet" in v.reason

    (d / "kubelet").unlink()
    v = b.verify_dir(d)
    assert not v.ok and "missing kubelet" in v.reason

    (d / b.SUMS_FILE).unlink()
    assert "SHA256SUMS missing" in b.verify_dir(d).reason


def test_verify_flags_non_executable(tmp_path):
    d = tmp_path / V
    _fake_version_dir(d)
    (d / "kubectl").chmod(0o644)
    assert "not executable: kubectl" in b.verify_dir(d).reason


def test_list_cache(halab_home):
    root = b.cache_root()
    _fake_version_dir(root / "v1.36.3")
    _fake_version_dir(root / "v1.35.4")
    (root / "v1.35.4" / "kube-proxy").write_bytes(b"tampered")
    (root / ".work").mkdir()
    (root / ".staging-v1.36.3-1").mkdir()
    (root / "not-a-version").mkdir()
    entries = b.list_cache()
    assert [e.version for e in entries] == ["v1.35.4", "v1.36.3"]
    assert [e.ok for e in entries] == [False, True]
    assert "kube-proxy" in entries[0].verification.reason


def test_available_reasons(halab_home):
    ok, reason = b.available(V)
    assert not ok and "halab binaries build" in reason and "\n" not in reason

    _fake_version_dir(b.version_dir(V))
    ok, reason = b.available(V)
    assert ok, reason
    assert b.binaries_dir(V) == b.version_dir(V)

    (b.version_dir(V) / "kube-scheduler").write_bytes(b"x")
    ok, reason = b.available(V)
    assert not ok and "kube-scheduler" in reason and "--force" in reason
    with pytest.raises(HalabError):
        b.binaries_dir(V)


def test_available_detects_stale_flannel_pin(halab_home):
    _fake_version_dir(b.version_dir(V), flannel="v0.1.0")
    ok, reason = b.available(V)
    assert not ok and "v0.1.0" in reason and "halab binaries build" in reason


def test_commit_staging_replaces_atomically(halab_home):
    _fake_version_dir(b.version_dir(V))
    staging = b.staging_dir(V)
    staging.mkdir(parents=True)
    for name in b.COMPONENT_NAMES:
        (staging / name).write_bytes(b"new " + name.encode())
    final = b.commit_staging(staging, V, {"kubernetes": V, "flannel": versions.FLANNEL_VERSION})
    assert final == b.version_dir(V) and not staging.exists()
    assert (final / "kubectl").read_bytes() == b"new kubectl"
    assert b.available(V)[0]
    assert [p.name for p in b.cache_root().iterdir()] == [V]  # no leftovers


# --------------------------------------------------------------------------------------------
# fetch from a mirror made by the test


def _script(text: str) -> bytes:
    return f"#!/bin/sh\necho '{text}'\n".encode()


def make_mirror(root: Path, version: str = V, tamper: str | None = None) -> None:
    """A mirror laid out like the upstream downloads, whose 'binaries' are shell scripts that
    print what the real ones print for their version probe."""
    fv, cv = versions.FLANNEL_VERSION, versions.FLANNEL_CNI_PLUGIN_VERSION
    files: dict[str, bytes] = {}
    for c in b.KUBERNETES_COMPONENTS:
        text = f"Client Version: {version}" if c.name == "kubectl" else f"Kubernetes {version}"
        files[f"release/{version}/bin/linux/amd64/{c.name}"] = _script(text)
    files[f"flannel-io/flannel/releases/download/{fv}/flanneld-amd64"] = _script(fv)
    plugin = _script(f"CNI Plugin flannel version {cv} (linux/amd64)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("./flannel-amd64")
        info.size, info.mode = len(plugin), 0o755
        tf.addfile(info, io.BytesIO(plugin))
    tgz = f"cni-plugin-flannel-linux-amd64-{cv}.tgz"
    files[f"flannel-io/cni-plugin/releases/download/{cv}/{tgz}"] = buf.getvalue()
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if tamper and rel.endswith("/" + tamper):
            p.write_bytes(data + b"# tampered after the checksum was published\n")
        # dl.k8s.io style (bare digest) for Kubernetes, sha256sum style for the rest
        side = digest if rel.startswith("release/") else f"{digest}  {p.name}"
        (root / (rel + ".sha256")).write_text(side + "\n")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror_server(tmp_path):
    """Serve tmp_path/mirror on 127.0.0.1 (a free port) for the test's duration."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


def test_fetch_from_http_mirror(halab_home, mirror_server):
    root, url = mirror_server
    make_mirror(root)
    final = download.fetch(V, mirror=url, timeout=5)
    assert final == b.version_dir(V)
    ok, reason = b.available(V)
    assert ok, reason
    sums = b.parse_sha256sums((final / b.SUMS_FILE).read_text())
    assert set(sums) == set(b.COMPONENT_NAMES)
    assert (final / "flannel").read_bytes().startswith(b"#!/bin/sh")  # extracted from the .tgz
    manifest = json.loads((final / b.MANIFEST_FILE).read_text())
    assert manifest["source"] == "fetch" and manifest["mirror"] == url
    assert manifest["reported_versions"]["kubectl"] == f"Client Version: {V}"
    # the cached dir is returned as is; --force fetches again
    assert download.fetch(V, mirror=url, timeout=5) == final
    (root / f"release/{V}/bin/linux/amd64/kubectl").unlink()
    with pytest.raises(HalabError):
        download.fetch(V, mirror=url, timeout=5, force=True)
    assert b.available(V)[0]  # a failed refetch leaves the good cache alone


def test_fetch_refuses_tampered_download(halab_home, mirror_server):
    root, url = mirror_server
    make_mirror(root, tamper="kube-apiserver")
    with pytest.raises(HalabError) as e:
        download.fetch(V, mirror=url, timeout=5)
    assert "checksum mismatch" in str(e.value) and "kube-apiserver" in str(e.value)
    assert not b.version_dir(V).exists()
    assert not any(p.name.startswith(".staging") for p in b.cache_root().iterdir())


def test_fetch_refuses_tampered_tgz(halab_home, mirror_server):
    root, url = mirror_server
    cv = versions.FLANNEL_CNI_PLUGIN_VERSION
    make_mirror(root, tamper=f"cni-plugin-flannel-linux-amd64-{cv}.tgz")
    with pytest.raises(HalabError, match="checksum mismatch"):
        download.fetch(V, mirror=url, timeout=5)
    assert not b.available(V)[0]


def test_fetch_refuses_binary_with_wrong_version(halab_home, mirror_server):
    root, url = mirror_server
    make_mirror(root, version="v1.36.2")
    for p in (root / "release").rglob("*"):  # move the v1.36.2 files under the v1.36.3 path
        if p.is_file():
            dest = root / str(p.relative_to(root)).replace("v1.36.2", V)
            dest.parent.mkdir(parents=True, exist_ok=True)
            p.rename(dest)
    with pytest.raises(HalabError, match="expected v1.36.3"):
        download.fetch(V, mirror=url, timeout=5)
    assert not b.version_dir(V).exists()


def test_fetch_from_file_mirror(halab_home, tmp_path):
    make_mirror(tmp_path / "m")
    download.fetch(V, mirror=(tmp_path / "m").as_uri(), timeout=5)
    assert b.available(V)[0]


def test_fetch_fails_fast_when_unreachable(halab_home):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    start = time.monotonic()
    with pytest.raises(HalabError) as e:
        download.fetch(V, mirror=f"http://127.0.0.1:{port}", timeout=3)
    assert time.monotonic() - start < 5
    assert "halab binaries build" in str(e.value)
    assert not b.version_dir(V).exists()


def test_cli_list(halab_home, capsys):
    assert cli_main(["binaries", "list"]) == 1  # pinned version missing
    out = capsys.readouterr().out
    assert "halab binaries build" in out
    pinned = versions.KUBERNETES_VERSION
    _fake_version_dir(b.version_dir(pinned), version=pinned)
    assert cli_main(["binaries", "list", "-v"]) == 0
    out = capsys.readouterr().out
    assert versions.KUBERNETES_VERSION in out and "ok" in out and "kube-apiserver" in out


def test_gostubs_are_packaged():
    stubs = gobuild.STUBS_DIR
    for d in gobuild.FLANNEL_STUB_REPLACES.values():
        gomod = (stubs / d / "go.mod").read_text()
        module = next(m for m, dd in gobuild.FLANNEL_STUB_REPLACES.items() if dd == d)
        assert gomod.startswith(f"module {module}\n")
    assert os.path.isfile(stubs / "tencentcloud/vpc/v20170312/stub.go")


# --------------------------------------------------------------------------------------------
# `halab up`'s route to the binaries: the cache, else fetch, else build


def test_obtain_fetches_from_the_mirror_halab_up_is_given(halab_home, tmp_path, monkeypatch):
    from halab.build import obtain

    make_mirror(tmp_path / "m")
    monkeypatch.setenv("HALAB_BINARIES_MIRROR", (tmp_path / "m").as_uri())
    got = obtain.obtain(V)
    assert got.directory == b.version_dir(V) and got.reasons == ()
    assert json.loads((got.directory / b.MANIFEST_FILE).read_text())["source"] == "fetch"

    def never() -> Path:
        raise AssertionError("a cached version must not be fetched or built again")
    assert obtain.obtain(V, [("fetch", never), ("build", never)]).directory == got.directory


def test_obtain_reports_every_route_that_failed(halab_home, tmp_path):
    """fetch really fails (an empty mirror); the build route stands in for a failed
    `go build`, whose own failures `make binaries` shows."""
    from halab.build import obtain

    (tmp_path / "empty").mkdir()
    tried = []

    def build() -> Path:
        tried.append("build")
        raise HalabError("go: module lookup disabled by GOPROXY=off\nmore detail")
    fetch = ("fetch", lambda: download.fetch(V, mirror=(tmp_path / "empty").as_uri(), timeout=3))
    got = obtain.obtain(V, [fetch, ("build", build)])
    assert got.directory is None and tried == ["build"]
    assert got.reasons[0].startswith("fetch: ") and "release" in got.reasons[0]
    assert got.reasons[1] == "build: go: module lookup disabled by GOPROXY=off"
    assert not b.version_dir(V).exists()


def test_halab_binaries_overrides_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HALAB_BINARIES", str(tmp_path / "shared"))
    assert b.version_dir(V) == tmp_path / "shared" / V
