"""`halab box build` / `halab box list`: argument parsing and output only, no logic.

The main CLI wires these in with `add_box_commands(subparsers)`. Each func takes the parsed
args, returns an exit code, and raises HalabError for anything the user can fix.
"""

from __future__ import annotations

import argparse
import time

from halab import ui
from halab.artifacts import boxes


def add_box_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `box build` and `box list` on the top-level `subparsers`."""
    box = subparsers.add_parser("box", help="build and list the offline Vagrant boxes")
    box.set_defaults(func=lambda args: (box.print_help(), 2)[1])
    sub = box.add_subparsers(dest="box_command", metavar="{build,list}")

    build = sub.add_parser(
        "build", help="build (or reuse) the box of a recipe and register it with Vagrant",
        description="Build the box from boxes/RECIPE.yaml and register it as halab/RECIPE. "
                    "A box whose recipe, builder and installation key are unchanged is reused.")
    build.add_argument("recipe", nargs="?", default=boxes.DEFAULT_RECIPE,
                       help=f"recipe name in boxes/ or a path to a recipe file "
                            f"(default: {boxes.DEFAULT_RECIPE})")
    build.add_argument("--force", action="store_true", help="rebuild even if the box is cached")
    build.set_defaults(func=cmd_box_build)

    lst = sub.add_parser("list", help="show the cached boxes")
    lst.set_defaults(func=cmd_box_list)
    return box


def cmd_box_build(args: argparse.Namespace) -> int:
    from halab.providers import ensure_box  # the subprocess side, only when building

    start = time.monotonic()
    record, what = ensure_box(args.recipe, force=args.force)
    took = time.monotonic() - start
    verb = {"cached": "is up to date (cached)", "registered": "re-registered from the cache",
            "built": "built and registered"}[what]
    ui.info(f"[green]✓[/] box [bold]{record.box_name}[/] {verb} in {took:.1f}s — "
            f"{record.size / 2**20:.0f} MB, key {record.key[:12]}")
    ui.info(f"  box    {record.box}\n  rootfs {record.rootfs}")
    return 0


def cmd_box_list(args: argparse.Namespace) -> int:  # noqa: ARG001
    records = boxes.list_records()
    if not records:
        ui.info(f"no boxes cached in {boxes.boxes_dir()} — build one with `halab box build`")
        return 0
    rows = [("NAME", "KEY", "SIZE", "BUILT", "VAGRANT", "PATH")]
    for r in records:
        reg = boxes.registered_key(r.box_name)
        state = "registered" if reg == r.key else ("stale" if reg else "not-registered")
        rows.append((r.box_name, r.key[:12], f"{r.size / 2**20:.0f}MB",
                     r.built_at[:16].replace("T", " "), state, str(r.box)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:  # plain columns: never truncated, easy to grep
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0
