"""`halab certs LAB [--check | --renew [--no-restart]]`: parsing only; `halab.lab.certs` acts."""

from __future__ import annotations

from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, command
from halab.errors import HalabError
from halab.lab import certs

CERTS_HELP = """\
Every certificate halab put on the lab's hosts, read back from each running host: the file,
subject, issuer, SANs, expiry and days left (as `kubeadm certs check-expiration` prints them),
whether it is the one halab's PKI (.halab/<lab>/pki) holds now, and, for a server certificate
(etcd's client and peer ports, kube-apiserver, each kubelet, Pound's own), whether the running
component serves that file: a TLS handshake from this host, which reads the serial it presents.
Exit status 1 when one is missing, out of date, due within 30 days, or not served.

--renew reissues every leaf certificate from the same CAs, with the same keys (the CAs are
kept), then converges the lab as `halab up` does: the changed files go up, and each tier
restarts the services that read them, etcd and the control plane one master at a time while the
others serve. With --no-restart the files go up and nothing restarts: `halab certs --check` then
shows which components took the new certificate without a restart.

examples:
  halab certs seed                    the table (same as --check)
  halab certs seed --renew            reissue, roll out, restart one at a time
  halab certs seed --renew --no-restart && halab certs seed
"""


def add_certs_commands(sub: Subparsers) -> None:
    def run(a) -> int:
        if a.no_restart and not a.renew:
            raise HalabError("--no-restart goes with --renew", "`halab certs LAB --renew "
                             "--no-restart`")
        return certs.renew(a.lab, not a.no_restart) if a.renew else certs.check(a.lab)

    p = command(sub, "certs", run, "show every host's certificates, or renew them", CERTS_HELP)
    p.add_argument("lab", nargs="?", help="lab name or topology file (needed when several "
                                          "labs exist)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--check", action="store_true", help="show them (the default)")
    how.add_argument("--renew", action="store_true",
                     help="reissue every leaf certificate and roll it out")
    p.add_argument("--no-restart", action="store_true",
                   help="with --renew: put the files in place, restart nothing")
    add_lock_option(p, when=lambda a: a.renew)
