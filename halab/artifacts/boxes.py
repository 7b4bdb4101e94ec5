"""Box recipes, cache keys and cache records: the pure half of `halab box`.

A recipe (`boxes/<name>.yaml`) is data only. The box built from it is registered with Vagrant as
`halab/<name>` and cached under `home()/boxes/<name>/` with a `record.json`. A box is rebuilt only
when its cache key changes: a hash of the recipe file, the builder code and the installation
public key. Nothing here runs a subprocess; the builder is `halab.build.box`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from halab import home
from halab.errors import HalabError

RECIPES_DIR = home.PROJECT_ROOT / "boxes"
DEFAULT_RECIPE = "trixie"
BOX_PREFIX = "halab/"
# A box added from a file has no version; Vagrant files it under "0".
BOX_VERSION = "0"
PROVIDER = "libvirt"
# clearcpuid=cx16: under QEMU 7.2's TCG (libvirt's plain "qemu" driver) the guest kernel's
# per-CPU cmpxchg16b in SLUB's fast path corrupts registers and the kernel dies with a double
# fault in __kmalloc within seconds to minutes of boot. Without CX16 SLUB takes its other path.
# Harmless under KVM. Vagrantfiles should also hide the flag from userland (cpu_feature cx16).
KERNEL_CMDLINE = "root=LABEL=root console=ttyS0 net.ifnames=0 clearcpuid=cx16"
KEY_SCHEME = b"halab-box-key-v1\0"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_SUITE_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_UNIT_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")
_SIZE_RE = re.compile(r"^([0-9]+)G$")
MIN_DISK_GIB, MAX_DISK_GIB = 4, 512

FIELDS = {
    "description": "one line saying what the box is for",
    "suite": "Debian suite given to debootstrap, e.g. trixie",
    "kernel": "kernel package, e.g. linux-image-cloud-amd64",
    "disk_size": "virtual disk size like 20G",
    "packages": "list of Debian packages to install",
    "disabled_services": "list of systemd units to leave disabled",
}
REQUIRED = ("suite", "kernel", "disk_size", "packages")


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. `source` is the file it came from, `raw` its exact bytes."""

    name: str
    suite: str
    kernel: str
    disk_gib: int
    packages: tuple[str, ...]
    disabled_services: tuple[str, ...] = ()
    description: str = ""
    source: Path = field(default=Path("-"), compare=False)
    raw: bytes = field(default=b"", repr=False, compare=False)

    @property
    def box_name(self) -> str:
        return BOX_PREFIX + self.name

    @property
    def include(self) -> list[str]:
        """debootstrap's --include list: the kernel first, then the packages, no duplicates."""
        return list(dict.fromkeys([self.kernel, *self.packages]))


# ---------------------------------------------------------------------------- recipe loading


def recipe_file(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve `trixie` to `boxes/trixie.yaml`; a path to a file is used as it is."""
    arg = str(name_or_path or DEFAULT_RECIPE)
    path = Path(arg)
    if path.suffix in (".yaml", ".yml") or os.sep in arg:
        if not path.is_file():
            raise HalabError(f"box recipe {path} does not exist", "give a recipe name or a file")
        return path
    if not _NAME_RE.fullmatch(arg):
        raise HalabError(f"{arg!r} is not a recipe name", "use lowercase letters, digits and -")
    path = RECIPES_DIR / f"{arg}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))) or "none"
        raise HalabError(f"no box recipe named {arg!r} ({path} is missing)", f"known: {known}")
    return path


def load_recipe(name_or_path: str | os.PathLike[str] | None = None) -> Recipe:
    path = recipe_file(name_or_path)
    return parse_recipe(path.read_bytes(), path)


def _lines(raw: bytes) -> dict[str, int]:
    """Top-level key -> 1-based line number, so errors can point into the file."""
    try:
        node = yaml.compose(raw.decode("utf-8", "replace"))
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k.value, str)}


def parse_recipe(raw: bytes, source: Path | str = "-") -> Recipe:
    """Validate recipe bytes. Every error names the file, the line and the field at fault."""
    source = Path(source)
    name = source.stem
    lines = _lines(raw)

    def fail(key: str | None, problem: str, hint: str | None = None) -> HalabError:
        where = str(source)
        if key is not None:
            where += f":{lines[key]}" if key in lines else ""
            where += f": field '{key}'"
        return HalabError(f"{where}: {problem}", hint or f"'{key}' is the {FIELDS.get(key, '?')}")

    if not _NAME_RE.fullmatch(name):
        raise fail(None, f"recipe file name {source.name!r} must be lowercase letters, digits, -",
                   "rename it, e.g. boxes/trixie.yaml")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise HalabError(f"{source}: not valid YAML: {exc}", "fix the syntax") from exc
    if not isinstance(data, dict):
        raise HalabError(f"{source}: a recipe is a YAML mapping of fields",
                         f"fields: {', '.join(FIELDS)}")
    for key in data:
        if key not in FIELDS:
            raise fail(str(key), "unknown field", f"known fields: {', '.join(FIELDS)}")
    for key in REQUIRED:
        if key not in data:
            raise HalabError(f"{source}: missing field '{key}'",
                             f"add it: '{key}' is the {FIELDS[key]}")

    def text(key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = data.get(key, "")
        if not isinstance(value, str) or (pattern and not pattern.fullmatch(value)):
            raise fail(key, f"{value!r} is not valid")
        return value

    def names(key: str, pattern: re.Pattern[str], allow_empty: bool) -> tuple[str, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or (not value and not allow_empty):
            raise fail(key, "must be a non-empty list" if not allow_empty else "must be a list")
        for item in value:
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise fail(key, f"{item!r} is not a valid name")
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise fail(key, f"listed twice: {', '.join(dupes)}")
        return tuple(value)

    size = data["disk_size"]
    match = _SIZE_RE.fullmatch(size) if isinstance(size, str) else None
    if not match:
        raise fail("disk_size", f"{size!r} is not a size in GiB", "write it like 20G")
    gib = int(match.group(1))
    if not MIN_DISK_GIB <= gib <= MAX_DISK_GIB:
        raise fail("disk_size", f"{gib}G is out of range",
                   f"use {MIN_DISK_GIB}G to {MAX_DISK_GIB}G")

    return Recipe(
        name=name,
        suite=text("suite", _SUITE_RE),
        kernel=text("kernel", _PACKAGE_RE),
        disk_gib=gib,
        packages=names("packages", _PACKAGE_RE, allow_empty=False),
        disabled_services=names("disabled_services", _UNIT_RE, allow_empty=True),
        description=text("description") if "description" in data else "",
        source=source,
        raw=raw,
    )


# ---------------------------------------------------------------------------- cache key


def cache_key(recipe_raw: bytes, builder_sources: dict[str, bytes], public_key: str) -> str:
    """sha256 of recipe bytes + builder code + the installation public key (type and body).

    The key comment is ignored, so renaming the key's comment does not rebuild the box.
    """
    h = hashlib.sha256(KEY_SCHEME)

    def put(label: bytes, data: bytes) -> None:
        h.update(label + b"\0" + str(len(data)).encode() + b"\0" + data)

    put(b"recipe", recipe_raw)
    for name in sorted(builder_sources):
        put(b"builder:" + name.encode(), builder_sources[name])
    put(b"pubkey", " ".join(public_key.split()[:2]).encode())
    return h.hexdigest()


def builder_files() -> list[Path]:
    """The code whose change must rebuild boxes: this module and the box builder."""
    pkg = Path(__file__).resolve().parent.parent
    return [pkg / "artifacts" / "boxes.py", pkg / "build" / "box.py"]


def builder_sources() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in builder_files()}


# ---------------------------------------------------------------------------- box contents


def box_metadata(recipe: Recipe, key: str) -> dict[str, Any]:
    """The .box's metadata.json: what vagrant-libvirt reads, plus our key to recognise it."""
    return {
        "provider": PROVIDER,
        "format": "qcow2",
        "virtual_size": recipe.disk_gib,
        "halab": {"recipe": recipe.name, "suite": recipe.suite, "key": key},
    }


BOX_VAGRANTFILE = """\
# Defaults baked into halab boxes; a lab's own Vagrantfile overrides them.
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
    lv.nic_model_type = "virtio"
  end
end
"""


# ---------------------------------------------------------------------------- cache records


def boxes_dir() -> Path:
    return home.home() / "boxes"


def cache_dir(name: str) -> Path:
    return boxes_dir() / name


@dataclass(frozen=True)
class Record:
    """What `record.json` says about a finished, cached box. Paths are absolute."""

    name: str  # recipe name, e.g. trixie
    box_name: str  # Vagrant box name, e.g. halab/trixie
    key: str
    box: Path
    size: int
    rootfs: Path
    kernel: Path
    initrd: Path
    built_at: str
    build_seconds: float
    versions: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        base = self.box.parent
        return {
            "name": self.name,
            "box_name": self.box_name,
            "key": self.key,
            "box": self.box.name,
            "size": self.size,
            "rootfs": str(self.rootfs.relative_to(base)),
            "kernel": str(self.kernel.relative_to(base)),
            "initrd": str(self.initrd.relative_to(base)),
            "built_at": self.built_at,
            "build_seconds": round(self.build_seconds, 1),
            "versions": dict(sorted(self.versions.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Path) -> Record:
        return cls(
            name=data["name"],
            box_name=data["box_name"],
            key=data["key"],
            box=base / data["box"],
            size=int(data["size"]),
            rootfs=base / data["rootfs"],
            kernel=base / data["kernel"],
            initrd=base / data["initrd"],
            built_at=data["built_at"],
            build_seconds=float(data["build_seconds"]),
            versions=dict(data.get("versions", {})),
        )


def write_record(record: Record, directory: Path) -> None:
    tmp = directory / "record.json.tmp"
    tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n")
    os.replace(tmp, directory / "record.json")


def read_record(name: str, base: Path | None = None) -> Record | None:
    """The cached box record for recipe `name`, or None when absent, unreadable or incomplete."""
    base = base or cache_dir(name)
    try:
        record = Record.from_json(json.loads((base / "record.json").read_text()), base)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (record.box.is_file() and record.kernel.is_file() and record.initrd.is_file()):
        return None
    return record


def list_records() -> list[Record]:
    root = boxes_dir()
    if not root.is_dir():
        return []
    found = (read_record(p.name) for p in sorted(root.iterdir()) if _NAME_RE.fullmatch(p.name))
    return [r for r in found if r is not None]


def rootfs_path(recipe: str | Recipe = DEFAULT_RECIPE) -> Path | None:
    """The cached box's unpacked root filesystem, for `chroot ROOTFS nginx -t` style checks.

    None when that box has not been built. The rootfs matches the last box built from the recipe.
    """
    name = recipe.name if isinstance(recipe, Recipe) else str(recipe)
    record = read_record(name)
    if record is None or not (record.rootfs / "usr").is_dir():
        return None
    return record.rootfs


def kernel_paths(recipe: str | Recipe = DEFAULT_RECIPE) -> tuple[Path, Path] | None:
    """(vmlinuz, initrd) of the cached box, e.g. for `providers.host.detect_accel`."""
    name = recipe.name if isinstance(recipe, Recipe) else str(recipe)
    record = read_record(name)
    return (record.kernel, record.initrd) if record else None


# ---------------------------------------------------------------------------- Vagrant's copy


def vagrant_home() -> Path:
    return Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def registered_box_dir(box_name: str, vhome: Path | None = None) -> Path:
    """Where `vagrant box add` unpacks our (unversioned) box: boxes/<name>/0/libvirt."""
    slug = box_name.replace("/", "-VAGRANTSLASH-")
    return (vhome or vagrant_home()) / "boxes" / slug / BOX_VERSION / PROVIDER


def registered_key(box_name: str, vhome: Path | None = None) -> str | None:
    """The halab cache key of the box Vagrant has under `box_name`, read from disk (no vagrant)."""
    directory = registered_box_dir(box_name, vhome)
    try:
        meta = json.loads((directory / "metadata.json").read_text())
    except (OSError, ValueError):
        return None
    if not (directory / "box.img").is_file():
        return None
    halab = meta.get("halab") if isinstance(meta, dict) else None
    return halab.get("key") if isinstance(halab, dict) else None
