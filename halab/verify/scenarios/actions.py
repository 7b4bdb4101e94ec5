"""What a scenario may do to its lab and ask of it: one protocol every scenario acts through.

It is implemented once on the provider and the SSH runner (`halab.lab.actions`), and by a fake
in the unit tests, so that a scenario's steps run in order without a host. Every scenario is
`run(actions, plan, hard) -> Outcome`: whether every verdict held, and the figures measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from halab.facts.snapshots import SnapshotStatus
from halab.probes.etcdclient import Cluster
from halab.render.pki import PKIStore
from halab.verify import kubedemo

Outcome = tuple[bool, dict[str, float]]  # every verdict held; the figures by name


class LabActions(Protocol):
    """The lab as a scenario sees it: the faults it injects, the recovery, and a few reads."""

    # ── reads ──
    def etcd(self) -> Cluster:
        """The lab's etcd as this host reaches it (through the LB, and each member)."""

    def kube(self) -> kubedemo.KubeProbe | None:
        """The kube tier's probe, or None when the lab has no kube tier that can run."""

    def machines(self) -> dict[str, str]:
        """Every machine the provider lists for this lab (in the topology or not): its state."""

    def vip_holders(self, lbs: list[str]) -> list[str]:
        """Of these LB hosts, those that hold the VIP."""

    def lb_reach(self, lb: str) -> list[str]:
        """The masters LB host `lb` reaches (none when it could not be asked)."""

    def checks(self) -> dict[str, int]:
        """Run `halab verify`'s checks; their totals (passed, failed, skipped)."""

    # ── power ──
    def halt(self, hosts: list[str], hard: bool) -> None:
        """Halt these hosts at once through the provider (a guest shutdown, or a power cut)."""

    def halt_all(self, hard: bool) -> list[str]:
        """Halt every host of the lab at once; the hosts that had to be forced off."""

    def start(self, hosts: list[str]) -> None:
        """Boot these hosts and wait until each answers over SSH."""

    def up(self) -> None:
        """`halab up` of the lab (raises HalabError when it fails)."""

    # ── faults ──
    def partition(self, host: str, others: list[str]) -> float:
        """Cut `host` off from `others`, both ways; when (monotonic) its own rules were in."""

    def heal(self) -> None:
        """Remove every partition rule halab added on the running hosts."""

    def shape(self, zone: str | None, delay_ms: int) -> None:
        """Add `delay_ms` between `zone` and the other zones (None: clear all shaping)."""

    # ── recovery ──
    def backup(self) -> tuple[Path, SnapshotStatus]:
        """An etcd snapshot, checked and saved on this host."""

    def restore(self, snapshot: Path) -> float:
        """etcd's disaster recovery from `snapshot`; seconds until one leader again."""

    # ── certificates ──
    def pki(self) -> PKIStore:
        """The lab's PKI as halab keeps it on this host (what the hosts should hold)."""

    def renew_certs(self, restart: bool) -> None:
        """`halab certs --renew`, or with `restart` False `--no-restart` (raises HalabError
        when it fails)."""

    def upgrade(self, to: str, drain: bool
                ) -> tuple[list[tuple[str, float, float]], dict[str, dict[str, str]]]:
        """`halab upgrade --to` (with `drain` False, `--no-drain`): each host's turn (its
        name, monotonic start and end), then every kube service's running version by host
        (raises HalabError when the upgrade fails)."""

    # ── what it leaves ──
    def keep(self, name: str, data: bytes) -> Path:
        """A file the scenario leaves in the lab's directory (its timeline pictures)."""
