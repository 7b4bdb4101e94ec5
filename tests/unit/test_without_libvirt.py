"""halab without libvirt-python: the commands that touch no VM, and every module but the
libvirt provider's, must work on a host (or CI) where it is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from labfiles import ROOT

pytestmark = pytest.mark.unit

SKIPPED = "halab.providers.vagrant_libvirt"

# Shadows the real module: records who imported it (outermost module first), then fails.
BLOCKER = '''\
import inspect, json, os
_chain = [f.frame.f_globals.get("__name__") for f in reversed(inspect.stack())
          if f.function == "<module>"]
with open(os.environ["LIBVIRT_IMPORTS_LOG"], "a") as _log:
    _log.write(json.dumps([m for m in _chain if m not in ("__main__", __name__)]) + "\\n")
raise ImportError("libvirt is made unimportable by tests/unit/test_without_libvirt.py")
'''

# Imports every module of halab but the libvirt provider's, without importing that package
# (pkgutil.walk_packages would, to list it); prints the ones that fail.
IMPORT_ALL = f'''\
import importlib, json, os, pkgutil, sys
try:
    import libvirt
except ImportError:
    pass
else:
    sys.exit("libvirt is still importable: " + libvirt.__file__)
import halab

def walk(prefix, path):
    for info in pkgutil.iter_modules([path], prefix):
        if info.name == {SKIPPED!r} or info.name.endswith(".__main__"):
            continue
        yield info.name
        if info.ispkg:
            yield from walk(info.name + ".", os.path.join(path, info.name.rpartition(".")[2]))

failed = {{}}
for name in walk("halab.", halab.__path__[0]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps(failed))
'''


@pytest.fixture
def no_libvirt(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment where `import libvirt` fails, and the log of who tried."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "libvirt.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "libvirt-imports.jsonl"
    env = {**os.environ, "PYTHONPATH": str(blocker), "LIBVIRT_IMPORTS_LOG": str(log),
           "HALAB_HOME": str(tmp_path / "home"), "HALAB_LABS_DIR": str(tmp_path / "labs")}
    return env, log


def _chains(log: Path) -> list[str]:
    """Each distinct chain of halab modules that imported libvirt (the bare checks are not)."""
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    return sorted({" -> ".join([*chain, "libvirt"]) for chain in map(json.loads, lines) if chain})


def _report(chains: list[str]) -> str:
    return "\nimport chains to libvirt:\n" + "\n".join(chains) if chains else ""


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("command", [
    ["validate", "labs/seed.yaml"],
    ["render", "labs/seed.yaml", "--provider", "vm", "--out", "{tmp}/render"],
    ["diagram", "labs/seed.yaml", "--out", "{tmp}/d.svg"],
], ids=["validate", "render", "diagram"])
def test_command_runs_without_libvirt(no_libvirt: tuple[dict[str, str], Path],
                                      tmp_path: Path, command: list[str]) -> None:
    env, log = no_libvirt
    args = [a.format(tmp=tmp_path) for a in command]
    done = _run(["-m", "halab.cli", *args], env)
    assert done.returncode == 0, f"halab {' '.join(args)}:\n{done.stderr}{_report(_chains(log))}"


def test_no_module_imports_libvirt(no_libvirt: tuple[dict[str, str], Path]) -> None:
    env, log = no_libvirt
    done = _run(["-c", IMPORT_ALL], env)
    assert done.returncode == 0, done.stdout + done.stderr
    failed, chains = json.loads(done.stdout), _chains(log)
    assert not failed and not chains, (
        "\n".join(f"{m}: {e}" for m, e in sorted(failed.items())) + _report(chains))
