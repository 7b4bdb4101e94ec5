"""A drill's timeline as a picture: each probe a tick on a time axis (green when it got its
answer, red when not), one row per probe, and each step of the drill shaded and named above
them. A class sees at a glance where the API or the workload went away, and during which step.
Pure: it draws what it is handed (matplotlib, no display)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402 - after the backend is chosen

OK, FAILED = "#2e7d32", "#c62828"
SHADES = ("#e3f2fd", "#fff3e0", "#f3e5f5", "#e8f5e9", "#fce4ec", "#ede7f6")


@dataclass(frozen=True)
class Track:
    """One probe's marks: (seconds from the start, got its answer)."""

    name: str
    marks: tuple[tuple[float, bool], ...]


@dataclass(frozen=True)
class Span:
    """One step of the drill, in seconds from the start."""

    name: str
    start: float
    end: float


CHAR = 0.0058  # a label's character, as a share of the axis (8 pt on a 12 in figure)


def _levels(spans: list[Span], end: float) -> list[int]:
    """Each step's label level: the lowest one whose last label ends before this step starts,
    so labels of short steps side by side never overlap."""
    ends: list[float] = []  # per level, where its last label ends
    out = []
    for s in spans:
        level = next((i for i, e in enumerate(ends) if e <= s.start), len(ends))
        if level == len(ends):
            ends.append(0.0)
        ends[level] = s.start + (len(s.name) + 2) * CHAR * end
        out.append(level)
    return out


def draw(title: str, tracks: list[Track], spans: list[Span],
         fmt: Literal["svg", "png"]) -> bytes:
    """The timeline as SVG or PNG bytes."""
    end = max([s.end for s in spans] + [t for tr in tracks for t, _ in tr.marks] + [1.0])
    fig, ax = plt.subplots(figsize=(12, 1.6 + 0.7 * len(tracks)), dpi=110)
    try:
        levels = _levels(spans, end)
        for i, s in enumerate(spans):
            ax.axvspan(s.start, s.end, color=SHADES[i % len(SHADES)], zorder=0)
            ax.text(s.start, len(tracks) - 0.45 + 0.3 * levels[i], f" {s.name}", ha="left",
                    va="bottom", fontsize=8, color="#333333")
        for row, tr in enumerate(reversed(tracks)):
            for ok in (True, False):
                xs = [t for t, good in tr.marks if good == ok]
                ax.vlines(xs, row - 0.3, row + 0.3, colors=OK if ok else FAILED,
                          linewidth=0.8 if ok else 1.6, zorder=2)
        ax.set_yticks(range(len(tracks)), [t.name for t in reversed(tracks)])
        ax.set_ylim(-0.6, len(tracks) - 0.2 + 0.3 * max(levels, default=0))
        ax.set_xlim(0, end)
        ax.set_xlabel("seconds")
        ax.set_title(title, fontsize=10)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format=fmt)
        return out.getvalue()
    finally:
        plt.close(fig)
