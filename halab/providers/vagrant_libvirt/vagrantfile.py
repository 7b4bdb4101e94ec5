"""The lab's Vagrantfile, rendered from the top-level `Vagrantfile.j2` (pure)."""

from __future__ import annotations

from halab.config.plan import Plan
from halab.render import files

VAGRANTFILE_TEMPLATE = "Vagrantfile.j2"


def vagrantfile(plan: Plan) -> str:
    return files.environment().get_template(VAGRANTFILE_TEMPLATE).render(files.context(plan))


def lab_files(plan: Plan) -> dict[str, str]:
    return {"Vagrantfile": vagrantfile(plan)}
