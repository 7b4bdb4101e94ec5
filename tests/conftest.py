"""Shared test fixtures: paths to the ready labs and a loader for them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
