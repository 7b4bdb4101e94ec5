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


def ensure_pool() -> None:
    """The btrfs pool on a loop file that every lab's hosts live on (copy-on-write clones of
    the box image: a new host costs no copy). Made once; never removed by a lab's `down`."""
    if client.exists("storage", "show", names.POOL):
        return
    try:
        client.run("storage", "create", names.POOL, "btrfs", f"size={names.POOL_SIZE}",
                   "--description", "halab: lab hosts, copy-on-write clones of the box")
    except client.IncusError:
        if not client.exists("storage", "show", names.POOL):  # else: a lab beside made it
            raise


def project_list() -> list[dict]:
    return client.query("project", "list")


def projects() -> set[str]:
    return {p["name"] for p in project_list()}


def networks() -> list[dict]:
    """Every network Incus knows in the default project (managed or not)."""
    return client.query("network", "list")


def lab_networks() -> dict[str, tuple[IPv4Network, str]]:
    """Every halab lab's Incus bridge: `halab-<lab>` → (subnet, bridge)."""
    out = {}
    for n in networks():
        lab = (n.get("config") or {}).get(names.LAB_KEY)
        addr = (n.get("config") or {}).get("ipv4.address")
        if lab and addr:
            out[f"halab-{lab}"] = (IPv4Interface(addr).network, n["name"])
    return out


def instances(project: str) -> dict[str, str]:
    """Each instance of the project and its state; {} when the project does not exist."""
    if project not in projects():
        return {}
    return {i["name"]: state_name(i.get("status", ""))
            for i in client.query("list", project=project)}


def ensure_project(lab: str) -> None:
    project = names.project(lab)
    if project in projects():
        return
    args = [f"{k}={v}" for k, v in config.project(lab).items()]
    client.run("project", "create", project, *[a for kv in args for a in ("-c", kv)],
               "--description", f"halab: lab {lab}")


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


def ensure_profile(lab: str, layout: str, sysctl_dir: Path) -> None:
    """halab's profile in the lab's project, (re)written each time: what it says is halab's."""
    project = names.project(lab)
    if not client.exists("profile", "show", names.PROFILE, project=project):
        client.run("profile", "create", names.PROFILE, project=project)
    body = config.profile(lab, names.bridge(lab), layout, str(sysctl_dir))
    client.run("profile", "edit", names.PROFILE, project=project, stdin=config.as_yaml(body))


def create(lab: str, instance: str, image: str, settings: dict[str, str]) -> None:
    client.run("init", image, instance, "--profile", names.PROFILE, "-q",
               *[a for k, v in settings.items() for a in ("-c", f"{k}={v}")],
               project=names.project(lab))


def push(lab: str, instance: str, files: Files) -> None:
    """Write files into a stopped instance's disk, owned by root with their modes."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, (path, (content, mode)) in enumerate(sorted(files.items())):
            local = Path(tmp) / str(i)
            local.write_bytes(content)
            client.run("file", "push", "-q", "-p", "--uid", "0", "--gid", "0", "--mode",
                       f"{mode:04o}", str(local), f"{instance}{path}",
                       project=names.project(lab))


def start(lab: str, instance: str) -> None:
    client.run("start", instance, project=names.project(lab))


def stop(lab: str, instance: str, hard: bool) -> None:
    """A clean shutdown (its systemd stops every unit), or with `hard` a power cut."""
    if hard:
        client.run("stop", instance, "--force", project=names.project(lab),
                   timeout=STOP_TIMEOUT)
    else:
        client.run("stop", instance, f"--timeout={GRACEFUL_TIMEOUT}",
                   project=names.project(lab), timeout=GRACEFUL_TIMEOUT + 30)


def delete(lab: str, instance: str) -> None:
    client.run("delete", instance, "--force", project=names.project(lab), timeout=STOP_TIMEOUT)


def remove_lab(lab: str, project: bool, bridge: bool) -> list[str]:
    """The lab's profile and project, and its bridge, when the lab recorded them; what was
    done, in words. Instances the lab did not record keep the project and the bridge."""
    p = names.project(lab)
    others = sorted(instances(p))
    if others:
        return [f"kept project {p} and bridge {names.bridge(lab)}: they hold instances lab "
                f"{lab!r} did not create ({', '.join(others)}); `incus delete --project {p}` "
                "them, then `halab down` again"]
    said = []
    if project and p in projects():
        if client.exists("profile", "show", names.PROFILE, project=p):
            client.run("profile", "delete", names.PROFILE, project=p)
        client.run("project", "delete", p)
        said.append(f"removed project {p}")
    if bridge and any(n["name"] == names.bridge(lab) and n.get("managed")
                      and (n.get("config") or {}).get(names.LAB_KEY) == lab
                      for n in networks()):
        _retry_race(lambda: client.run("network", "delete", names.bridge(lab)))
        said.append(f"removed bridge {names.bridge(lab)}")
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
