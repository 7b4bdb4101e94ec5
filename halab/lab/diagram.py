"""`halab diagram`: the lab drawn from its topology, or (--live) with its state coloured in."""

from __future__ import annotations

from pathlib import Path

from halab import ui
from halab.config import plan
from halab.config.topology import Loaded
from halab.home import labs_dir
from halab.lab import status
from halab.session import context, labdir
from halab.session.context import Lab
from halab.workshop import diagram as drawing


def diagram(arg: str | None, out: str | None, live: bool) -> int:
    """Without `live` only the topology is read, so a lab never brought up can be drawn."""
    the_lab = Lab.existing(arg) if live else None
    p = the_lab.plan if the_lab else plan.build(_drawn(arg).topology)
    paths = drawing.outputs(Path(out) if out else labs_dir() / p.lab / "diagram")
    state = None
    if the_lab:
        try:
            state = status.live_state(the_lab)
        finally:
            the_lab.close()
    written = drawing.render_files(drawing.build(p, state), paths)
    for note in state.notes if state else ():
        ui.warn(f"not coloured in: {note}")
    ui.info(f"drew lab {p.lab!r}{' as it is now' if state else ''}: "
            + ", ".join(str(w) for w in written))
    return 0


def _drawn(arg: str | None) -> Loaded:
    """A file or a lab that is up (its own copy once changed); with neither, the only lab that
    is up, else the seed lab."""
    if arg is None and len(labdir.known_labs()) != 1:
        return context.read(labdir.DEFAULT_LAB)
    return context.resolved(arg)[1]
