"""What the tiers and checks need from a lab host: run a command, read hashes, put files.

`remote.runner.Runner` does it over SSH with Fabric (for VMs and containers alike);
`remote.fake.RecordingRemote` records the calls and answers from a script, so the tiers'
decisions are unit-tested without a host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from halab.errors import HalabError
from halab.render.desired import FileSpec

TAIL_LINES = 15


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exited: int

    @property
    def ok(self) -> bool:
        return self.exited == 0

    def checked(self, host: str, command: str, what: str | None) -> Result:
        """This result, or RemoteError when the command exited non-zero: the one rule for
        `run(check=True)`, the runner's and the fake's."""
        if not self.ok:
            raise RemoteError(host, what or f"{command!r} (exit {self.exited})",
                              self.stdout + self.stderr)
        return self


class RemoteError(HalabError):
    """A command or the connection failed on a host: names it, the step and the last output."""

    def __init__(self, host: str, what: str, output: str, hint: str | None = None):
        tail = "\n".join(f"    | {line}" for line in output.strip().splitlines()[-TAIL_LINES:])
        message = f"{host}: {what} failed" + (f"; last output:\n{tail}" if tail else "")
        super().__init__(message, hint or "the lab is left as it is for inspection "
                         f"(`halab ssh {host}`); run `halab up` again to resume")
        self.host = host


class Remote(Protocol):
    def run(self, host: str, command: str, *, sudo: bool = True, timeout: int = 120,
            check: bool = True, what: str | None = None) -> Result: ...

    def wait_reachable(self, host: str, timeout: float) -> None: ...

    def sha256(self, host: str, paths: Iterable[str]) -> dict[str, str]: ...

    def upload(self, host: str, files: dict[str, FileSpec]) -> None: ...

    def put_file(self, host: str, local: Path, remote: str, mode: int = 0o755) -> None: ...

    def get_file(self, host: str, remote: str, local: Path) -> None: ...

    def close(self) -> None: ...
