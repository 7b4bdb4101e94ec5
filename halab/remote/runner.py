"""Runs commands and uploads files on the lab's VMs over SSH with Fabric.

Connections come from the lab's `ssh_config` (also what testinfra and `halab ssh` use), and
follow it as OpenSSH does: with `StrictHostKeyChecking yes` only the host keys in its
`UserKnownHostsFile` (the lab's own known_hosts) are accepted, and a host presenting another key
is refused with `HostKeyError`, naming it. Every call has a timeout; a failing command raises
`RemoteError` naming the host, the command and the last lines it printed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from halab.errors import HalabError
from halab.poll import Timeout, poll
from halab.remote import staging
from halab.remote.protocol import RemoteError, Result
from halab.render.desired import FileSpec

if TYPE_CHECKING:
    import testinfra.host

T = TypeVar("T")
SFTP_CHUNK = 32768  # paramiko's largest SFTP write


class HostKeyError(HalabError):
    """A host presented another SSH host key than the lab pinned for it, or none is pinned.
    Not a `RemoteError`: nothing retries it or takes it for a host that is merely down."""

    def __init__(self, host: str, message: str, hint: str):
        super().__init__(f"{host}: {message}", hint)
        self.host = host


class UnknownHostKey(paramiko.SSHException):
    """The server's key is not in the lab's known_hosts (paramiko's RejectPolicy, typed)."""


class _Reject(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise UnknownHostKey(hostname, key.get_name())


def pin_host_keys(client: paramiko.SSHClient, options: Mapping[str, Any]) -> None:
    """Make `client` check host keys as OpenSSH does with the same ssh_config `options` (one
    host's lookup): with `StrictHostKeyChecking yes`, only the keys of its known_hosts files.
    A lab brought up before halab pinned keys says `no`: its next `halab up` pins them."""
    if str(options.get("stricthostkeychecking", "")).lower() != "yes":
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # kept in memory only
        return
    client.set_missing_host_key_policy(_Reject())
    files = options.get("userknownhostsfile", "")
    for name in files.split() if isinstance(files, str) else files:
        path = os.path.expanduser(name)
        if os.path.exists(path):
            client.load_system_host_keys(path)  # read-only: paramiko never writes it back


def host_key_error(host: str, exc: paramiko.SSHException) -> HostKeyError | None:
    """The refusal of a host's key said plainly, naming the host and what to do; else None."""
    recover = ("if you rebuilt or re-keyed it yourself, put halab's key back (docs/hosts.md, "
               "\"Host keys\"); otherwise do not trust this host: another machine may hold "
               "its address")
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyError(host, f"REFUSED: the host at {exc.hostname} presents another SSH "
                            f"host key than the one halab pinned for {host} "
                            f"(got {exc.key.get_name()} {exc.key.fingerprint}, expected "
                            f"{exc.expected_key.fingerprint})", recover)
    if isinstance(exc, UnknownHostKey):
        return HostKeyError(host, f"REFUSED: the host at {exc.args[0]} presents a "
                            f"{exc.args[1]} host key, and the lab's known_hosts pins none of "
                            "that kind for it", "run `halab up` for the lab once (it pins "
                            "each host's key); " + recover)
    return None


class Runner:
    """One Fabric connection per host, opened lazily and reused; safe to use from threads."""

    def __init__(self, ssh_config: Path, connect_timeout: int = 10, pinned: bool = True):
        """`pinned=False` accepts whatever key a host presents, and is for one thing only: a
        lab brought up before halab pinned host keys, whose next `up` installs them."""
        self.ssh_config = Path(ssh_config)
        self.connect_timeout = connect_timeout
        self.pinned = pinned
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def _conn(self, host: str) -> Connection:
        with self._lock:
            if host not in self._connections:
                cfg = Config(overrides={"load_ssh_configs": False})
                cfg.set_runtime_ssh_path(str(self.ssh_config))
                cfg.load_ssh_config()
                conn = Connection(
                    host, config=cfg, connect_timeout=self.connect_timeout,
                    connect_kwargs={"banner_timeout": 30, "auth_timeout": 30,
                                    "look_for_keys": False, "allow_agent": False})
                if self.pinned:
                    pin_host_keys(conn.client, conn.ssh_config)
                self._connections[host] = conn
            return self._connections[host]

    def _failure(self, host: str, what: str, exc: BaseException,
                 hint: str | None = None) -> HalabError:
        """A connection-level failure: the connection is dropped, a refused host key said."""
        self._drop(host)
        if isinstance(exc, paramiko.SSHException) and (refused := host_key_error(host, exc)):
            return refused
        return RemoteError(host, what, str(exc), hint)

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
            raise self._failure(host, f"SSH connection ({what or 'command'})", exc,
                                "is the host running? `halab status` shows it") from None
        result = Result(r.stdout, r.stderr, r.exited)
        return result.checked(host, command, what) if check else result

    def wait_reachable(self, host: str, timeout: float) -> None:
        def login(why) -> bool | None:
            r = self.run(host, "true", sudo=False, timeout=15, check=False)
            return True if r.ok else why(f"`true` exited {r.exited}")
        try:  # the last failure is said when the wait times out
            poll(login, timeout=timeout, interval=3, what=f"SSH login to {host}",
                 retry_on=(RemoteError,))
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

    def send(self, host: str, src: BinaryIO, path: str, mode: int) -> None:
        """SFTP write of `src` to `path`, made `mode` before its first byte (staging.Link)."""
        try:
            with self._conn(host).sftp().open(path, "wb") as dst:
                dst.chmod(mode)
                dst.set_pipelined(True)
                shutil.copyfileobj(src, dst, SFTP_CHUNK)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise self._failure(host, f"uploading {path}", exc) from None

    def receive(self, host: str, path: str, dst: BinaryIO) -> None:
        """SFTP read of `path` into `dst` (staging.Link)."""
        try:
            self._conn(host).sftp().getfo(path, dst)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise self._failure(host, f"downloading {path}", exc) from None

    def upload(self, host: str, files: dict[str, FileSpec]) -> None:
        """Put files in place with their modes and owners (see `staging`)."""
        staging.upload(self, host, files)

    def put_file(self, host: str, local: Path, remote: str, mode: int = 0o755) -> None:
        """Copy one (large) local file into place over SFTP, root-owned with `mode`."""
        staging.put_file(self, host, local, remote, mode)

    def get_file(self, host: str, remote: str, local: Path) -> None:
        """Copy one root-owned file from a host over SFTP; `local` is 0600 from its first byte,
        since a snapshot holds every secret."""
        staging.get_file(self, host, remote, local)

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
    """testinfra's handle on a lab host (`halab verify`, lab tests): SSH with the lab's
    ssh_config and its pinned host keys (testinfra alone would accept any key), sudo, and 60 s
    for the connect and key exchange, since a busy VM under TCG took longer than testinfra's
    default of 10 s."""
    # here, not at the top: only verify and the lab tests need testinfra
    from testinfra.backend.paramiko import ParamikoBackend
    from testinfra.host import Host

    class Pinned(ParamikoBackend):
        def _load_ssh_config(self, client, cfg, ssh_config, *rest):  # noqa: ANN001, ANN202
            super()._load_ssh_config(client, cfg, ssh_config, *rest)
            pin_host_keys(client, ssh_config.lookup(self.host.name))

    return Host(Pinned(name, ssh_config=str(ssh_config), sudo=True, timeout=60))
