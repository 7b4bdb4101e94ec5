"""The one way made Kubernetes binaries enter the cache, whether fetched (`download`) or built
(`gobuild`): assembled in a private staging directory, each run to see that it reports the
version it was made for, then moved into place in one rename; on any failure the staging
directory goes, so a half-made version never looks complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from halab import ui
from halab.artifacts import binaries as b
from halab.build.command import run_captured
from halab.errors import HalabError

PROBE_TIMEOUT = 30  # seconds for one binary's `--version`


def install(version: str, make: Callable[[Path], dict[str, object]],
            check_versions: bool = True) -> Path:
    """`make(staging)` puts every component into `staging` and returns the manifest; then
    (unless `check_versions` is off) each binary must report its version, and the directory
    replaces `version`'s in the cache. Returns the version directory."""
    staging = b.staging_dir(version)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        manifest = make(staging)
        if check_versions:
            for name in b.COMPONENT_NAMES:
                (staging / name).chmod(0o755)
            with ui.step("check that each binary reports its version"):
                manifest["reported_versions"] = probe_versions(staging, manifest)
        final = b.commit_staging(staging, version, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    ui.info(f"Kubernetes {version} binaries in {final}")
    return final


def probe_versions(directory: Path, manifest: Mapping[str, object]) -> dict[str, str]:
    """Run each binary's version command; every one must print the version it was made for.
    Returns {component: first line of its output}."""
    out: dict[str, str] = {}
    for c in b.COMPONENTS:
        try:
            proc = run_captured([str(directory / c.name), *b.version_probe(c)],
                                timeout=PROBE_TIMEOUT, check=False,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        except HalabError as e:
            raise HalabError(f"{c.name} does not run: {e.message}") from None
        text = (proc.stdout + proc.stderr).strip()
        want = b.expected_version_text(c, manifest)
        line = b.reported_version_line(text, want)
        if line is None:
            first = text.splitlines()[0] if text else "nothing"
            raise HalabError(f"{c.name} reports {first!r}, expected {want}")
        out[c.name] = line
    return out
