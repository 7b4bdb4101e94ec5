"""Where halab keeps per-installation state: its SSH key, built boxes, binary caches.

`HALAB_HOME` overrides the default `~/.local/share/halab`. Lab working directories are not here;
they live in `.halab/<lab>/` next to the project.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    return Path(os.environ.get("HALAB_HOME") or Path.home() / ".local" / "share" / "halab")


def ssh_key_path() -> Path:
    """The installation's private key; the box authorises its public half for `vagrant`."""
    return home() / "ssh" / "id_ed25519"


def labs_dir() -> Path:
    """Where `.halab/<lab>/` working directories go (the project root, or HALAB_LABS_DIR)."""
    return Path(os.environ.get("HALAB_LABS_DIR") or PROJECT_ROOT / ".halab")
