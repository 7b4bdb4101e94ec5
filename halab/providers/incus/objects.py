"""halab's own Incus objects, and only those: the shared pool, and each lab's project, bridge,
profile and instances. Nothing here touches an object of a name halab did not derive.

States come from Incus itself (`incus list`): a container whose monitor or init was killed is
"shut off" at once, and one that runs while incusd was restarted is still "running".
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from halab.errors import HalabError
from halab.providers.incus import client, config, names
from halab.providers.incus.guest import Files

STATES = {"Running": "running", "Stopped": "shut off", "Frozen": "paused"}
OFF = ("shut off", "not created")
GRACEFUL_TIMEOUT = 120  # s: a guest's systemd waited about 70 s for a pod's leftover process
STOP_TIMEOUT = 60  # s: a forced stop, and deleting an instance
NETWORK_ATTEMPTS = 5
NETWORK_RACE = "failed to delete bridge children interfaces"  # incusd's words, lowered


def state_name(status: str) -> str:
    """halab's word for an Incus status (pure): "running", "shut off", ..."""
    return STATES.get(status, status.lower() or "unknown")


def ensure_pool(remote: str | None = None) -> None:
    """The btrfs pool on a loop file that every lab's hosts live on (copy-on-write clones of
    the box image: a new host costs no copy). Made once; never removed by a lab's `down`. A
    cluster's pool is made member by member when the cluster is (docs/cluster.md)."""
    if client.exists("storage", "show", names.at(remote, names.POOL)):
        return
    if remote:
        raise HalabError(f"the cluster {remote!r} has no storage pool {names.POOL!r}",
                         "create it on every member (docs/cluster.md, \"On real machines\")")
    try:
        client.run("storage", "create", names.POOL, "btrfs", f"size={names.POOL_SIZE}",
                   "--description", "halab: lab hosts, copy-on-write clones of the box")
    except client.IncusError:
        if not client.exists("storage", "show", names.POOL):  # else: a lab beside made it
            raise


def project_list(remote: str | None = None) -> list[dict]:
    return client.query("project", "list", *names.scope(remote))


def projects(remote: str | None = None) -> set[str]:
    return {p["name"] for p in project_list(remote)}


def networks(remote: str | None = None) -> list[dict]:
    """Every network Incus knows in the default project (managed or not)."""
    return client.query("network", "list", *names.scope(remote))


def lab_networks(remote: str | None = None) -> dict[str, tuple[IPv4Network, str]]:
    """Every halab lab's Incus bridge: `halab-<lab>` → (subnet, bridge). A cluster lab's
    bridges hold no address; its network records the subnet, and on this machine the subnet is
    on the lab's end of the tunnel."""
    out = {}
    for n in networks(remote):
        conf = n.get("config") or {}
        lab, addr = conf.get(names.LAB_KEY), conf.get("ipv4.address")
        if lab and conf.get(names.SUBNET_KEY):
            out[f"halab-{lab}"] = (IPv4Network(conf[names.SUBNET_KEY]), names.gateway_link(lab))
        elif lab and addr and addr != "none":
            out[f"halab-{lab}"] = (IPv4Interface(addr).network, n["name"])
    return out


def instances(project: str, remote: str | None = None) -> dict[str, str]:
    """Each instance of the project and its state; {} when the project does not exist."""
    return {name: state for name, (state, _) in located(project, remote).items()}


def located(project: str, remote: str | None = None) -> dict[str, tuple[str, str]]:
    """Each instance of the project: its state and the member it is on ("" off a cluster)."""
    if project not in projects(remote):
        return {}
    return {i["name"]: (state_name(i.get("status", "")), i.get("location") or "")
            for i in client.query("list", *names.scope(remote), project=project)}


def ensure_project(lab: str, remote: str | None = None) -> None:
    project = names.project(lab)
    if project in projects(remote):
        return
    args = [f"{k}={v}" for k, v in config.project(lab).items()]
    client.run("project", "create", names.at(remote, project),
               *[a for kv in args for a in ("-c", kv)], "--description", f"halab: lab {lab}")


def ensure_network(lab: str, subnet: str) -> None:
    """The lab's bridge. Creating one while other labs' containers start can fail in incusd
    ("Failed to delete bridge children interfaces": a starting container's veth vanished while
    incusd walked the host's links; 1 lab in 10 and 1 in 8 of `bench/lab_up --students`), so
    that error is retried, a few times."""
    bridge = names.bridge(lab)
    for attempt in range(1, NETWORK_ATTEMPTS + 1):
        if any(n["name"] == bridge for n in networks()):
            return
        try:
            client.run("network", "create", bridge,
                       *[f"{k}={v}" for k, v in config.network(lab, subnet).items()],
                       "--description", f"halab: lab {lab}")
            return
        except client.IncusError as exc:
            if NETWORK_RACE not in exc.stderr.lower() or attempt == NETWORK_ATTEMPTS:
                raise
        time.sleep(1)


def ensure_profile(lab: str, layout: str, sysctl_dir: Path, bridge: str,
                   remote: str | None = None) -> None:
    """halab's profile in the lab's project, (re)written each time: what it says is halab's."""
    project = names.project(lab)
    profile = names.at(remote, names.PROFILE)
    if not client.exists("profile", "show", profile, project=project):
        client.run("profile", "create", profile, project=project)
    body = config.profile(lab, bridge, layout, str(sysctl_dir))
    client.run("profile", "edit", profile, project=project, stdin=config.as_yaml(body))


def create(lab: str, instance: str, image: str, settings: dict[str, str],
           remote: str | None = None, member: str | None = None) -> None:
    """The instance, on `member` of a cluster when one is named."""
    client.run("init", names.at(remote, image), names.at(remote, instance), "--profile",
               names.PROFILE, "-q", *(["--target", member] if member else []),
               *[a for k, v in settings.items() for a in ("-c", f"{k}={v}")],
               project=names.project(lab))


def push(lab: str, instance: str, files: Files, remote: str | None = None) -> None:
    """Write files into a stopped instance's disk, owned by root with their modes."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, (path, (content, mode)) in enumerate(sorted(files.items())):
            local = Path(tmp) / str(i)
            local.write_bytes(content)
            client.run("file", "push", "-q", "-p", "--uid", "0", "--gid", "0", "--mode",
                       f"{mode:04o}", str(local), names.at(remote, f"{instance}{path}"),
                       project=names.project(lab))


def start(lab: str, instance: str, remote: str | None = None) -> None:
    client.run("start", names.at(remote, instance), project=names.project(lab))


def stop(lab: str, instance: str, hard: bool, remote: str | None = None) -> None:
    """A clean shutdown (its systemd stops every unit), or with `hard` a power cut."""
    if hard:
        client.run("stop", names.at(remote, instance), "--force", project=names.project(lab),
                   timeout=STOP_TIMEOUT)
    else:
        client.run("stop", names.at(remote, instance), f"--timeout={GRACEFUL_TIMEOUT}",
                   project=names.project(lab), timeout=GRACEFUL_TIMEOUT + 30)


def delete(lab: str, instance: str, remote: str | None = None) -> None:
    client.run("delete", names.at(remote, instance), "--force", project=names.project(lab),
               timeout=STOP_TIMEOUT)


def remove_lab(lab: str, project: bool, bridge_recorded: bool, bridge: str,
               remote: str | None = None) -> list[str]:
    """The lab's profile and project, and its bridge, when the lab recorded them; what was
    done, in words. Instances the lab did not record keep the project and the bridge."""
    p = names.project(lab)
    others = sorted(instances(p, remote))
    if others:
        return [f"kept project {p} and bridge {bridge}: they hold instances lab "
                f"{lab!r} did not create ({', '.join(others)}); `incus delete --project {p}` "
                "them, then `halab down` again"]
    said = []
    if project and p in projects(remote):
        if client.exists("profile", "show", names.at(remote, names.PROFILE), project=p):
            client.run("profile", "delete", names.at(remote, names.PROFILE), project=p)
        client.run("project", "delete", names.at(remote, p))
        said.append(f"removed project {p}")
    if bridge_recorded and any(n["name"] == bridge and n.get("managed")
                               and (n.get("config") or {}).get(names.LAB_KEY) == lab
                               for n in networks(remote)):
        _retry_race(lambda: client.run("network", "delete", names.at(remote, bridge)))
        said.append(f"removed bridge {bridge}")
    return said


def _retry_race(call: Callable[[], object]) -> None:
    """`call`, again when incusd trips on a veth that vanished while it walked the host's links
    (seen deleting a bridge while nine other labs were being removed), a few times."""
    for attempt in range(1, NETWORK_ATTEMPTS + 1):
        try:
            call()
            return
        except client.IncusError as exc:
            if NETWORK_RACE not in exc.stderr.lower() or attempt == NETWORK_ATTEMPTS:
                raise
        time.sleep(1)
