"""The scenarios' `LabActions` on a real lab: the provider powers hosts, the SSH runner injects
the faults (`halab.lab.drills`), and one etcd client serves every read. The only place a
scenario's actions meet the lab."""

from __future__ import annotations

from pathlib import Path

from halab import ui
from halab.errors import HalabError
from halab.facts import faults
from halab.facts.snapshots import SnapshotStatus
from halab.lab import certs, drills, power
from halab.lab import upgrade as upgrading
from halab.lab.up import kube_skip_reason, up
from halab.probes import etcdclient
from halab.probes import lb as lb_probe
from halab.probes.etcdclient import Cluster
from halab.remote.runner import parallel
from halab.render.pki import PKIStore
from halab.session import labdir
from halab.session.context import SSH_TIMEOUT, Lab
from halab.verify import kubedemo


class OnLab:
    """`halab.verify.scenarios.actions.LabActions` on the lab `lab`."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self._etcd = etcdclient.for_lab(lab)

    def etcd(self) -> Cluster:
        return self._etcd

    def kube(self) -> kubedemo.KubeProbe | None:
        p = self.lab.plan
        on = p.kube is not None and kube_skip_reason(p) is None
        return kubedemo.KubeProbe(p, self.lab.runner) if on else None

    def machines(self) -> dict[str, str]:
        try:
            return self.lab.provider.lab_machines(self.lab.plan, self.lab.recorded())
        finally:
            self.lab.close()

    def vip_holders(self, lbs: list[str]) -> list[str]:
        return lb_probe.vip_holders(self.lab.plan, self.lab.runner, lbs)

    def lb_reach(self, lb: str) -> list[str]:
        return lb_probe.reach(self.lab.plan, self.lab.runner, lb) or []

    def checks(self) -> dict[str, int]:
        from halab.verify import run  # pytest: only when the checks run

        return run.checked(self.lab, None, keep=labdir.junit_path(self.lab.dir))[1]

    def halt(self, hosts: list[str], hard: bool) -> None:
        parallel(hosts, lambda n: power.power_off(self.lab, self.lab.host(n), hard)())
        if len(hosts) > 1:  # nothing else runs over SSH then; their connections died with them
            self.lab.close()

    def halt_all(self, hard: bool) -> list[str]:
        try:
            return power.halt_hosts(self.lab, self.lab.plan.hosts, hard)
        finally:
            self.lab.close()  # its SSH connections die with the hosts

    def start(self, hosts: list[str]) -> None:
        self.lab.provider.boot(hosts, lambda line: ui.info(f"  {line}"))
        parallel(hosts, lambda n: self.lab.runner.wait_reachable(n, SSH_TIMEOUT))

    def up(self) -> None:
        up(self.lab.topology)

    def partition(self, host: str, others: list[str]) -> float:
        return drills.isolate(self.lab, host, others)

    def heal(self) -> None:
        drills.heal_hosts(self.lab, self.lab.running())

    def shape(self, zone: str | None, delay_ms: int) -> None:
        s = faults.shaping(self.lab.plan, zone, False, delay_ms) if zone else None
        drills.apply_shaping(self.lab, s, self.lab.running())

    def backup(self) -> tuple[Path, SnapshotStatus]:
        return drills.take_backup(self.lab)

    def restore(self, snapshot: Path) -> float:
        return drills.do_restore(self.lab, snapshot)

    def pki(self) -> PKIStore:
        return PKIStore(self.lab.dir / "pki")

    def keep(self, name: str, data: bytes) -> Path:
        path = self.lab.dir / name
        path.write_bytes(data)
        return path

    def upgrade(self, to: str, drain: bool) -> tuple[upgrading.Spans, dict[str, dict[str, str]]]:
        spans: upgrading.Spans = []
        if upgrading.upgrade(self.lab.plan.lab, to, drain=drain, spans=spans) != 0:
            raise HalabError(f"`halab upgrade --to {to}` did not finish",
                             "its output above says where it stopped")
        return spans, upgrading.running_versions(self.lab.plan, self.lab.runner)

    def renew_certs(self, restart: bool) -> None:
        if certs.renew(self.lab.topology, restart) != 0:
            raise HalabError("`halab certs --renew` did not bring the lab back whole",
                             "its output above says what is missing")
