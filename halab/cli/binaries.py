"""`halab binaries fetch|build|list`: the host-side cache of Kubernetes tier binaries.

`add_binaries_commands(subparsers)` registers the commands on the main `halab` parser; each sets
`func(args) -> int`. `python -m halab.cli.binaries ...` runs them on their own.
"""

from __future__ import annotations

import argparse

from halab import ui
from halab.artifacts import binaries as b
from halab.config import versions


def _fetch(args: argparse.Namespace) -> int:
    from halab.build import download

    download.fetch(args.version, mirror=args.mirror, force=args.force, timeout=args.timeout)
    return 0


def _build(args: argparse.Namespace) -> int:
    from halab.build import gobuild

    gobuild.build(args.version, force=args.force)
    return 0


def _human(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def _list(args: argparse.Namespace) -> int:
    entries = b.list_cache()
    ui.info(f"cache: {b.cache_root()}")
    pinned = b.normalize_version(versions.KUBERNETES_VERSION)
    for e in entries:
        mark = "*" if e.version == pinned else " "
        if e.ok:
            m = e.verification.manifest
            cni = m.get("flannel_cni", {})
            status = (
                f"ok        {m.get('source', '?'):5}  flanneld {m.get('flannel', '?')}, "
                f"cni {cni.get('module', '?').rsplit('/', 1)[-1]}@{cni.get('version', '?')}, "
                f"{_human(e.size_bytes)}"
            )
        else:
            status = f"BROKEN    {e.verification.reason}"
        ui.info(f"{mark} {e.version:10} {status}")
        if args.verbose and e.ok:
            for name in b.COMPONENT_NAMES:
                p = e.directory / name
                ui.info(f"      {name:24} {_human(p.stat().st_size):>8}  {p}")
    ok, reason = b.available(pinned)
    if not ok:
        ui.info(f"pinned: {reason}")
        return 1
    return 0 if all(e.ok for e in entries) else 1


def add_binaries_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "binaries",
        help="host cache of Kubernetes/flannel binaries (fetch, build, list)",
        description=(
            "Kubernetes control-plane/node binaries, flanneld and the flannel CNI plugin, cached "
            f"per version in {b.cache_root()}/<version>/ with a SHA256SUMS file."
        ),
    )
    sub = p.add_subparsers(dest="binaries_command", metavar="{fetch,build,list}")
    sub.required = True

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--version",
            default=versions.KUBERNETES_VERSION,
            help=f"Kubernetes version (default: the pinned {versions.KUBERNETES_VERSION})",
        )
        sp.add_argument("--force", action="store_true", help="redo it even if cached and intact")

    f = sub.add_parser(
        "fetch",
        help="download official release binaries, checked against published sha256",
        description="Download the official release binaries and check each against its "
        "published sha256. Needs internet access (or --mirror).",
    )
    common(f)
    f.add_argument(
        "--mirror",
        metavar="URL",
        help="classroom/LAN mirror laid out like the upstream downloads, .sha256 beside each file",
    )
    f.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    f.set_defaults(func=_fetch)

    bd = sub.add_parser(
        "build",
        help="build them from Go modules through the configured Go proxy (needs Go >= 1.26)",
        description="Build the binaries with `go build` from Go modules (GOPROXY as configured). "
        "A cold build takes tens of minutes on 2 cores; a warm one is much faster.",
    )
    common(bd)
    bd.set_defaults(func=_build)

    ls = sub.add_parser("list", help="list cached versions and verify their checksums")
    ls.add_argument("-v", "--verbose", action="store_true", help="show each binary")
    ls.set_defaults(func=_list)
    return p
