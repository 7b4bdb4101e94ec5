"""`halab render`: what `up` would write, written without a host."""

from __future__ import annotations

from pathlib import Path

from halab import providers, ui
from halab.home import labs_dir
from halab.render import files
from halab.session.choice import Asked
from halab.session.context import Lab


def render(arg: str, student: int | None, provider: str | None, accel: str,
           out: str | None) -> int:
    """Renders what `up` would: a lab changed by add-master/remove-master/replace from its own
    copy, with the members that joined it; for `provider` and `accel` when given."""
    p = Lab.open(arg, student, Asked(provider, accel)).plan
    where = Path(out) if out else labs_dir() / p.lab
    rendered = files.render(p, providers.for_lab(where, p).files(p))
    changed = files.write(rendered, where)
    count = sum(len(f) for f in rendered.hosts.values())
    ui.info(f"rendered lab {p.lab!r} into {where}: Vagrantfile + {count} files for "
            f"{len(rendered.hosts)} hosts ({len(changed)} changed)")
    return 0
