"""Progress output: each long step prints its name, then how long it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

# Piped output (CI logs, tests) gets wide lines rather than tables folded at 80 columns.
_width = None if sys.stdout.isatty() else 160
console = Console(stderr=False, highlight=False, soft_wrap=True, width=_width)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_width)


def info(message: str) -> None:
    console.print(message)


def warn(message: str) -> None:
    """Warnings and errors carry paths and etcd's own words: never read as rich markup."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


def error(message: str) -> None:
    err_console.print(f"[red]error:[/] {escape(message)}")


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print `==> title`, run the block, then `✓ title (N.Ns)` or `✗ title` on failure."""
    console.print(f"[bold]==>[/] {title}")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        console.print(f"[red]✗[/] {title} failed after {time.monotonic() - start:.1f}s")
        raise
    console.print(f"[green]✓[/] {title} [dim]({time.monotonic() - start:.1f}s)[/]")
    sys.stdout.flush()
