"""Stand-in entry point for the `box` branch; the real cli.py on main wires add_box_commands."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape

from halab import ui
from halab.cli_box import add_box_commands
from halab.errors import HalabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="halab", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_box_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except HalabError as exc:
        ui.error(escape(exc.message))
        if exc.hint:
            ui.err_console.print(f"  → {escape(exc.hint)}")
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
