"""`halab binaries build`: compile the Kubernetes tier from Go modules through the configured Go
proxy (GOPROXY as the user has it; nothing here names a proxy).

Three throwaway modules under `home()/binaries/.work/<version>/` (kept, so a re-run reuses their
go.sum), each with `tool` directives for the commands it builds:
  kubernetes/   requires k8s.io/kubernetes <version>, staging modules replaced by v0.<minor>.<patch>
  flannel/      requires github.com/flannel-io/flannel <FLANNEL_VERSION>
  flannel-cni/  requires the first CNI plugin module in FLANNEL_CNI_BUILD_SOURCES the proxy serves
The Go build cache and module cache stay where Go keeps them by default, so a second build of the
same version only links (seconds to a minute), and a cached version returns at once.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from halab import ui
from halab.artifacts import binaries as b
from halab.build.command import run_captured, run_logged
from halab.build.install import install
from halab.config import versions
from halab.errors import HalabError

STUBS_DIR = Path(__file__).resolve().parent / "gostubs"
# flanneld's Tencent Cloud backend SDK modules (refused by the Go proxy here): replaced by stubs.
FLANNEL_STUB_REPLACES = {
    "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common": "tencentcloud/common",
    "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc": "tencentcloud/vpc",
}
GO_CANDIDATES = ("go", "/usr/local/go/bin/go")
# One go command at most this long: a cold Kubernetes build took 13 min on a free 2-core machine.
GO_TIMEOUT = 2 * 3600
GO_QUERY_TIMEOUT = 60  # `go env`: no network
# `go mod download` of one module through the proxy: the Kubernetes zip is the largest.
GO_DOWNLOAD_TIMEOUT = 1800
GOPROXY_HINT = "check GOPROXY (`go env GOPROXY`) and network access to it"


class ModuleUnavailable(HalabError):
    """The Go proxy answered that it does not serve this module version."""


def find_go() -> str:
    for cand in GO_CANDIDATES:
        path = shutil.which(cand)
        if path:
            return path
    raise HalabError(
        "Go is not installed (no `go` on PATH or in /usr/local/go/bin)",
        hint="install Go 1.26 or newer, or `halab binaries fetch` where the internet is reachable",
    )


def find_cc() -> str:
    """flanneld's UDP backend is C (cgo): building it needs gcc and static glibc."""
    cc = shutil.which(os.environ.get("CC") or "gcc") or shutil.which("cc")
    libc_a = any(
        Path(d, "libc.a").exists() for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")
    )
    if not cc or not libc_a:
        raise HalabError(
            "building flanneld needs a C compiler and static glibc (cgo, for its UDP backend)",
            hint="apt-get install gcc libc6-dev",
        )
    return cc


def go_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GOTOOLCHAIN": "local",  # never try to download another toolchain
            "CGO_ENABLED": "0",  # static binaries
            "GOOS": "linux",
            "GOARCH": b.ARCH,
        }
    )
    if overrides:
        env.update(overrides)
    return env


def run_go(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    what: str,
    heartbeat: float = 60.0,
    timeout: float = GO_TIMEOUT,
) -> None:
    """Run `go ARGS` at the lowest CPU priority, its output appended to `log`; says every
    `heartbeat` seconds that it is still going (a cold Kubernetes build is long and silent)."""
    run_logged(["nice", "-n", "19", find_go(), *args], log=log, what=what, timeout=timeout,
               env=env, cwd=cwd, heartbeat=heartbeat)


def go_version(env: Mapping[str, str]) -> str:
    return run_captured([find_go(), "env", "GOVERSION"], env=env, timeout=GO_QUERY_TIMEOUT,
                        what="go env GOVERSION").stdout.strip()


def resolve_module(module: str, version: str, env: Mapping[str, str], workdir: Path) -> dict:
    """`go mod download -json module@version`: fetches its .info/.mod (and zip) through the proxy;
    returns the JSON with `GoModText` added. Raises ModuleUnavailable if the proxy refuses it."""
    proc = run_captured([find_go(), "mod", "download", "-json", f"{module}@{version}"],
                        cwd=workdir, env=env, timeout=GO_DOWNLOAD_TIMEOUT, check=False,
                        what=f"go mod download {module}@{version}", hint=GOPROXY_HINT)
    try:
        info = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        info = {}
    err = info.get("Error") or (proc.stderr.strip() if proc.returncode else "")
    if err:
        raise ModuleUnavailable(
            f"the Go proxy does not serve {module}@{version}: {err.splitlines()[0]}",
            hint=GOPROXY_HINT,
        )
    info["GoModText"] = Path(info["GoMod"]).read_text()
    try:
        info["Time"] = json.loads(Path(info["Info"]).read_text()).get("Time", "")
    except (OSError, ValueError, KeyError):
        info["Time"] = ""
    return info


def prepare_module(workdir: Path, gomod: str, env: Mapping[str, str], log: Path, what: str) -> None:
    """Write go.mod and let `go mod tidy` complete it (and go.sum). Skipped when the go.mod we
    generate is the one a previous run completed (the tidied copy is kept as go.mod)."""
    workdir.mkdir(parents=True, exist_ok=True)
    generated = workdir / "go.mod.generated"
    if (
        generated.exists()
        and generated.read_text() == gomod
        and (workdir / "go.mod").exists()
        and (workdir / "go.sum").exists()
    ):
        return
    (workdir / "go.mod").write_text(gomod)
    (workdir / "go.sum").unlink(missing_ok=True)
    run_go(["mod", "tidy"], workdir, env, log, f"go mod tidy ({what})")
    generated.write_text(gomod)


def build_date(module_time: str) -> str:
    """The tag's time (from the proxy) as buildDate: the same input gives the same binary, so a
    forced rebuild is all build-cache hits. SOURCE_DATE_EPOCH wins if set."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.isdigit():
        return datetime.fromtimestamp(int(sde), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if module_time:
        return module_time.replace(".000Z", "Z")
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_kubernetes(version: str, staging: Path, env: Mapping[str, str], work: Path, log: Path):
    with ui.step(f"Kubernetes {version}: resolve modules through the Go proxy"):
        k8s = resolve_module(b.KUBERNETES_MODULE, version, env, work)
        prepare_module(
            work / "kubernetes",
            b.kubernetes_build_gomod(version, k8s["GoModText"]),
            env,
            log,
            "kubernetes",
        )
    names = ", ".join(c.name for c in b.KUBERNETES_COMPONENTS)
    with ui.step(f"Kubernetes {version}: go build {names}"):
        run_go(
            [
                "build",
                "-trimpath",
                "-tags",
                ",".join(b.KUBERNETES_BUILD_TAGS),
                "-ldflags",
                b.kubernetes_ldflags(version, build_date(k8s["Time"])),
                "-o",
                str(staging) + "/",
                *(c.package for c in b.KUBERNETES_COMPONENTS),
            ],
            work / "kubernetes",
            env,
            log,
            "go build (kubernetes)",
        )


def build_flanneld(staging: Path, env: Mapping[str, str], work: Path, log: Path) -> None:
    fv = versions.FLANNEL_VERSION
    if b.FLANNEL_CGO:
        env = {**env, "CGO_ENABLED": "1", "CC": find_cc()}
    with ui.step(f"flanneld {fv}: go build"):
        fl = resolve_module(b.FLANNEL_MODULE, fv, env, work)
        stub_replaces = {m: str(STUBS_DIR / d) for m, d in FLANNEL_STUB_REPLACES.items()}
        prepare_module(
            work / "flannel",
            b.module_build_gomod(
                b.FLANNEL_MODULE, fv, b.FLANNEL_MODULE, fl["GoModText"], stub_replaces
            ),
            env,
            log,
            "flannel",
        )
        run_go(
            [
                "build",
                "-trimpath",
                "-tags",
                ",".join(b.FLANNEL_BUILD_TAGS),
                "-ldflags",
                b.flannel_ldflags(fv),
                "-o",
                str(staging / b.FLANNELD.name),
                b.FLANNEL_MODULE,
            ],
            work / "flannel",
            env,
            log,
            "go build (flanneld)",
        )


def build_flannel_cni(
    staging: Path, env: Mapping[str, str], work: Path, log: Path
) -> dict[str, str]:
    """Build the flannel CNI plugin from the first source the Go proxy serves; returns which."""
    cni = None
    refusals = []
    for module, mversion, subdir in versions.FLANNEL_CNI_BUILD_SOURCES:
        try:
            info = resolve_module(module, mversion, env, work)
        except ModuleUnavailable as e:
            refusals.append(e.message)
            continue
        cni = (module, mversion, b.package_path(module, subdir), info)
        break
    if cni is None:
        raise HalabError(
            "no flannel CNI plugin module is available from the Go proxy:\n  "
            + "\n  ".join(refusals)
        )
    module, mversion, package, info = cni
    for r in refusals:
        ui.warn(f"{r}; using {module}@{mversion} ({package}) instead")
    with ui.step(f"flannel CNI plugin {module}@{mversion}: go build"):
        prepare_module(
            work / "flannel-cni",
            b.module_build_gomod(module, mversion, package, info["GoModText"]),
            env,
            log,
            "flannel CNI plugin",
        )
        run_go(
            [
                "build",
                "-trimpath",
                "-ldflags",
                b.flannel_cni_ldflags(module, mversion, build_date(info["Time"])),
                "-o",
                str(staging / b.FLANNEL_CNI.name),
                package,
            ],
            work / "flannel-cni",
            env,
            log,
            "go build (flannel CNI plugin)",
        )
    return {"module": module, "version": mversion, "package": package}


def build(version: str = versions.KUBERNETES_VERSION, force: bool = False) -> Path:
    """Build every component of `version` into the cache; returns the version directory.
    The small flannel builds go first, so a broken setup fails in seconds, not after the
    Kubernetes build."""
    version = b.normalize_version(version)
    cached = None if force else b.cached(version)
    if cached is not None:
        ui.info(f"Kubernetes {version} binaries already built in {cached} (--force rebuilds)")
        return cached
    find_go()
    env = go_env()
    work = b.cache_root() / ".work" / version
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    log.write_text(f"halab binaries build {version}, {go_version(env)}\n")
    timings: dict[str, float] = {}

    def make(staging: Path) -> dict[str, object]:
        t0 = time.monotonic()
        build_flanneld(staging, env, work, log)
        timings["flanneld"] = time.monotonic() - t0
        t0 = time.monotonic()
        cni = build_flannel_cni(staging, env, work, log)
        timings["flannel-cni"] = time.monotonic() - t0
        t0 = time.monotonic()
        build_kubernetes(version, staging, env, work, log)
        timings["kubernetes"] = time.monotonic() - t0
        return {
            "kubernetes": version,
            "flannel": versions.FLANNEL_VERSION,
            "flannel_cni": cni,
            "source": "build",
            "go": go_version(env),
            "cgo": {"flanneld": b.FLANNEL_CGO, "others": False},
            "made_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "build_seconds": {k: round(v, 1) for k, v in timings.items()},
            "notes": [
                "flanneld: Tencent Cloud VPC backend stubbed (SDK not on the Go proxy); "
                "cgo + static glibc like upstream's amd64 build (UDP backend is C)",
            ],
        }

    return install(version, make)
