"""Where halab keeps per-installation state: its SSH key, built boxes, binary caches.

`HALAB_HOME` overrides the default `~/.local/share/halab`. Lab working directories are not here;
they live in `.halab/<lab>/` next to the project (a checkout) or in the current directory (an
installed halab), or in `HALAB_LABS_DIR`.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

from halab.errors import HalabError

_CHECKOUT = Path(__file__).resolve().parent.parent


def _installed_roots() -> list[Path]:
    """Where a wheel's data files (`share/halab/`, see pyproject.toml) may have gone.

    The distribution's RECORD says exactly where pip put them (a venv, `--user`, `--prefix`);
    `sys.prefix` is the usual place when there is no RECORD to read.
    """
    roots = []
    try:
        for f in metadata.distribution("halab").files or []:
            if f.parts[-3:] == ("share", "halab", "Vagrantfile.j2"):
                roots.append(Path(f.locate()).resolve().parent)
    except metadata.PackageNotFoundError:
        pass
    return [*roots, Path(sys.prefix) / "share" / "halab"]


def _find_data_root() -> tuple[Path, bool]:
    """(the directory holding templates/, Vagrantfile.j2 and boxes/, whether it is a checkout).

    A checkout (or editable install) has them next to the `halab/` package and is used first, so
    edits to the templates show at once; a wheel install has them under `share/halab/`. When
    neither holds the templates, the first installed place is returned and `data_root()` says so.
    """
    if (_CHECKOUT / "templates").is_dir():
        return _CHECKOUT, True
    installed = _installed_roots()
    return next((r for r in installed if (r / "templates").is_dir()), installed[0]), False


# The directory holding templates/, Vagrantfile.j2 and boxes/ (the checkout, or share/halab/).
PROJECT_ROOT, IN_CHECKOUT = _find_data_root()


def data_root() -> Path:
    """PROJECT_ROOT, or a HalabError if the templates are in neither the checkout nor the install.

    Checked on use rather than at import, so commands that need no templates still run.
    """
    if not (PROJECT_ROOT / "templates").is_dir():
        raise HalabError(
            f"halab's templates are missing: neither {_CHECKOUT / 'templates'} (a checkout) "
            f"nor {PROJECT_ROOT / 'templates'} (an installed halab) exists",
            hint="reinstall halab from its wheel (pip install --force-reinstall halab-*.whl), "
                 "or run it from a checkout")
    return PROJECT_ROOT


def home() -> Path:
    return Path(os.environ.get("HALAB_HOME") or Path.home() / ".local" / "share" / "halab")


def ssh_key_path() -> Path:
    """The installation's private key; the box authorises its public half for `vagrant`."""
    return home() / "ssh" / "id_ed25519"


def labs_dir() -> Path:
    """Where `.halab/<lab>/` working directories go: HALAB_LABS_DIR if set, else `.halab/` in
    the checkout, or in the current directory for an installed halab (site-packages is no place
    for lab state)."""
    if os.environ.get("HALAB_LABS_DIR"):
        return Path(os.environ["HALAB_LABS_DIR"])
    return (PROJECT_ROOT if IN_CHECKOUT else Path.cwd()) / ".halab"
