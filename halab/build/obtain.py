"""The Kubernetes binaries `halab up` needs, had by whichever route works here: the official
release downloads (sha256-checked) where they are reachable, else a build from Go modules.

`halab up` calls `obtain` so that a newcomer's `make lab-up` gives a lab with Kubernetes without
a separate `halab binaries` step; the two routes stay available as commands of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from halab import ui
from halab.artifacts import binaries as b
from halab.errors import HalabError

FETCH_TIMEOUT = 10.0  # seconds per request: an unreachable download site fails within it


@dataclass(frozen=True)
class Outcome:
    """Where the binaries are (None: not had) and, when not, why, per route tried."""

    directory: Path | None
    reasons: tuple[str, ...] = ()


def routes(version: str) -> list[tuple[str, Callable[[], Path]]]:
    """fetch (from `HALAB_BINARIES_MIRROR`, a classroom mirror, when set), then build."""
    from halab.build import download, gobuild

    mirror = os.environ.get("HALAB_BINARIES_MIRROR") or None
    return [("fetch", lambda: download.fetch(version, mirror=mirror, timeout=FETCH_TIMEOUT)),
            ("build", lambda: gobuild.build(version))]


def obtain(version: str, tries: list[tuple[str, Callable[[], Path]]] | None = None) -> Outcome:
    """The cached binaries, else the first route of `tries` (default `routes`) that works;
    a route that fails is reported and the next one tried."""
    ok, _ = b.available(version)
    if ok:
        return Outcome(b.version_dir(version))
    reasons = []
    for route, run in tries if tries is not None else routes(version):
        ui.info(f"  Kubernetes {version} binaries: trying `halab binaries {route}` "
                f"({b.ROUTE_COSTS[route]})")
        try:
            return Outcome(run())
        except HalabError as exc:
            first = exc.message.splitlines()[0]
            ui.info(f"  [yellow]{route} failed[/]: {first}")
            reasons.append(f"{route}: {first}")
    return Outcome(None, tuple(reasons))
