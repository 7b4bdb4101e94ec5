"""The etcd tier's files on the masters: its environment, unit and handover script, and with
TLS its server and peer certificates (owned by etcd)."""

from __future__ import annotations

from halab.config import layout
from halab.render import pki
from halab.render.tierfiles.common import tls
from halab.render.tierfiles.model import File, Secret, Template, TierFiles, secret

ETCD_OWNED = {"owner": "etcd", "group": "etcd"}

ETCD = TierFiles("etcd", "master", (
    File(layout.ETCD_ENV, Template("etcd/etcd.env.j2"), ("etcd",)),
    File(layout.ETCD_UNIT, Template("etcd/etcd.service.j2"), ("etcd",)),
    File(layout.ETCD_HANDOVER, Template("etcd/etcd-handover.j2")),
    *(f for kind in ("server", "peer") for f in (
        File(f"{layout.ETCD_PKI}/{kind}.crt", Secret("cert", f"etcd/{{host}}-{kind}"), ("etcd",),
             when=tls, **ETCD_OWNED),
        secret(f"{layout.ETCD_PKI}/{kind}.key", "key", f"etcd/{{host}}-{kind}", ("etcd",),
               when=tls, **ETCD_OWNED))),
    File(f"{layout.ETCD_PKI}/ca.crt", Secret("cert", pki.ETCD_CA), ("etcd",), when=tls,
         **ETCD_OWNED),
))
