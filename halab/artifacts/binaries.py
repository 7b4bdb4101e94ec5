"""The Kubernetes tier's binaries: what they are, where they are cached, how they are checked.

Pure logic only (no subprocess, no network): the component list, Go module / ldflags generation for
`halab binaries build`, release URLs for `halab binaries fetch`, the cache layout under
`home()/binaries/<version>/` and its `SHA256SUMS`. The builds in `halab/build/gobuild.py` and
`halab/build/download.py` do the running and the downloading (`halab/build/install.py` puts what
they made into the cache).

A version directory holds one file per component, `SHA256SUMS` (sha256sum format, one line per
component) and `MANIFEST.json` (how and from what it was made). A directory counts as usable only
when every component is there and matches `SHA256SUMS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from halab.config import versions
from halab.errors import HalabError
from halab.home import home

ARCH = "amd64"
SUMS_FILE = "SHA256SUMS"
MANIFEST_FILE = "MANIFEST.json"
BUILD_COMMAND = "halab binaries build"
# What each route costs, measured on this project's host (Debian 12, 2 cores, Go 1.26; see
# docs/binaries.md): printed by `halab up` and `halab doctor` before they take one.
ROUTE_COSTS = {
    "fetch": "about 410 MB of downloads",
    "build": "a cold build (empty Go caches) took 5–15 min on 2 cores, a warm one about 30 s",
}
FETCH_COMMAND = "halab binaries fetch"

# Build tags the Kubernetes release build uses for non-debug binaries (hack/lib/golang.sh).
KUBERNETES_BUILD_TAGS = ("selinux", "notest", "grpcnotrace")
# Packages that carry the version strings (hack/lib/version.sh sets both).
KUBERNETES_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")

KUBERNETES_MODULE = "k8s.io/kubernetes"
FLANNEL_MODULE = "github.com/flannel-io/flannel"
FLANNEL_CNI_MODULE = "github.com/flannel-io/cni-plugin"
CNI_PLUGINS_MODULE = "github.com/containernetworking/plugins"

DEFAULT_K8S_BASE = "https://dl.k8s.io"
DEFAULT_GITHUB_BASE = "https://github.com"
GITHUB_API_BASE = "https://api.github.com"


@dataclass(frozen=True)
class Component:
    name: str  # file name in the cache and on the nodes
    origin: str  # "kubernetes" | "flannel" | "flannel-cni"
    package: str  # Go package that `build` compiles (for flannel-cni: decided at build time)


KUBERNETES_COMPONENTS: tuple[Component, ...] = tuple(
    Component(name, "kubernetes", f"{KUBERNETES_MODULE}/cmd/{name}")
    for name in (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    )
)
FLANNELD = Component("flanneld", "flannel", FLANNEL_MODULE)
FLANNEL_CNI = Component("flannel", "flannel-cni", FLANNEL_CNI_MODULE)
COMPONENTS: tuple[Component, ...] = (*KUBERNETES_COMPONENTS, FLANNELD, FLANNEL_CNI)
COMPONENT_NAMES: tuple[str, ...] = tuple(c.name for c in COMPONENTS)


# ---------------------------------------------------------------------------------------------
# Versions


_K8S_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def normalize_version(version: str) -> str:
    """'1.36.3' or 'v1.36.3' -> 'v1.36.3'; anything else (rc, alpha, junk) is refused."""
    m = _K8S_VERSION_RE.fullmatch(version.strip())
    if not m:
        raise HalabError(
            f"not a Kubernetes release version: {version!r}",
            hint="use a release such as v1.36.3 (no pre-releases)",
        )
    return "v{}.{}.{}".format(*m.groups())


def version_parts(version: str) -> tuple[int, int, int]:
    m = _K8S_VERSION_RE.fullmatch(normalize_version(version))
    assert m is not None
    major, minor, patch = (int(g) for g in m.groups())
    return major, minor, patch


def staging_version(version: str) -> str:
    """k8s.io/* staging modules are tagged v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>."""
    major, minor, patch = version_parts(version)
    if major != 1:
        raise HalabError(f"unsupported Kubernetes major version in {version}")
    return f"v0.{minor}.{patch}"


# ---------------------------------------------------------------------------------------------
# go.mod generation


def _directive_lines(gomod: str, keyword: str) -> list[str]:
    """The entries of `keyword` directives, from both `keyword (...)` blocks and one-liners."""
    block_re = re.compile(rf"^{keyword}\s*\((.*?)^\)", re.M | re.S)
    lines: list[str] = []
    for block in block_re.findall(gomod):
        lines.extend(block.splitlines())
    lines.extend(re.findall(rf"^{keyword}\s+([^(\s].*)$", gomod, re.M))
    out = []
    for line in lines:
        line = line.split("//", 1)[0].strip()
        if line:
            out.append(line)
    return out


def gomod_requires(gomod: str) -> dict[str, str]:
    """module -> version for every `require` entry."""
    reqs: dict[str, str] = {}
    for line in _directive_lines(gomod, "require"):
        parts = line.split()
        if len(parts) >= 2:
            reqs[parts[0]] = parts[1]
    return reqs


def gomod_replaces(gomod: str) -> dict[str, str]:
    """module -> replacement (path, or 'module version') for every `replace` entry."""
    reps: dict[str, str] = {}
    for line in _directive_lines(gomod, "replace"):
        if "=>" not in line:
            continue
        left, right = (s.strip() for s in line.split("=>", 1))
        reps[left.split()[0]] = right
    return reps


def gomod_go_directive(gomod: str) -> str:
    m = re.search(r"^go\s+(\S+)\s*$", gomod, re.M)
    if not m:
        raise HalabError("go.mod has no `go` directive")
    return m.group(1)


def gomod_godebug(gomod: str) -> list[str]:
    """`godebug` settings (a dependency's are ignored by Go, so the main module must copy them)."""
    return _directive_lines(gomod, "godebug")


def staging_modules(kubernetes_gomod: str) -> list[str]:
    """The k8s.io/* staging modules: replaced by `./staging/src/...` in k8s.io/kubernetes's go.mod
    and required by it (sample modules are replaced but not required, and not published)."""
    requires = gomod_requires(kubernetes_gomod)
    mods = [
        mod
        for mod, target in gomod_replaces(kubernetes_gomod).items()
        if target.startswith("./staging/") and mod in requires
    ]
    if not mods:
        raise HalabError("k8s.io/kubernetes go.mod lists no staging modules; is it the right file?")
    return sorted(mods)


def generate_gomod(
    module: str,
    go_version: str,
    requires: Mapping[str, str],
    replaces: Mapping[str, str] | None = None,
    tools: Iterable[str] = (),
    godebug: Iterable[str] = (),
) -> str:
    """A go.mod text for a throwaway build module. `tools` are `tool` directives (Go >= 1.24), so
    `go mod tidy` resolves the commands' dependencies without any Go source in the module."""
    out = [f"module {module}", "", f"go {go_version}", ""]
    godebug = list(godebug)
    if godebug:
        out += ["godebug (", *(f"\t{g}" for g in godebug), ")", ""]
    out += ["require (", *(f"\t{m} {v}" for m, v in sorted(requires.items())), ")", ""]
    if replaces:
        out += ["replace (", *(f"\t{m} => {t}" for m, t in sorted(replaces.items())), ")", ""]
    tools = list(tools)
    if tools:
        out += ["tool (", *(f"\t{t}" for t in tools), ")", ""]
    return "\n".join(out)


def kubernetes_build_gomod(version: str, kubernetes_gomod: str) -> str:
    """go.mod of the module that builds the Kubernetes components of `version`: requires
    k8s.io/kubernetes at the tag, pins every staging module to v0.<minor>.<patch> (the tag's own
    go.mod points them at ./staging, which only works inside its git tree)."""
    version = normalize_version(version)
    sv = staging_version(version)
    return generate_gomod(
        module="halab.local/build/kubernetes",
        go_version=gomod_go_directive(kubernetes_gomod),
        requires={KUBERNETES_MODULE: version},
        replaces={m: f"{m} {sv}" for m in staging_modules(kubernetes_gomod)},
        tools=[c.package for c in KUBERNETES_COMPONENTS],
        godebug=gomod_godebug(kubernetes_gomod),
    )


def module_build_gomod(
    module: str,
    version: str,
    package: str,
    dep_gomod: str,
    extra_replaces: Mapping[str, str] | None = None,
) -> str:
    """go.mod of the module that builds one command (`package`) of another module (flannel, the
    CNI plugin); takes over its `go`, `godebug` and module-version `replace` lines, plus
    `extra_replaces` (module -> directory or 'module version')."""
    replaces = {m: t for m, t in gomod_replaces(dep_gomod).items() if not t.startswith((".", "/"))}
    replaces.update(extra_replaces or {})
    go_version = gomod_go_directive(dep_gomod)
    # `tool` directives need go >= 1.24 in the main module.
    if _go_version_tuple(go_version) < (1, 24):
        go_version = "1.24"
    return generate_gomod(
        module=f"halab.local/build/{module.rsplit('/', 1)[-1]}",
        go_version=go_version,
        requires={module: version},
        replaces=replaces,
        tools=[package],
        godebug=gomod_godebug(dep_gomod),
    )


def _go_version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def package_path(module: str, subdir: str) -> str:
    return f"{module}/{subdir}" if subdir else module


# ---------------------------------------------------------------------------------------------
# ldflags


def kubernetes_ldflags(version: str, build_date: str) -> str:
    """What hack/lib/version.sh would set (minus the git commit, which a module build lacks), so
    `kubectl version --client` and `kube-apiserver --version` report `version`."""
    version = normalize_version(version)
    major, minor, _ = version_parts(version)
    values = {
        "gitVersion": version,
        "gitMajor": str(major),
        "gitMinor": str(minor),
        "gitTreeState": "archive",
        "buildDate": build_date,
    }
    flags = ["-s", "-w"]
    for pkg in KUBERNETES_VERSION_PACKAGES:
        flags += [f"-X {pkg}.{k}={v}" for k, v in values.items()]
    return " ".join(flags)


# flanneld on amd64 needs cgo (its UDP backend is C; without cgo the package does not compile),
# linked statically as flannel's Makefile does; netgo/osusergo keep glibc's NSS out of it.
FLANNEL_CGO = True
FLANNEL_BUILD_TAGS = ("netgo", "osusergo")


def flannel_ldflags(version: str) -> str:
    """flannel's Makefile: `-X github.com/flannel-io/flannel/pkg/version.Version=$(TAG)` and
    `-extldflags "-static"`."""
    return f"-s -w -X {FLANNEL_MODULE}/pkg/version.Version={version} -extldflags=-static"


def flannel_cni_ldflags(module: str, version: str, build_date: str) -> str:
    if module == FLANNEL_CNI_MODULE:  # scripts/build_flannel.sh
        return (
            f"-s -w -X main.Version={version} -X main.Program=flannel"
            f" -X main.buildDate={build_date}"
        )
    if module == CNI_PLUGINS_MODULE:
        return f"-s -w -X {CNI_PLUGINS_MODULE}/pkg/utils/buildversion.BuildVersion={version}"
    raise HalabError(f"no known version ldflags for CNI plugin module {module}")


# ---------------------------------------------------------------------------------------------
# What each built binary must print


def version_probe(component: Component) -> list[str]:
    """Arguments that make the binary print its version."""
    if component.name == "kubectl":
        return ["version", "--client"]
    if component.origin == "flannel-cni":
        return []  # a CNI plugin run without CNI_COMMAND prints its about string
    return ["--version"]


def expected_version_text(component: Component, manifest: Mapping[str, object]) -> str:
    if component.origin == "kubernetes":
        return str(manifest["kubernetes"])
    if component.origin == "flannel":
        return str(manifest["flannel"])
    cni = manifest["flannel_cni"]
    assert isinstance(cni, Mapping)
    return str(cni["version"])


def reported_version_line(output: str, want: str) -> str | None:
    """The line of a version probe's output that names exactly `want` (v1.36.3, not v1.36.30)."""
    pat = re.compile(rf"(?<![\w.]){re.escape(want)}(?![\w.]|-\w)")
    return next((line.strip() for line in output.splitlines() if pat.search(line)), None)


# ---------------------------------------------------------------------------------------------
# Release downloads (`fetch`)


@dataclass(frozen=True)
class Artifact:
    """One download: `url`, checked against the sha256 published at `sha256_url` (a sidecar file
    with `<hex>` or `<hex>  <file>`), or, when that is None, against GitHub's published digest of
    the release asset (`digest_api_url`, asset `asset_name`). If `member` is set, the download is
    a .tgz and the binary is that member."""

    component: str
    url: str
    sha256_url: str | None
    member: str | None = None
    digest_api_url: str | None = None
    asset_name: str | None = None


def release_artifacts(
    version: str = versions.KUBERNETES_VERSION,
    flannel_version: str = versions.FLANNEL_VERSION,
    cni_version: str = versions.FLANNEL_CNI_PLUGIN_VERSION,
    mirror: str | None = None,
) -> list[Artifact]:
    """Where `fetch` gets each component. With `mirror`, everything comes from it, laid out as
    upstream is (`<mirror>/release/<v>/bin/linux/amd64/<name>` for Kubernetes,
    `<mirror>/flannel-io/<repo>/releases/download/<tag>/<asset>` for flannel), and every file has
    a `.sha256` beside it."""
    version = normalize_version(version)
    k8s_base = (mirror or DEFAULT_K8S_BASE).rstrip("/")
    gh_base = (mirror or DEFAULT_GITHUB_BASE).rstrip("/")
    out: list[Artifact] = []
    for c in KUBERNETES_COMPONENTS:
        url = f"{k8s_base}/release/{version}/bin/linux/{ARCH}/{c.name}"
        out.append(Artifact(c.name, url, url + ".sha256"))
    flanneld_asset = f"flanneld-{ARCH}"
    url = f"{gh_base}/flannel-io/flannel/releases/download/{flannel_version}/{flanneld_asset}"
    if mirror:
        out.append(Artifact("flanneld", url, url + ".sha256"))
    else:
        # flannel publishes no .sha256 files; GitHub publishes each asset's sha256 digest.
        out.append(
            Artifact(
                "flanneld",
                url,
                None,
                digest_api_url=(
                    f"{GITHUB_API_BASE}/repos/flannel-io/flannel/releases/tags/{flannel_version}"
                ),
                asset_name=flanneld_asset,
            )
        )
    tgz = f"cni-plugin-flannel-linux-{ARCH}-{cni_version}.tgz"
    url = f"{gh_base}/flannel-io/cni-plugin/releases/download/{cni_version}/{tgz}"
    out.append(Artifact("flannel", url, url + ".sha256", member=f"flannel-{ARCH}"))
    return out


_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def parse_published_sha256(text: str, filename: str | None = None) -> str:
    """The digest in a published `.sha256` file: either just `<hex>` (dl.k8s.io) or sha256sum
    lines `<hex>  <file>` (then the line for `filename`, or the only line)."""
    entries: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if not _HEX64.fullmatch(parts[0]):
            raise HalabError(f"not a sha256 checksum line: {line[:80]!r}")
        name = parts[1].lstrip("*").rsplit("/", 1)[-1] if len(parts) > 1 else None
        entries.append((parts[0].lower(), name))
    if not entries:
        raise HalabError("empty checksum file")
    if len(entries) == 1:
        return entries[0][0]
    for digest, name in entries:
        if filename and name == filename:
            return digest
    raise HalabError(f"checksum file has no line for {filename}")


def digest_from_release_json(text: str, asset_name: str) -> str:
    """sha256 of `asset_name` from a GitHub release API answer (assets[].digest: sha256:<hex>)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise HalabError(f"release metadata is not JSON: {e}") from None
    for asset in data.get("assets", []):
        if asset.get("name") == asset_name:
            digest = asset.get("digest") or ""
            if digest.startswith("sha256:") and _HEX64.fullmatch(digest[7:]):
                return digest[7:].lower()
            raise HalabError(f"release asset {asset_name} has no published sha256 digest")
    raise HalabError(f"release has no asset named {asset_name}")


# ---------------------------------------------------------------------------------------------
# Cache layout and checksums


def cache_root() -> Path:
    """`HALAB_BINARIES` (a classroom's shared cache, or a test's empty one), else under home."""
    return Path(os.environ.get("HALAB_BINARIES") or home() / "binaries")


def version_dir(version: str = versions.KUBERNETES_VERSION) -> Path:
    return cache_root() / normalize_version(version)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def format_sha256sums(digests: Mapping[str, str]) -> str:
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))


def parse_sha256sums(text: str) -> dict[str, str]:
    """sha256sum output (`<hex>  <name>` or `<hex> *<name>`) -> {name: hex}."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = re.match(r"^([0-9a-fA-F]{64}) [ *](\S.*)$", line)
        if not m:
            raise HalabError(f"{SUMS_FILE} line {n} is malformed: {line[:80]!r}")
        name = m.group(2)
        if "/" in name or name in (".", ".."):
            raise HalabError(f"{SUMS_FILE} line {n} names a path, not a file: {name!r}")
        out[name] = m.group(1).lower()
    return out


def write_sha256sums(directory: Path, names: Iterable[str]) -> dict[str, str]:
    digests = {name: sha256_file(directory / name) for name in names}
    (directory / SUMS_FILE).write_text(format_sha256sums(digests))
    return digests


@dataclass
class Verification:
    directory: Path
    ok: bool
    problems: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return "; ".join(self.problems) if self.problems else "ok"


def read_manifest(directory: Path) -> dict:
    try:
        return json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}


def verify_dir(directory: Path, components: Iterable[str] = COMPONENT_NAMES) -> Verification:
    """Every component present, listed in SHA256SUMS, and matching it."""
    v = Verification(directory, ok=False)
    if not directory.is_dir():
        v.problems.append(f"{directory} does not exist")
        return v
    try:
        sums = parse_sha256sums((directory / SUMS_FILE).read_text())
    except FileNotFoundError:
        v.problems.append(f"{SUMS_FILE} missing")
        return v
    except HalabError as e:
        v.problems.append(e.message)
        return v
    v.manifest = read_manifest(directory)
    missing = [c for c in components if not (directory / c).is_file()]
    if missing:
        v.problems.append("missing " + ", ".join(missing))
    unlisted = [c for c in components if c not in sums and c not in missing]
    if unlisted:
        v.problems.append(f"not in {SUMS_FILE}: " + ", ".join(unlisted))
    bad = [
        c
        for c in components
        if c in sums and c not in missing and sha256_file(directory / c) != sums[c]
    ]
    if bad:
        v.problems.append("checksum mismatch (corrupt or tampered): " + ", ".join(bad))
    not_exec = [c for c in components if c not in missing and not os.access(directory / c, os.X_OK)]
    if not_exec:
        v.problems.append("not executable: " + ", ".join(not_exec))
    v.ok = not v.problems
    return v


@dataclass
class CacheEntry:
    version: str
    directory: Path
    verification: Verification

    @property
    def ok(self) -> bool:
        return self.verification.ok

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())


def list_cache(root: Path | None = None) -> list[CacheEntry]:
    """Every version directory under the cache root, verified, oldest version first. Work and
    staging directories (names starting with '.') are not versions."""
    root = root or cache_root()
    if not root.is_dir():
        return []
    entries = []
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            key = version_parts(d.name)
        except HalabError:
            continue
        entries.append((key, CacheEntry(d.name, d, verify_dir(d))))
    return [e for _, e in sorted(entries, key=lambda kv: kv[0])]


def manifest_mismatch(manifest: Mapping[str, object], version: str) -> str | None:
    """Why a cached dir does not match the pinned versions (flannel pins can move on their own)."""
    want_flannel = versions.FLANNEL_VERSION
    if manifest.get("kubernetes") != normalize_version(version):
        return f"built for Kubernetes {manifest.get('kubernetes')}, not {version}"
    if manifest.get("flannel") != want_flannel:
        return f"has flanneld {manifest.get('flannel')}, pinned is {want_flannel}"
    return None


def cached(version: str) -> Path | None:
    """The version's directory when it is complete and verified, else None (fetch/build skip)."""
    ok, _ = available(version)
    return version_dir(version) if ok else None


def available(version: str = versions.KUBERNETES_VERSION) -> tuple[bool, str]:
    """Whether the binaries for `version` are cached and intact. When not, the reason is one line
    that ends with the command that fixes it."""
    try:
        version = normalize_version(version)
    except HalabError as e:
        return False, e.message
    d = version_dir(version)
    fix = f"run `{BUILD_COMMAND} --version {version}"
    alt = f"(or `{FETCH_COMMAND}` where the internet is reachable)"
    if not d.is_dir():
        return False, f"Kubernetes {version} binaries are not in {d}: {fix}` {alt}"
    v = verify_dir(d)
    if not v.ok:
        why = f"unusable ({v.reason})"
        return False, f"Kubernetes {version} binaries in {d} are {why}: {fix} --force`"
    mismatch = manifest_mismatch(v.manifest, version)
    if mismatch:
        return False, f"Kubernetes {version} binaries in {d} are stale ({mismatch}): {fix} --force`"
    return True, f"Kubernetes {version} binaries verified in {d}"


def binaries_dir(version: str = versions.KUBERNETES_VERSION) -> Path:
    """The verified version directory, for code that is about to copy the binaries to nodes."""
    ok, reason = available(version)
    if not ok:
        raise HalabError(reason)
    return version_dir(version)


# ---------------------------------------------------------------------------------------------
# Installing a finished staging directory into the cache


def staging_dir(version: str) -> Path:
    """Where a build or fetch assembles a version before it is moved into place in one rename."""
    return cache_root() / f".staging-{normalize_version(version)}-{os.getpid()}"


def commit_staging(staging: Path, version: str, manifest: Mapping[str, object]) -> Path:
    """Write SHA256SUMS and MANIFEST.json into `staging`, verify it, and swap it in for the
    version's directory, so a half-made directory never looks complete."""
    for name in COMPONENT_NAMES:
        p = staging / name
        if p.is_file():
            p.chmod(0o755)
    write_sha256sums(staging, COMPONENT_NAMES)
    text = json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n"
    (staging / MANIFEST_FILE).write_text(text)
    v = verify_dir(staging)
    if not v.ok:
        raise HalabError(f"assembled binaries do not verify: {v.reason}")
    final = version_dir(version)
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
