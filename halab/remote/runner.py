"""Runs commands and uploads files on the lab's VMs over SSH with Fabric.

Connections come from the lab's `ssh_config` (also what testinfra and `halab ssh` use). Every
call has a timeout; a failing command raises `RemoteError` naming the host, the command and the
last lines it printed.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import tarfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from halab.errors import HalabError
from halab.poll import Timeout, poll
from halab.remote.protocol import Result
from halab.render.desired import FileSpec

if TYPE_CHECKING:
    import testinfra.host

T = TypeVar("T")
TAIL_LINES = 15


class RemoteError(HalabError):
    def __init__(self, host: str, what: str, output: str, hint: str | None = None):
        tail = "\n".join(f"    | {line}" for line in output.strip().splitlines()[-TAIL_LINES:])
        message = f"{host}: {what} failed" + (f"; last output:\n{tail}" if tail else "")
        super().__init__(message, hint or "the lab is left as it is for inspection "
                         f"(`halab ssh {host}`); run `halab up` again to resume")
        self.host = host


class Runner:
    """One Fabric connection per host, opened lazily and reused; safe to use from threads."""

    def __init__(self, ssh_config: Path, connect_timeout: int = 10):
        self.ssh_config = Path(ssh_config)
        self.connect_timeout = connect_timeout
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def _conn(self, host: str) -> Connection:
        with self._lock:
            if host not in self._connections:
                cfg = Config(overrides={"load_ssh_configs": False})
                cfg.set_runtime_ssh_path(str(self.ssh_config))
                cfg.load_ssh_config()
                self._connections[host] = Connection(
                    host, config=cfg, connect_timeout=self.connect_timeout,
                    connect_kwargs={"banner_timeout": 30, "auth_timeout": 30,
                                    "look_for_keys": False, "allow_agent": False})
            return self._connections[host]

    def _drop(self, host: str) -> None:
        with self._lock:
            conn = self._connections.pop(host, None)
        if conn is not None:
            conn.close()

    def run(self, host: str, command: str, *, sudo: bool = True, timeout: int = 120,
            check: bool = True, what: str | None = None) -> Result:
        """Run `command` (through `sudo sh -c` by default) and return its output."""
        cmd = f"sudo -n sh -c {shlex.quote(command)}" if sudo else command
        try:
            r = self._conn(host).run(cmd, hide=True, warn=True, timeout=timeout, in_stream=False)
        except CommandTimedOut as exc:
            self._drop(host)
            raise RemoteError(host, f"{what or command!r} (timed out after {timeout}s)",
                              exc.result.stdout + exc.result.stderr) from None
        except UnexpectedExit as exc:  # not raised with warn=True, kept for safety
            r = exc.result
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._drop(host)
            raise RemoteError(host, f"SSH connection ({what or 'command'})", str(exc),
                              "is the VM running? `halab status` shows it") from None
        result = Result(r.stdout, r.stderr, r.exited)
        if check and not result.ok:
            raise RemoteError(host, what or f"{command!r} (exit {r.exited})",
                              result.stdout + result.stderr)
        return result

    def wait_reachable(self, host: str, timeout: float) -> None:
        def login(why) -> bool | None:
            r = self.run(host, "true", sudo=False, timeout=15, check=False)
            return True if r.ok else why(f"`true` exited {r.exited}")
        try:  # the last failure is said when the wait times out
            poll(login, timeout=timeout, interval=3, what=f"SSH login to {host}",
                 retry_on=(HalabError,))
        except Timeout as exc:
            raise RemoteError(host, f"SSH login within {timeout:.0f}s", exc.last or "",
                              "check the host with `halab status` and its console log, "
                              f".halab/<lab>/console/{host}.log") from None

    def sha256(self, host: str, paths: Iterable[str]) -> dict[str, str]:
        """Content hashes of the files that exist among `paths` (one round trip)."""
        paths = list(paths)
        if not paths:
            return {}
        quoted = " ".join(shlex.quote(p) for p in paths)
        r = self.run(host, f"sha256sum -- {quoted} 2>/dev/null; true", what="reading file hashes")
        out = {}
        for line in r.stdout.splitlines():
            digest, _, path = line.partition("  ")
            if path:
                out[path] = digest
        return out

    def upload(self, host: str, files: dict[str, FileSpec]) -> None:
        """Put files in place with their modes and owners: one tar upload, one extraction."""
        if not files:
            return
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, spec in sorted(files.items()):
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode, info.mtime = len(spec.content), spec.mode, 0
                info.uname, info.gname = spec.owner, spec.group
                tar.addfile(info, io.BytesIO(spec.content))
        buf.seek(0)
        remote = f"/tmp/halab-upload-{threading.get_ident()}.tar"
        try:
            self._conn(host).put(buf, remote)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._drop(host)
            raise RemoteError(host, "uploading files", str(exc)) from None
        self.run(host, f"tar -x -p --same-owner -f {remote} -C / && rm -f {remote}",
                 what=f"unpacking {len(files)} files")

    def put_file(self, host: str, local: Path, remote: str, mode: int = 0o755) -> None:
        """Copy one (large) local file into place over SFTP, root-owned with `mode`."""
        staging = f"/tmp/halab-put-{threading.get_ident()}-{Path(remote).name}"
        try:
            self._conn(host).put(str(local), staging)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._drop(host)
            raise RemoteError(host, f"uploading {local.name}", str(exc)) from None
        self.run(host, f"install -D -m {mode:o} -o root -g root {shlex.quote(staging)} "
                       f"{shlex.quote(remote)} && rm -f {shlex.quote(staging)}",
                 what=f"installing {remote}", timeout=300)

    def get_file(self, host: str, remote: str, local: Path) -> None:
        """Copy one root-owned file from a host over SFTP (through a copy the login can read,
        removed after); `local` is written mode 0600, since a snapshot holds every secret."""
        staging = f"/tmp/halab-get-{threading.get_ident()}-{Path(remote).name}"
        self.run(host, f"install -m 0600 -o $SUDO_USER {shlex.quote(remote)} "
                       f"{shlex.quote(staging)}", what=f"reading {remote}")
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part")
        try:
            self._conn(host).get(staging, str(tmp))
            tmp.chmod(0o600)
            tmp.replace(local)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._drop(host)
            tmp.unlink(missing_ok=True)
            raise RemoteError(host, f"downloading {remote}", str(exc)) from None
        finally:
            with contextlib.suppress(HalabError):
                self.run(host, f"rm -f {shlex.quote(staging)}", sudo=False, check=False)

    def close(self) -> None:
        with self._lock:
            conns, self._connections = list(self._connections.values()), {}
        for conn in conns:
            conn.close()


def parallel(hosts: Iterable[str], fn: Callable[[str], T]) -> dict[str, T]:
    """Run `fn(host)` for every host at once; re-raise the first failure after all finish."""
    hosts = list(hosts)
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
        futures = {h: pool.submit(fn, h) for h in hosts}
        results, first_error = {}, None
        for h, fut in futures.items():
            try:
                results[h] = fut.result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return results


def testinfra_host(name: str, ssh_config: Path) -> testinfra.host.Host:
    """testinfra's handle on a lab VM (`halab verify`, lab tests): SSH with the lab's
    ssh_config, sudo, and 60 s for the connect and key exchange, since a busy VM under TCG
    took longer than testinfra's default of 10 s."""
    import testinfra  # here, not at the top: only verify and the lab tests need it

    return testinfra.get_host(f"paramiko://{name}", ssh_config=str(ssh_config), sudo=True,
                              timeout=60)
