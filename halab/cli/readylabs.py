"""The ready labs of `labs/`, for `halab --help`: read from the directory each time, so the list
never falls behind the files in it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from halab import home

WIDTH = 99
_DESCRIPTION = re.compile(r"^description:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def directory() -> Path:
    """The checkout's labs/, else labs/ in the current directory (an installed halab)."""
    mine = home.PROJECT_ROOT / "labs"
    return mine if mine.is_dir() else Path("labs")


def describe(text: str) -> str:
    """One line about a topology file: its `description:` field, else the first line of its
    leading comment, else nothing."""
    found = _DESCRIPTION.search(text)
    if found:
        return found.group(1).strip("'\"")
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.lstrip("# ").strip():
            return line.lstrip("# ").strip()
    return ""


def listing(labs: Path | None = None, default: str = "seed") -> str:
    """Every labs/*.yaml with its line, wrapped under a heading; or why there is none."""
    labs = labs or directory()
    shown = "labs/" if labs.resolve() == Path("labs").resolve() else f"{labs}/"
    files = sorted(labs.glob("*.yaml")) if labs.is_dir() else []
    if not files:
        return (f"No ready labs here ({shown} has no *.yaml): write a topology file "
                "(docs/topology.md).")
    width = max(len(f.stem) for f in files) + 2
    lines = [f"Ready labs in {shown} (`halab up {shown}NAME.yaml`):"]
    for f in files:
        try:
            about = describe(f.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            about = ""
        if f.stem == default:
            about += " (the default)"
        lines += textwrap.wrap(about, WIDTH, initial_indent=f"  {f.stem:<{width}}",
                               subsequent_indent=" " * (width + 2)) or [f"  {f.stem}"]
    return "\n".join(lines)
