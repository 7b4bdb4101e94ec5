"""etcd backups and etcd's disaster-recovery restore, as command lines and parsed answers.

Pure: `halab.lab.drills` runs these on the masters. A restore makes a new cluster from one
snapshot: every member restores it into a fresh data directory with the lab's initial cluster,
the old directory is kept aside (never deleted), and the members start together.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.facts import etcd

REMOTE_SNAPSHOT = "/var/tmp/halab-snapshot.db"  # on a master, while saving or restoring
BACKUPS_DIR = "backups"  # under .halab/<lab>/
# With the kube tier these read etcd: stopped before it, started after it.
KUBE_MASTER_UNITS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# On the minions these watch the API, so after a restore their caches are newer than etcd's
# data: Kubernetes' etcd-restore guidance restarts them too (a stale kube-proxy left client
# pods unable to reach a Service).
KUBE_NODE_UNITS = ("flanneld", "kubelet", "kube-proxy")


@dataclass(frozen=True)
class SnapshotStatus:
    hash: int
    revision: int
    keys: int
    size: int

    def summary(self) -> str:
        return f"revision {self.revision}, {self.keys} keys, {self.size / 1024:.0f} KiB"


def save_command(plan: Plan, host: HostPlan) -> str:
    """`etcdctl snapshot save` from the member on `host` itself (a healthy one)."""
    url = f"{plan.etcd.scheme}://{host.ip}:2379"
    return (f"rm -f {REMOTE_SNAPSHOT} && "
            + etcd.etcdctl(plan, f"snapshot save {REMOTE_SNAPSHOT}", url, command_timeout=120))


def status_command(path: str = REMOTE_SNAPSHOT) -> str:
    """`etcdutl snapshot status` reads the whole file and checks its hash: a damaged snapshot
    fails here, before anything is stopped."""
    return f"etcdutl snapshot status {shlex.quote(path)} -w json"


def parse_status(text: str) -> SnapshotStatus:
    data = json.loads(text.strip().splitlines()[-1])
    return SnapshotStatus(int(data["hash"]), int(data["revision"]), int(data["totalKey"]),
                          int(data["totalSize"]))


def backup_name(stamp: str) -> str:
    return f"{BACKUPS_DIR}/{stamp}.db"


def restore_script(plan: Plan, host: HostPlan, stamp: str) -> str:
    """Restore the uploaded snapshot as member `host` of a new cluster of every master, into a
    fresh directory; the old data directory is moved aside, not removed."""
    data = layout.ETCD_DATA_DIR
    fresh, aside = f"{data}.restore-{stamp}", f"{data}.before-restore-{stamp}"
    peer = f"{plan.etcd.scheme}://{host.ip}:2380"
    return "\n".join([
        "set -e",
        f"rm -rf {fresh}",
        f"etcdutl snapshot restore {REMOTE_SNAPSHOT} --name {host.name} "
        f"--initial-cluster {shlex.quote(plan.etcd.initial_cluster)} "
        f"--initial-cluster-token {shlex.quote(plan.etcd.token)} "
        f"--initial-advertise-peer-urls {peer} --data-dir {fresh} 2>&1 | tail -n 3",
        f"if [ -e {data} ]; then mv {data} {aside}; fi",
        f"mv {fresh} {data}",
        f"chown -R etcd:etcd {data} && chmod 0700 {data}",
        f"rm -f {REMOTE_SNAPSHOT}",
    ])


def units_to_stop(plan: Plan) -> tuple[str, ...]:
    """What reads etcd on a master, in the order it is stopped (started in reverse)."""
    return (*KUBE_MASTER_UNITS, "etcd") if plan.kube else ("etcd",)


def what_is_lost(current: int | None, snapshot: int) -> str:
    """The line a restore says before it starts: which revisions it gives up."""
    if current is None:
        return (f"no member answered with its revision, so what is lost is unknown: every write "
                f"after revision {snapshot} is")
    if current <= snapshot:
        return f"the lab is at revision {current}, the snapshot at {snapshot}: nothing is lost"
    return (f"the lab is at revision {current}, the snapshot at {snapshot}: the writes of the "
            f"{current - snapshot} revisions after it are lost")
