"""The container images a lab needs, described as data: there is no registry in a lab.

`providers/imagebuild.py` builds each one from Debian packages with umoci into an OCI archive
under `home()/images/`, and provisioning imports the archives into containerd on the minions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from halab import home

WELCOME = """<!DOCTYPE html>
<html><head><title>Welcome to halab</title></head>
<body><h1>Welcome to halab</h1>
<p>This page is served by busybox httpd in a pod of your halab lab.</p></body></html>
"""


@dataclass(frozen=True)
class ImageSpec:
    repository: str  # localhost/halab/<name>: never pulled, only imported
    tag: str
    debs: tuple[str, ...]  # Debian packages whose files the image takes
    files: tuple[tuple[str, str], ...]  # (path inside the unpacked .deb, path in the image)
    texts: tuple[tuple[str, str], ...]  # (path in the image, content)
    entrypoint: tuple[str, ...]
    ports: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[-1]

    def key(self, deb_versions: dict[str, str]) -> str:
        """Changes when the spec or a package version changes: then the image is rebuilt."""
        blob = json.dumps([asdict(self), sorted(deb_versions.items())], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# The sandbox ("pause") image: catatonit in pause mode holds each pod's namespaces.
PAUSE = ImageSpec("localhost/halab/pause", "3.10", ("catatonit",),
                  (("usr/bin/catatonit", "pause"),), (), ("/pause", "-P"))
# A small web server for the checks and workshops: busybox's httpd serving one page.
WEB = ImageSpec("localhost/halab/web", "1.0", ("busybox-static",),
                (("bin/busybox", "bin/busybox"),), (("www/index.html", WELCOME),),
                ("/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"), ("80/tcp",))
IMAGES = (PAUSE, WEB)


def archive_path(spec: ImageSpec):  # noqa: ANN201 - Path
    return home.home() / "images" / f"{spec.name}-{spec.tag}.tar"


def remote_archive(spec: ImageSpec) -> str:
    return f"/var/lib/halab/images/{spec.name}-{spec.tag}.tar"
