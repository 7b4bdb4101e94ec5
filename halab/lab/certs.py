"""`halab certs LAB`: every certificate on every host, read back from the host (subject,
issuer, SANs, expiry, days left, as `kubeadm certs check-expiration` prints them), whether it
is the one halab's PKI holds now, and, for a server certificate, whether the running component
serves it, asked from this host with a TLS handshake.

`--renew` reissues every leaf certificate from the same CAs (same keys) and converges the lab as
`halab up` does: the changed files go up, and each tier restarts the services that read them,
etcd and the control plane one master at a time. With `--no-restart` nothing restarts, and
`--check` then shows which components took the new certificate on their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rich.markup import escape

from halab import ui
from halab.facts import certs
from halab.lab import up
from halab.probes import tlscert
from halab.remote.runner import RemoteError, parallel
from halab.render import desired, pki, tierfiles
from halab.session.context import Lab

SOON_DAYS = 30  # a certificate with fewer days left is shown in red: renew it


@dataclass(frozen=True)
class Row:
    host: str
    path: str
    name: str  # the secret's name in halab's PKI (a kubeconfig's: the identity's)
    found: certs.CertInfo | None  # None: no certificate there (see `problem`)
    current: bool  # the host's file is what halab's PKI holds now
    served: str  # for a server certificate: what its port serves ("" if it has none)
    problem: str = ""
    stale: tuple[str, ...] = ()  # services reading it that started before it last changed


def check(arg: str | None) -> int:
    """Print every host's certificates; 1 when one is missing, unreadable, not current, due
    for renewal, or not the one its component serves."""
    with Lab.existing(arg) as lab:
        p = lab.plan
        lab.provider.prepare()
        states = lab.provider.states(p)
        wanted = desired.certificate_files(p, pki.PKIStore(lab.dir / "pki"), _kube_done(lab))
        running = [h for h, files in wanted.items() if files and states[h] == "running"]
        down = [h for h, files in wanted.items() if files and states[h] != "running"]

        def read(host: str) -> list[Row]:
            files = wanted[host]
            readers = {path: f.readers for path, f in files.items()}
            try:
                got = certs.parse_listing(lab.runner.run(
                    host, certs.read_listing_command(sorted(files)), timeout=60,
                    what="reading its certificates").stdout)
                stale = certs.stale_readers(lab.runner.run(
                    host, certs.started_command(sorted(files), sorted(
                        {s for r in readers.values() for s in r})), timeout=60,
                    what="when its files changed and its services started").stdout, readers)
            except RemoteError as exc:
                return [Row(host, "", "", None, False, "", f"could not be asked: {exc}")]
            return [dataclasses.replace(_row(host, path, f.name, f.content, got.get(path)),
                                        stale=stale[path])
                    for path, f in sorted(files.items())]
        rows = [r for host_rows in parallel(running, read).values() for r in host_rows]
    rows = _with_served(rows, certs.served_at(p))
    now = dt.datetime.now(dt.UTC)
    _print(p.lab, rows, now)
    if down:
        ui.info(f"not running, not read: {', '.join(down)}")
    bad = [r for r in rows if r.problem or not r.current
           or (r.found and r.found.days_left(now) < SOON_DAYS) or _not_served(r) or _held(r)]
    ui.info(f"{len(rows)} certificates on {len(running)} hosts; "
            + (f"[red]{len(bad)} need attention[/]" if bad else "all current"))
    if any(r.served.startswith("an older") or _held(r) for r in rows):
        ui.info("a component serving an older certificate, or started before its file changed, "
                "may hold the old one: `halab certs --renew` (without --no-restart) restarts "
                "them one at a time")
    return 1 if bad else 0


def renew(arg: str | None, restart: bool) -> int:
    """Reissue every leaf certificate, then converge the lab as `halab up` does."""
    with Lab.existing(arg) as lab:
        topology, kube = lab.topology, _kube_done(lab)
    ui.info(f"[bold]halab certs --renew[/]: every leaf certificate of lab {lab.plan.lab!r} is "
            "reissued from the same CAs, with the same keys; "
            + ("each tier then restarts the services that read them, one master at a time"
               if restart else "with --no-restart no service is restarted"))
    return up.up(topology, kube=kube, renew=True, restart=restart)


def _kube_done(lab: Lab) -> bool:
    """Whether the lab's kube tier was provisioned (`up --no-kube` leaves its files out)."""
    return lab.plan.kube is not None and tierfiles.KUBE_CONTROL.name in (
        lab.state.tiers_done if lab.state else [])


def _row(host: str, path: str, name: str, want: bytes, got: bytes | None) -> Row:
    if got is None:
        return Row(host, path, name, None, False, "", "missing on the host")
    try:
        found = certs.from_file(got)
    except ValueError as exc:
        return Row(host, path, name, None, False, "", f"unreadable: {exc}")
    return Row(host, path, name, found, got == want, "")


def _with_served(rows: list[Row], endpoints: dict[str, list[certs.Endpoint]]) -> list[Row]:
    """Each server certificate's row with what its component serves now."""
    def ask(row: Row) -> str:
        ends = [e for e in endpoints.get(row.name, []) if e.host == row.host]
        if not ends or row.found is None:
            return ""
        e = ends[0]
        got = tlscert.served(e.ip, e.port)
        if isinstance(got, str):
            return f"{e.what} :{e.port} not reached ({got})"
        serial = got.serial_number
        if serial == row.found.serial:
            return f"{e.what} :{e.port} serves this file"
        return (f"an older certificate on {e.what} :{e.port} (serial {serial:x})"
                if got.not_valid_after_utc <= row.found.not_after else
                f"another certificate on {e.what} :{e.port} (serial {serial:x})")
    with ThreadPoolExecutor(max_workers=8) as pool:
        served = list(pool.map(ask, rows))
    return [dataclasses.replace(r, served=s) for r, s in zip(rows, served, strict=True)]


def _print(lab: str, rows: list[Row], now: dt.datetime) -> None:
    """Per host, one line per file (subject ← issuer, expiry, days left, current or not, what
    its port serves) and its SANs under it: the paths and SANs are too long for a table."""
    ui.info(f"[bold]certificates of lab {lab}[/], read from each host (subject ← issuer)")
    for host in dict.fromkeys(r.host for r in rows):
        ui.info(f"[bold]{host}[/]")
        for r in (r for r in rows if r.host == host):
            if r.found is None:
                ui.info(f"  {r.path or host}: [red]{escape(r.problem)}[/]")
                continue
            days = r.found.days_left(now)
            left = f"{days:.0f} days left"
            parts = [f"{r.found.subject} ← {r.found.issuer}",
                     f"expires {r.found.not_after:%Y-%m-%d %H:%M}",
                     f"[red]{left}[/]" if days < SOON_DAYS else left,
                     "current" if r.current else "[red]differs from halab's PKI[/]"]
            if r.served:
                parts.append(f"[red]{escape(r.served)}[/]" if _not_served(r)
                             else escape(r.served))
            ui.info(f"  {r.path}: " + "; ".join(parts))
            if _held(r):
                ui.info(f"      [red]read by {', '.join(_held(r))}, started before this file "
                        "changed[/]")
            if r.found.sans:
                ui.info(f"      SANs: {', '.join(r.found.sans)}")


def _held(r: Row) -> tuple[str, ...]:
    """The services that may still hold the file's previous certificate: started before it
    changed, unless its port shows it serves this one (it read the file again)."""
    return () if r.served.endswith("serves this file") else r.stale


def _not_served(r: Row) -> bool:
    return r.served.startswith(("an older", "another")) or " not reached " in r.served
