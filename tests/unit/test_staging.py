"""Secrets in transit (issue 29, item 2): the real staging steps of `Runner.upload`, `put_file` and
`get_file`, run on the recording fake. Each transfer gets its own `mktemp -d` directory (0700,
made as the login user, which SFTP writes as), files go there 0600, the directory is removed on
every path, and a download's local `.part` is 0600 from its first byte."""

from __future__ import annotations

import inspect
import os
import stat
from pathlib import Path

import pytest

from halab.errors import HalabError
from halab.remote import staging
from halab.remote.fake import RecordingRemote
from halab.remote.protocol import Result
from halab.remote.runner import RemoteError, Runner
from halab.render.desired import FileSpec

pytestmark = pytest.mark.unit
D = RecordingRemote.STAGE_DIR
CLEAN = f"; rc=$?; rm -rf -- {D}; exit $rc"  # the last step removes the directory itself
SECRETS = {"/etc/kubernetes/pki/ca.key": FileSpec(b"-----BEGIN PRIVATE KEY-----\n", 0o600),
           "/etc/kubernetes/tokens.csv": FileSpec(b"t,u,1\n", 0o600)}


def transfers(fake: RecordingRemote) -> list[tuple]:
    """The steps on host m1, in order: commands and SFTP transfers."""
    return [c[1] if len(c) == 2 else c for c in fake.calls if c[0] == "m1" or c[1] == "m1"]


def test_the_runner_stages_through_these_steps() -> None:
    """The Runner's transfers are the staging functions, not a copy of them."""
    for name in ("upload", "put_file", "get_file"):
        assert f"staging.{name}(self" in inspect.getsource(getattr(Runner, name))


def test_staging_dir_is_private_and_made_as_the_login_user() -> None:
    fake = RecordingRemote()
    assert staging.make_dir(fake, "m1") == D
    (cmd,) = fake.as_login
    assert "umask 077" in cmd and "mktemp -d" in cmd and 'chmod 700 "$d"' in cmd
    assert "/tmp/halab-stage.XXXXXXXXXX" in cmd  # random, not /tmp/halab-upload-<thread id>


def test_upload_sends_0600_into_the_private_dir_and_removes_it() -> None:
    fake = RecordingRemote()
    staging.upload(fake, "m1", SECRETS)
    steps = transfers(fake)
    assert steps[1] == ("send", "m1", f"{D}/files.tar", 0o600)
    assert steps[2] == f"tar -x -p --same-owner -f {D}/files.tar -C /" + CLEAN
    assert len(steps) == 3


def test_a_failed_extraction_still_removes_the_staged_secrets() -> None:
    fake = RecordingRemote(rules=[("m1", r"^tar -x", Result("", "tar: No space left", 2))])
    with pytest.raises(RemoteError, match="unpacking 2 files"):
        staging.upload(fake, "m1", SECRETS)
    assert transfers(fake)[-1].endswith(CLEAN)


def test_a_lost_connection_while_unpacking_still_removes_the_dir() -> None:
    def lost(host: str, command: str) -> Result:
        raise RemoteError(host, "SSH connection", "Connection reset by peer")
    fake = RecordingRemote(rules=[("m1", r"^tar -x", lost)])
    with pytest.raises(RemoteError):
        staging.upload(fake, "m1", SECRETS)
    assert transfers(fake)[-1] == f"rm -rf -- {D}"


def test_a_failed_send_still_removes_the_dir() -> None:
    class Broken(RecordingRemote):
        def send(self, host, src, path, mode):  # noqa: ANN001, ANN202
            raise RemoteError(host, "uploading", "Connection reset")
    fake = Broken()
    with pytest.raises(RemoteError):
        staging.upload(fake, "m1", SECRETS)
    assert transfers(fake)[-1] == f"rm -rf -- {D}"


def test_put_file_stages_0600_then_installs_with_its_mode(tmp_path: Path) -> None:
    binary = tmp_path / "kubelet"
    binary.write_bytes(b"\x7fELF")
    fake = RecordingRemote()
    staging.put_file(fake, "m1", binary, "/usr/local/bin/kubelet", 0o755)
    steps = transfers(fake)
    assert steps[1] == ("send", "m1", f"{D}/kubelet", 0o600)
    assert steps[2] == (f"install -D -m 755 -o root -g root {D}/kubelet "
                        "/usr/local/bin/kubelet" + CLEAN)
    assert len(steps) == 3
    assert fake.sent[("m1", f"{D}/kubelet")] == b"\x7fELF"


def test_get_file_part_is_0600_from_its_first_byte(tmp_path: Path) -> None:
    """With a umask that lets everyone read, the old code's .part was 0644 while it filled."""
    local = tmp_path / "snap" / "etcd.db"
    fake = RecordingRemote()
    old = os.umask(0o022)
    try:
        staging.get_file(fake, "m1", "/var/lib/etcd/snap.db", local)
    finally:
        os.umask(old)
    steps = transfers(fake)
    assert steps[1] == f"install -m 600 -o $SUDO_USER /var/lib/etcd/snap.db {D}/snap.db"
    assert steps[2] == ("receive", "m1", f"{D}/snap.db", 0o600)
    assert steps[3] == f"rm -rf -- {D}"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert local.read_bytes() == f"received from {D}/snap.db".encode()
    assert not list(local.parent.glob(".*.part"))


def test_a_leftover_part_with_loose_mode_is_not_reused(tmp_path: Path) -> None:
    part = tmp_path / ".x.part"
    part.write_bytes(b"old")
    part.chmod(0o644)
    with staging.open_private(part) as fh:
        assert stat.S_IMODE(os.fstat(fh.fileno()).st_mode) == 0o600
        assert fh.tell() == 0


def test_a_failed_download_leaves_no_part_and_removes_the_dir(tmp_path: Path) -> None:
    class Broken(RecordingRemote):
        def receive(self, host, path, dst):  # noqa: ANN001, ANN202
            dst.write(b"half")
            raise RemoteError(host, "downloading", "EOF")
    fake = Broken()
    with pytest.raises(HalabError):
        staging.get_file(fake, "m1", "/var/lib/etcd/snap.db", tmp_path / "etcd.db")
    assert list(tmp_path.iterdir()) == []
    assert transfers(fake)[-1] == f"rm -rf -- {D}"
