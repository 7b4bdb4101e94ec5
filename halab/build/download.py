"""`halab binaries fetch`: download the official release binaries (or a mirror's copy of them) and
check each against its published sha256 before anything lands in the cache.

Every request has a bounded timeout and the first failure stops the fetch with a message that names
`halab binaries build`, the route that needs no internet access beyond the Go proxy.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import tarfile
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from halab import ui
from halab.artifacts import binaries as b
from halab.build.install import install
from halab.config import versions
from halab.errors import HalabError

DEFAULT_TIMEOUT = 10.0  # seconds per connection attempt / read stall
USER_AGENT = "halab-binaries-fetch"
NO_NETWORK_HINT = (
    f"without access to the release downloads, `{b.BUILD_COMMAND}` builds the same binaries from "
    "Go modules through the Go proxy; or point `--mirror URL` at a classroom/LAN mirror"
)


def _resolve_bounded(url: str, timeout: float) -> None:
    """Name lookup with a deadline: getaddrinfo itself has none, and a sandbox's DNS can hang."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(
        parts.hostname
    ):
        return  # the proxy resolves it
    result: dict[str, object] = {}

    def lookup() -> None:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=lookup, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise HalabError(
            f"cannot reach {url}: looking up {parts.hostname} took over {timeout:g}s",
            hint=NO_NETWORK_HINT,
        )
    if "error" in result:
        raise HalabError(f"cannot reach {url}: {result['error']}", hint=NO_NETWORK_HINT)


def _open(url: str, timeout: float):
    _resolve_bounded(url, timeout)
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (http/https/file only)
    except urllib.error.HTTPError as e:
        raise HalabError(
            f"download of {url} failed: HTTP {e.code} {e.reason}", hint=NO_NETWORK_HINT
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise HalabError(f"cannot reach {url}: {reason}", hint=NO_NETWORK_HINT) from None


def get_text(url: str, timeout: float = DEFAULT_TIMEOUT, limit: int = 1 << 20) -> str:
    with _open(url, timeout) as resp:
        data = resp.read(limit + 1)
    if len(data) > limit:
        raise HalabError(f"{url} is larger than {limit} bytes; not a checksum file")
    return data.decode("utf-8", "replace")


def download(url: str, dest: Path, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Stream `url` to `dest`; returns its sha256."""
    h = hashlib.sha256()
    try:
        with _open(url, timeout) as resp, open(dest, "wb") as f:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                f.write(chunk)
    except (TimeoutError, OSError) as e:
        if isinstance(e, HalabError):
            raise
        raise HalabError(f"download of {url} broke off: {e}", hint=NO_NETWORK_HINT) from None
    return h.hexdigest()


def expected_sha256(art: b.Artifact, timeout: float) -> str:
    if art.sha256_url:
        return b.parse_published_sha256(
            get_text(art.sha256_url, timeout), art.url.rsplit("/", 1)[-1]
        )
    assert art.digest_api_url and art.asset_name
    return b.digest_from_release_json(get_text(art.digest_api_url, timeout), art.asset_name)


def extract_member(tgz: Path, member: str, dest: Path) -> None:
    """Copy the regular file `member` (any leading './' or directory ignored) out of `tgz`."""
    with tarfile.open(tgz, "r:gz") as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.rsplit("/", 1)[-1] == member:
                src = tf.extractfile(m)
                assert src is not None
                with src, open(dest, "wb") as f:
                    shutil.copyfileobj(src, f)
                return
    raise HalabError(f"{tgz.name} has no file named {member}")


def fetch_artifact(art: b.Artifact, staging: Path, tmp: Path, timeout: float) -> str:
    """Download one artifact into `staging/<component>`, checked; returns the verified sha256 of
    the downloaded file."""
    want = expected_sha256(art, timeout)
    target = tmp / art.url.rsplit("/", 1)[-1]
    got = download(art.url, target, timeout)
    if got != want:
        raise HalabError(
            f"checksum mismatch for {art.url}: published {want}, downloaded file has {got}",
            hint="the download is corrupt or was tampered with; nothing was installed",
        )
    if art.member:
        extract_member(target, art.member, staging / art.component)
    else:
        shutil.move(target, staging / art.component)
    return got


def fetch(
    version: str = versions.KUBERNETES_VERSION,
    mirror: str | None = None,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    check_versions: bool = True,
) -> Path:
    """Download and verify every component of `version` into the cache."""
    version = b.normalize_version(version)
    cached = None if force else b.cached(version)
    if cached is not None:
        ui.info(f"Kubernetes {version} binaries already cached in {cached} (--force fetches again)")
        return cached
    artifacts = b.release_artifacts(version, mirror=mirror)

    def make(staging: Path) -> dict[str, object]:
        published: dict[str, str] = {}
        with tempfile.TemporaryDirectory(dir=b.cache_root(), prefix=".download-") as tmpd:
            for art in artifacts:
                with ui.step(f"fetch {art.component} ({art.url})"):
                    published[art.component] = fetch_artifact(art, staging, Path(tmpd), timeout)
        return {
            "kubernetes": version,
            "flannel": versions.FLANNEL_VERSION,
            "flannel_cni": {
                "module": b.FLANNEL_CNI_MODULE,
                "version": versions.FLANNEL_CNI_PLUGIN_VERSION,
                "package": b.FLANNEL_CNI_MODULE,
            },
            "source": "fetch",
            "mirror": mirror,
            "made_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "published_sha256": published,
        }

    return install(version, make, check_versions)
