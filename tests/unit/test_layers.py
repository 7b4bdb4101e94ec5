"""The import layering: pyproject.toml's import-linter contracts can fail, and no module cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from labfiles import ROOT

pytestmark = pytest.mark.unit

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    """halab and the contracts of pyproject.toml, so a forbidden import can be planted."""
    shutil.copytree(ROOT / "halab", tmp_path / "halab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path, contract: str) -> subprocess.CompletedProcess[str]:
    """lint-imports on the copy (first on PYTHONPATH, ahead of the editable install)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract,
         str(tree / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120)


# Each contract is checked alone, so one broken today by the restructuring does not hide these.
PLANTED = [
    ("halab/config/plan.py", "import halab.session.context", "pure-layers",
     "halab.config.plan -> halab.session.context"),
    ("halab/verify/demo.py", "import halab.lab.power", "lab-commands",
     "halab.verify.demo -> halab.lab.power"),
    # the builds are below the providers (which use them), with no waiver
    ("halab/build/box.py", "import halab.providers.vagrant_libvirt.volumes", "build-no-provider",
     "halab.build.box -> halab.providers.vagrant_libvirt.volumes"),
    ("halab/session/context.py", "import halab.lab.up", "session-below-commands",
     "halab.session.context -> halab.lab.up"),
    # a probe that leans on a tier (the tiers use the probes, not the other way round)
    ("halab/probes/lb.py", "import halab.tiers.lb", "probes-below",
     "halab.probes.lb -> halab.tiers.lb"),
    # a command that reaches past the provider seam into one engine
    ("halab/lab/status.py", "import halab.providers.incus.objects", "no-concrete-provider",
     "halab.lab.status -> halab.providers.incus.objects"),
]


@pytest.mark.parametrize(("path", "line", "contract", "chain"), PLANTED,
                         ids=[p[2] for p in PLANTED])
def test_contract_breaks_on_a_planted_import(tmp_path: Path, path: str, line: str,
                                             contract: str, chain: str) -> None:
    tree = _copy(tmp_path)
    kept = _lint(tree, contract)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "1 kept, 0 broken" in kept.stdout

    with (tree / path).open("a", encoding="utf-8") as f:
        f.write(f"\n{line}  # planted by tests/unit/test_layers.py\n")
    broken = _lint(tree, contract)
    assert broken.returncode != 0, broken.stdout
    assert "0 kept, 1 broken" in broken.stdout, broken.stdout + broken.stderr
    assert chain in broken.stdout, broken.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), as a closed chain."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                on_stack.discard(member)
                group.append(member)
            on_stack.discard(module)
            if group:
                groups.append(sorted([module, *group]))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    cycles = []
    for group in groups:
        start = group[0]
        back = min((graph.find_shortest_chain(importer=m, imported=start) or ()
                    for m in graph.find_modules_directly_imported_by(start) if m in group),
                   key=len)
        cycles.append([start, *back])
    return cycles


def test_no_import_cycle_between_modules() -> None:
    """Module by module, because the acyclic_siblings contract misses a package's __init__ in
    a cycle with its own submodules."""
    graph = grimp.build_graph("halab", cache_dir=None)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
