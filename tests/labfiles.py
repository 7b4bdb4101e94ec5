"""The project's root and its ready labs (`labs/*.yaml`), for the unit and the lab tests alike:
the file of a lab, the lab loaded, its topology, and its plan.

A plain module in tests/, which pyproject.toml's `pythonpath` puts on `sys.path`: unit and lab
tests import it as `from labfiles import ROOT, lab_plan`.
"""

from __future__ import annotations

from pathlib import Path

from halab.config import plan
from halab.config.topology import Loaded, Topology, load

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"


def lab_file(name: str) -> Path:
    """`labs/<name>.yaml`."""
    return LABS / f"{name}.yaml"


def loaded(name: str) -> Loaded:
    """The ready lab `name` as the loader gives it (the topology and its warnings)."""
    return load(lab_file(name))


def topology(name: str) -> Topology:
    return loaded(name).topology


def lab_plan(name: str = "etcd-only", accel: plan.Accel = "tcg",
             provider: plan.ProviderName = "vm") -> plan.Plan:
    """The plan of the ready lab `name` (by default the smallest, etcd-only)."""
    return plan.build(topology(name), accel, (), provider)
