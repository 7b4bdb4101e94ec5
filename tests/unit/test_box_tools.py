"""Rendered LB configs checked by the programs inside the box's root filesystem (no VM).

Pound is not packaged for the host's Debian 12, and nginx/HAProxy versions differ from the box's,
so the box's own binaries run under chroot. Skipped (with the reason) until a box is built.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from labfiles import lab_plan, topology

from halab.artifacts import boxes
from halab.config import layout, plan
from halab.render import desired as provision
from halab.render import files as render
from halab.render import pki

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def rootfs() -> Path:
    path = boxes.rootfs_path()
    if path is None:
        pytest.skip("no box built yet: `make box` builds it (lab tests build it too)")
    return path


def lab_with(kind: str, tls: bool = True) -> plan.Plan:
    topo = topology("etcd-only")
    topo = topo.model_copy(update={"lb": topo.lb.model_copy(update={"kind": kind}),
                                   "etcd": topo.etcd.model_copy(update={"tls": tls})})
    return plan.build(topo)


def check_in_box(rootfs: Path, p: plan.Plan, conf_path: str, argv: list[str],
                 host: str | None = None) -> subprocess.CompletedProcess[str]:
    """Copy a host's files (default: the LB host's; config + certificates) into a scratch dir
    of the rootfs, with paths rewritten into it, and run the checker there under chroot."""
    scratch = Path(tempfile.mkdtemp(prefix="halab-check-", dir=rootfs / "tmp"))
    inside = "/" + str(scratch.relative_to(rootfs))
    try:
        with tempfile.TemporaryDirectory() as pki_dir:
            store = pki.PKIStore(Path(pki_dir))
            provision.sync_secrets(p, store)
            files = provision.desired_files(p, render.render(p), store)[host or p.lb.name]
            files = {path: spec for path, spec in files.items()
                     if path == conf_path or path.startswith("/etc/pound/")}
        for path, spec in files.items():
            target = scratch / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            moved = spec.content.replace(b"/etc/pound/", f"{inside}/etc/pound/".encode())
            target.write_bytes(moved)
        conf = f"{inside}{conf_path}"
        return subprocess.run(["chroot", str(rootfs), *[a.replace("CONF", conf) for a in argv]],
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_pound_accepts_the_config(rootfs: Path, tls: bool) -> None:
    p = lab_with("pound", tls)
    r = check_in_box(rootfs, p, layout.POUND_CONF, ["/usr/sbin/pound", "-c", "-f", "CONF"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_pound_check_says_only_that_it_skips_the_ip_san(rootfs: Path) -> None:
    """`pound -c` on the LB's config prints one line and no warning: Pound (4.16, and every
    version up to 4.23: src/config.c, get_subjectaltnames) reads only DNS names from a
    certificate's subjectAltName, for SNI, and says so at LOG_INFO for each other entry. The
    certificate keeps its IP SAN, the LB's address, because that is what clients verify."""
    p = lab_with("pound", True)
    r = check_in_box(rootfs, p, layout.POUND_CONF, ["/usr/sbin/pound", "-c", "-f", "CONF"])
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr
    ip_sans = len(p.lbs) + (1 if p.vip else 0)
    assert r.stdout.splitlines() == ["pound: unsupported subjectAltName type encountered: 7"] * \
        ip_sans, r.stdout


def test_pound_accepts_every_per_node_config(rootfs: Path) -> None:
    """labs/pound-per-node.yaml: Pound on each minion (loopback, its own certificate, HTTPS
    backends without a client certificate) and on lb1 (etcd only)."""
    p = lab_plan("pound-per-node")
    for host in [*p.node_proxies, p.lb]:
        r = check_in_box(rootfs, p, layout.POUND_CONF, ["/usr/sbin/pound", "-c", "-f", "CONF"],
                         host.name)
        assert r.returncode == 0 and r.stderr == "", f"{host.name}: {r.stdout}{r.stderr}"


def test_pound_rejects_a_broken_config(rootfs: Path, tmp_path: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="halab-check-", dir=rootfs / "tmp"))
    try:
        (scratch / "pound.cfg").write_text("ListenHTTP\n    Adress 0.0.0.0\nEnd\n")
        inside = "/" + str(scratch.relative_to(rootfs))
        r = subprocess.run(["chroot", str(rootfs), "/usr/sbin/pound", "-c", "-f",
                            f"{inside}/pound.cfg"], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_box_nginx_accepts_the_config(rootfs: Path) -> None:
    r = check_in_box(rootfs, lab_with("nginx"), layout.NGINX_CONF,
                     ["/usr/sbin/nginx", "-t", "-c", "CONF"])
    assert r.returncode == 0, r.stderr


def test_the_box_haproxy_accepts_the_config(rootfs: Path) -> None:
    r = check_in_box(rootfs, lab_with("haproxy"), layout.HAPROXY_CONF,
                     ["/usr/sbin/haproxy", "-c", "-f", "CONF"])
    assert r.returncode == 0, r.stdout + r.stderr
