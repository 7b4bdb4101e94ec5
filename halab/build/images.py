"""Builds the lab's container images (`halab.artifacts.images`) from Debian packages with umoci.

Each image: `apt-get download` its packages, unpack them with `dpkg-deb -x`, then umoci makes an
OCI layout (init, new, unpack, copy the files in, repack, config) that is tarred into
`home()/images/<name>-<tag>.tar`, ready for `ctr images import`. A `.key` file next to it records
the spec and package versions it was built from; a matching key means the archive is reused.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from halab import home, ui
from halab.artifacts import images
from halab.artifacts.images import ImageSpec
from halab.build.command import run_captured, run_logged, tool_env
from halab.errors import HalabError

TOOLS = {"umoci": "umoci", "apt-get": "apt", "dpkg-deb": "dpkg"}


def _log() -> Path:
    return home.home() / "images" / "build.log"


def deb_version(package: str) -> str:
    """The candidate version apt would download (no network: apt's package lists)."""
    out = run_captured(["apt-cache", "policy", package], timeout=60, check=False).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    raise HalabError(f"Debian package {package!r} is not known to apt on this host",
                     "run `apt-get update` (or `make deps`), then try again")


def ensure(spec: ImageSpec) -> tuple[Path, str]:
    """The OCI archive for `spec`, built if missing or stale; returns (path, 'cached'|'built')."""
    archive = images.archive_path(spec)
    key = spec.key({d: deb_version(d) for d in spec.debs})
    key_file = archive.with_suffix(".key")
    if archive.is_file() and key_file.is_file() and key_file.read_text().strip() == key:
        return archive, "cached"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        debs = ", ".join(TOOLS[t] for t in missing)
        raise HalabError(f"building images needs {', '.join(missing)}",
                         f"run `make deps` (Debian packages {debs})")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"halab-image-{spec.name}-",
                                     dir=archive.parent) as tmp:
        _build(spec, Path(tmp), archive)
    key_file.write_text(key + "\n")
    return archive, "built"


def ensure_all() -> dict[str, Path]:
    out = {}
    for spec in images.IMAGES:
        path, how = ensure(spec)
        ui.info(f"  image {spec.ref}: {how} ({path.stat().st_size // 1024} KiB)")
        out[spec.ref] = path
    return out


def _build(spec: ImageSpec, tmp: Path, archive: Path) -> None:
    log = _log()

    def run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
        # cwd: apt-get download writes into the current directory
        run_logged(cmd, log=log, timeout=600, what=what, env=tool_env(), cwd=cwd, capture=True)

    debs, unpacked, layout, bundle = tmp / "debs", tmp / "deb-root", tmp / "oci", tmp / "bundle"
    debs.mkdir()
    run(["apt-get", "download", *spec.debs], f"apt-get download {' '.join(spec.debs)}", debs)
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(unpacked)], f"unpacking {deb.name}")
    image = f"{layout}:{spec.tag}"
    run(["umoci", "init", "--layout", str(layout)], "umoci init")
    run(["umoci", "new", "--image", image], "umoci new")
    run(["umoci", "unpack", "--image", image, str(bundle)], "umoci unpack")
    rootfs = bundle / "rootfs"
    for src, dest in spec.files:
        target = rootfs / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(unpacked / src, target)
    for dest, text in spec.texts:
        target = rootfs / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    run(["umoci", "repack", "--image", image, str(bundle)], "umoci repack")
    config = ["umoci", "config", "--image", image, "--os", "linux", "--architecture", "amd64",
              "--author", "halab"]
    for arg in spec.entrypoint:
        config += ["--config.entrypoint", arg]
    for port in spec.ports:
        config += ["--config.exposedports", port]
    run(config, "umoci config")
    run(["umoci", "gc", "--layout", str(layout)], "umoci gc")
    partial = archive.with_suffix(".tar.partial")
    run(["tar", "-C", str(layout), "-cf", str(partial), "."], "tar of the OCI layout")
    partial.replace(archive)
