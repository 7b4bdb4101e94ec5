"""`halab upgrade LAB --to VERSION [--dry-run] [--no-drain]`: parsing only; `halab.lab.upgrade`
acts."""

from __future__ import annotations

from halab.cli.locking import add_lock_option
from halab.cli.options import Subparsers, command
from halab.lab import upgrade

UPGRADE_HELP = """\
A rolling Kubernetes upgrade of a running lab, one host at a time, as an operator does it:

  masters, the etcd leader's last (it hands its leadership over first): out of the load
  balancer's rotation (HAProxy's runtime API; nginx: `down` and a graceful reload; Pound:
  poundctl), a pause for the requests in flight, kube-apiserver, controller-manager and
  scheduler replaced, kube-apiserver stopped with SIGTERM and started, its own /readyz waited
  for, then back in the rotation;
  then minions: cordoned, drained (PodDisruptionBudgets respected), kubelet and kube-proxy
  replaced, Ready at the new version, uncordoned.

The target's binaries are fetched or built and sha256-checked as `halab binaries` does.
Kubernetes' version-skew policy is checked before anything changes: one minor version at a
time, never down, no kubelet newer than the apiservers. Each finished host is recorded in
.halab/<lab>/upgrade.json: run the same command again after an interruption and it resumes.
At the end every component's running process is asked its version, and the lab's topology
copy records the new one, so a later `halab up` keeps it.

--no-drain restarts each master in place (no LB drain, no pause, no hand-over) and does not
drain the minions: kubeadm #2991's comparison. `halab verify LAB --scenario upgrade` measures
both.

examples:
  halab upgrade seed --to 1.36.3 --dry-run    the plan, nothing changed
  halab upgrade seed --to 1.36.3
"""


def add_upgrade_command(sub: Subparsers) -> None:
    p = command(sub, "upgrade", lambda a: upgrade.upgrade(a.lab, a.to, a.dry_run, not a.no_drain),
                "upgrade a lab's Kubernetes, one host at a time", UPGRADE_HELP)
    p.add_argument("lab", nargs="?", help="lab name or topology file (needed when several "
                                          "labs exist)")
    p.add_argument("--to", required=True, metavar="VERSION",
                   help="the Kubernetes version to reach, e.g. 1.36.3")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--no-drain", action="store_true",
                   help="restart in place: no LB drain, no hand-over, no node drain")
    add_lock_option(p, when=lambda a: not a.dry_run)
