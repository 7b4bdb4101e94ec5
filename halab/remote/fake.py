"""A `Remote` for unit tests: records every call in order and answers from the test's rules.

It exists so the tiers' decisions (what starts or restarts, on which host, in which order) are
tested without a host. `rules` are `(host or None, regex, Result or callable(host, command))`,
first match wins; otherwise `systemctl is-active X` answers from `active` (per host), which a
successful `systemctl start/restart/stop X` updates, and anything else is an empty success.
Thread-safe, since the tiers call it from `runner.parallel`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from halab.remote import staging
from halab.remote.protocol import Result
from halab.render.desired import FileSpec

Answer = Result | Callable[[str, str], Result]  # a callable gets (host, command)
Rule = tuple[str | None, str, Answer]

OK = Result("", "", 0)
_IS_ACTIVE = re.compile(r"systemctl is-active (\S+)")
_START = re.compile(r"systemctl (start|restart)(?: --no-block)? (\S+)")
_STOP = re.compile(r"systemctl stop (\S+)")


class RecordingRemote:
    """Records `(host, command)` per `run` (and `("upload", host, paths)`, `("put_file", host,
    remote)`, `("get_file", host, remote)`, `("note", label)`) in `calls`, in call order.

    It is also a `staging.Link`, so the real staging steps run on it: `send` records
    `("send", host, path, mode)`, `receive` records `("receive", host, path, mode)` with the
    mode the local file had when its first byte was written, and `mktemp -d` answers a path."""

    STAGE_DIR = "/tmp/halab-stage.fake000001"

    def __init__(self, rules: Iterable[Rule] = (),
                 active: Mapping[str, Iterable[str]] | None = None,
                 hashes: Mapping[str, Mapping[str, str]] | None = None):
        self.rules = [(host, re.compile(pattern), answer) for host, pattern, answer in rules]
        self.active: dict[str, set[str]] = {h: set(s) for h, s in (active or {}).items()}
        self.hashes = {h: dict(d) for h, d in (hashes or {}).items()}
        self.files: dict[str, dict[str, FileSpec]] = {}
        self.calls: list[tuple] = []
        self.as_login: list[str] = []  # the commands run without sudo, as the login user
        self.sent: dict[tuple[str, str], bytes] = {}
        self.closed = False
        self._lock = threading.RLock()

    # ── the Remote protocol ──────────────────────────────────────────────────────────────

    def run(self, host: str, command: str, *, sudo: bool = True, timeout: int = 120,
            check: bool = True, what: str | None = None) -> Result:
        with self._lock:
            self.calls.append((host, command))
            if not sudo:
                self.as_login.append(command)
            result = self._answer(host, command)
        return result.checked(host, command, what) if check else result

    def wait_reachable(self, host: str, timeout: float) -> None:
        self.note(f"wait_reachable {host}")

    def sha256(self, host: str, paths: Iterable[str]) -> dict[str, str]:
        paths = list(paths)
        with self._lock:
            self.calls.append((host, "sha256sum -- " + " ".join(paths)))
            known = self.hashes.get(host, {})
            return {p: known[p] for p in paths if p in known}

    def upload(self, host: str, files: dict[str, FileSpec]) -> None:
        with self._lock:
            self.calls.append(("upload", host, tuple(sorted(files))))
            self.files.setdefault(host, {}).update(files)
            self.hashes.setdefault(host, {}).update({p: s.sha256 for p, s in files.items()})

    def put_file(self, host: str, local: Path, remote: str, mode: int = 0o755) -> None:
        with self._lock:
            self.calls.append(("put_file", host, remote))

    def get_file(self, host: str, remote: str, local: Path) -> None:
        with self._lock:
            self.calls.append(("get_file", host, remote))
            spec = self.files.get(host, {}).get(remote)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(spec.content if spec else b"")

    def send(self, host: str, src: BinaryIO, path: str, mode: int) -> None:
        with self._lock:
            self.calls.append(("send", host, path, mode))
            self.sent[(host, path)] = src.read()

    def receive(self, host: str, path: str, dst: BinaryIO) -> None:
        mode = os.fstat(dst.fileno()).st_mode & 0o777
        with self._lock:
            self.calls.append(("receive", host, path, mode))
        dst.write(b"received from " + path.encode())

    def close(self) -> None:
        self.closed = True

    # ── for the tests ────────────────────────────────────────────────────────────────────

    def note(self, label: str) -> None:
        """Record an event of the test's own (e.g. a stubbed wait) between the calls."""
        with self._lock:
            self.calls.append(("note", label))

    def commands(self, host: str | None = None, pattern: str = "") -> list[str]:
        """The commands run (on `host`, if given) that `pattern` matches, in order."""
        rx = re.compile(pattern)
        with self._lock:
            calls = list(self.calls)
        return [c[1] for c in calls
                if len(c) == 2 and c[0] != "note" and (host is None or c[0] == host)
                and rx.search(c[1])]

    def is_active(self, host: str, service: str) -> bool:
        with self._lock:
            return service in self.active.get(host, set())

    def _answer(self, host: str, command: str) -> Result:
        services = self.active.setdefault(host, set())
        result = None
        for rule_host, rx, answer in self.rules:
            if (rule_host is None or rule_host == host) and rx.search(command):
                result = answer(host, command) if callable(answer) else answer
                break
        if result is None and staging.MKTEMP in command:
            return Result(self.STAGE_DIR + "\n", "", 0)
        if result is None and (m := _IS_ACTIVE.search(command)):
            up = m.group(1) in services
            return Result("active\n" if up else "inactive\n", "", 0 if up else 3)
        result = result or OK
        if result.ok:  # a failing start (a rule's answer) leaves the service as it was
            services.update(m.group(2) for m in _START.finditer(command))
            services.difference_update(m.group(1) for m in _STOP.finditer(command))
        return result
