"""An installed halab (the built wheel, not the checkout) finds its data and renders a lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from labfiles import ROOT, lab_file

from halab import home
from halab.errors import HalabError

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden" / "seed"
# What the build reads: the package and the top-level data that pyproject.toml's data-files ship.
SOURCES = ["pyproject.toml", "README.md", "halab", "templates", "boxes", "exercises",
           "Vagrantfile.j2"]
DATA_PREFIX = "halab-0.1.0.data/data/share/halab/"
PROBE = ("import json, halab, halab.home as h; print(json.dumps([halab.__file__, "
         "str(h.PROJECT_ROOT), h.IN_CHECKOUT, str(h.labs_dir())]))")


def _run(cmd: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120,
                            **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _build_wheel(tmp_path: Path) -> Path:
    """Built from a copy: an in-tree build leaves build/ and an egg-info in the checkout (and a
    stale build/lib can leak deleted modules into the wheel). Offline: no index, no isolation."""
    src = tmp_path / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", dist, src])
    [wheel] = dist.glob("halab-*.whl")
    return wheel


def test_installed_wheel_renders_the_seed_lab_like_the_goldens(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    shipped = {n[len(DATA_PREFIX):] for n in zipfile.ZipFile(wheel).namelist()
               if n.startswith(DATA_PREFIX)}
    expected = {str(p.relative_to(ROOT)) for d in ("templates", "boxes", "exercises")
                for p in (ROOT / d).rglob("*") if p.is_file()} | {"Vagrantfile.j2"}
    assert shipped == expected, "pyproject.toml's data-files miss or add files"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, symlinks=True)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
          "--no-index", wheel])
    # The dependencies come from the dev venv. A path added by a .pth file is not scanned for
    # .pth files itself, so the dev venv's editable-install hook for the checkout stays off.
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                .stdout.strip())
    (site / "zz-halab-dev-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = tmp_path / "work"  # not the checkout
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "HALAB_LABS_DIR", "VIRTUAL_ENV", "PYTHONHOME")}
    env["HALAB_HOME"] = str(tmp_path / "halab-home")
    module, root, in_checkout, labs = json.loads(_run([python, "-c", PROBE], cwd=work,
                                                      env=env).stdout)
    assert Path(module).resolve().is_relative_to(env_dir.resolve()), module
    assert Path(root).resolve() == (env_dir / "share" / "halab").resolve()
    assert not in_checkout and Path(labs) == work / ".halab"

    out = work / "out"
    _run([env_dir / "bin" / "halab", "render", lab_file("seed"), "--accel", "tcg",
          "--provider", "vm", "--out", out], cwd=work, env=env)
    files, golden = _tree(out), _tree(GOLDEN)
    assert sorted(files) == sorted(golden)
    for rel, text in golden.items():
        assert files[rel] == text, f"{rel} differs from tests/unit/golden/seed/{rel}"


def test_missing_templates_are_a_halab_error(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setattr(home, "PROJECT_ROOT", tmp_path / "share" / "halab")
    with pytest.raises(HalabError, match="templates are missing") as err:
        home.data_root()
    assert str(tmp_path / "share" / "halab" / "templates") in str(err.value)


def test_a_checkout_keeps_its_labs_in_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALAB_LABS_DIR", raising=False)
    assert home.IN_CHECKOUT and home.PROJECT_ROOT == ROOT
    assert home.labs_dir() == ROOT / ".halab"
    monkeypatch.setenv("HALAB_LABS_DIR", "/elsewhere")
    assert home.labs_dir() == Path("/elsewhere")
