"""How files travel to and from a lab host: through a private staging directory, never a
predictable /tmp name. Secrets (CA and service-account keys, kubeconfigs, tokens) pass this way.

Each transfer makes its own directory with `mktemp -d` (0700, owned by the login user, which
SFTP writes as), writes the file in it 0600 from its first byte, moves it into place with sudo,
and removes the directory on every path, failures included. A download is written locally into
a `.part` file created 0600 before its first byte.

The logic is here, apart from SSH, so the recording fake runs the very same steps: `Link` is what
it needs from a connection (`Runner` over Fabric; `RecordingRemote` in the unit tests).
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import tarfile
from pathlib import Path
from typing import BinaryIO, Protocol

from halab.errors import HalabError
from halab.remote.protocol import RemoteError, Result
from halab.render.desired import FileSpec

DIR_MODE = 0o700  # what `mktemp -d` makes; checked, not assumed, by `make_dir`
FILE_MODE = 0o600
MKTEMP = "mktemp -d /tmp/halab-stage.XXXXXXXXXX"
UPLOAD_TAR = "files.tar"


class Link(Protocol):
    def run(self, host: str, command: str, *, sudo: bool = True, timeout: int = 120,
            check: bool = True, what: str | None = None) -> Result: ...

    def send(self, host: str, src: BinaryIO, path: str, mode: int) -> None:
        """Write `src` to `path` over SFTP, the file made `mode` before any byte is written."""

    def receive(self, host: str, path: str, dst: BinaryIO) -> None:
        """Read `path` over SFTP into `dst`."""


def make_dir(link: Link, host: str) -> str:
    """A fresh private directory on `host`, owned by the login user (SFTP writes as it)."""
    r = link.run(host, f"umask 077 && d=$({MKTEMP}) && chmod {DIR_MODE:o} \"$d\" && echo \"$d\"",
                 sudo=False, what="making a private staging directory")
    path = r.stdout.strip()
    if not path.startswith("/tmp/halab-stage."):
        raise HalabError(f"{host}: mktemp gave {path!r}, not a staging directory",
                         "check /tmp on the host (`halab ssh`)")
    return path


def remove_dir(link: Link, host: str, path: str) -> None:
    """Best effort: the connection may be the thing that failed."""
    with contextlib.suppress(HalabError):
        link.run(host, f"rm -rf -- {shlex.quote(path)}", sudo=True, check=False, timeout=60,
                 what="removing the staging directory")


class Stage:
    """One transfer's private directory on a host; `finish` puts the file in place."""

    def __init__(self, link: Link, host: str, path: str):
        self.link, self.host, self.path = link, host, path
        self.removed = False

    def finish(self, command: str, what: str, timeout: int = 120) -> None:
        """Run `command` (with sudo), then remove the directory in the same round trip,
        whether it succeeded or not."""
        r = self.link.run(self.host, f"{command}; rc=$?; rm -rf -- {shlex.quote(self.path)}; "
                          "exit $rc", check=False, what=what, timeout=timeout)
        self.removed = True
        if not r.ok:
            raise RemoteError(self.host, what, r.stdout + r.stderr)


@contextlib.contextmanager
def staged(link: Link, host: str):
    """The private directory for one transfer, removed however the transfer ends: by its
    `finish`, or else (a failed send, a lost connection) on its own."""
    stage = Stage(link, host, make_dir(link, host))
    try:
        yield stage
    finally:
        if not stage.removed:
            remove_dir(link, host, stage.path)


def tar_of(files: dict[str, FileSpec]) -> io.BytesIO:
    """Every file with its mode and owner, for one extraction at `/`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, spec in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(spec.content), spec.mode, 0
            info.uname, info.gname = spec.owner, spec.group
            tar.addfile(info, io.BytesIO(spec.content))
    buf.seek(0)
    return buf


def upload(link: Link, host: str, files: dict[str, FileSpec]) -> None:
    """Put files in place with their modes and owners: one tar upload, one extraction."""
    if not files:
        return
    with staged(link, host) as stage:
        tar = f"{stage.path}/{UPLOAD_TAR}"
        link.send(host, tar_of(files), tar, FILE_MODE)
        stage.finish(f"tar -x -p --same-owner -f {shlex.quote(tar)} -C /",
                     f"unpacking {len(files)} files")


def put_file(link: Link, host: str, local: Path, remote: str, mode: int = 0o755) -> None:
    """One (large) local file into place, root-owned with `mode`."""
    with staged(link, host) as stage, open(local, "rb") as src:
        staging = f"{stage.path}/{Path(remote).name}"
        link.send(host, src, staging, FILE_MODE)
        stage.finish(f"install -D -m {mode:o} -o root -g root {shlex.quote(staging)} "
                     f"{shlex.quote(remote)}", f"installing {remote}", timeout=300)


def open_private(path: Path) -> BinaryIO:
    """A new local file that is 0600 before its first byte (a snapshot holds every secret)."""
    path.unlink(missing_ok=True)  # O_CREAT keeps the mode of a file that is already there
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away, never added: made exact
    return os.fdopen(fd, "wb")


def get_file(link: Link, host: str, remote: str, local: Path) -> None:
    """One root-owned file from `host` to `local` (0600), through a copy the login can read."""
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.part")
    with staged(link, host) as stage:  # removed on its own after the download
        staging = f"{stage.path}/{Path(remote).name}"
        link.run(host, f"install -m {FILE_MODE:o} -o $SUDO_USER {shlex.quote(remote)} "
                       f"{shlex.quote(staging)}", what=f"reading {remote}")
        try:
            with open_private(tmp) as dst:
                link.receive(host, staging, dst)
            tmp.replace(local)
        finally:
            tmp.unlink(missing_ok=True)
