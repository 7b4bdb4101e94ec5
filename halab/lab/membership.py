"""`halab add-master`, `remove-master` and `replace`: etcd's membership, the VMs and the lab's
topology change together, then `halab up` converges every tier to the new topology (the new
member started with initial-cluster-state "existing", the LB's backends, the certificates, the
kube tier).

Everything that can be refused is checked before anything changes: the new topology is built
and validated first, and etcd must have a leader (and, to add a member, every member healthy).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from halab import ui
from halab.config import replicas
from halab.config.plan import ETCD_PEER_PORT
from halab.config.topology import Host, Topology, loads
from halab.errors import HalabError
from halab.facts import etcd
from halab.lab.up import up
from halab.probes import etcd as etcd_probe
from halab.remote.runner import RemoteError
from halab.session import labdir
from halab.session.context import Lab
from halab.tiers import etcd as etcd_tier


def _view(lab: Lab, among: list[str], all_healthy: bool) -> tuple[str, etcd.ClusterView]:
    """A master of `among` that answers, and etcd as it sees it; refuses a cluster without a
    leader (no membership change can commit), or with `all_healthy` one with a member down."""
    why = "no master answered"
    for name in among:
        try:
            view = etcd_probe.view(lab.plan, lab.runner, via=name)
        except (RemoteError, ValueError) as exc:
            why = str(exc).splitlines()[-1]
            continue
        if view.leader_name() is None:
            raise HalabError("etcd has no leader, so its membership cannot change",
                             "bring the masters back first (`halab status`, `halab up`)")
        down = len(view.members) - len(view.statuses)
        if all_healthy and down:
            raise HalabError(f"{down} etcd member(s) do not answer: adding one now could cost "
                             "the cluster its quorum",
                             "start the halted master (`halab start`), or `halab replace` it")
        return name, view
    raise HalabError(f"no etcd member answered ({why})", "`halab status` shows what runs")


def _peer_url(lab: Lab, ip: str) -> str:
    return f"{lab.plan.etcd.scheme}://{ip}:{ETCD_PEER_PORT}"


def _member_add(lab: Lab, via: str, view: etcd.ClusterView, name: str, ip: str) -> None:
    peer = _peer_url(lab, ip)
    if any(peer in m.peer_urls for m in view.members):
        ui.info(f"  {name} ({peer}) is already a member")
        return
    etcd_tier.add_member(lab.plan, lab.runner, via, name, peer)
    ui.info(f"  etcd member add {name} --peer-urls={peer} (on {via})")


def _member_remove(lab: Lab, via: str, view: etcd.ClusterView, name: str, ip: str) -> None:
    peer = _peer_url(lab, ip)
    member = next((m for m in view.members if m.name == name or peer in m.peer_urls), None)
    if member is None:
        ui.info(f"  {name} is not an etcd member (already removed)")
        return
    etcd_tier.remove_member(lab.plan, lab.runner, via, member.hex_id, name)
    ui.info(f"  etcd member remove {member.hex_id} ({name}, on {via})")


def _destroy(lab: Lab, name: str) -> None:
    with ui.step(f"destroy {name}'s {lab.provider.kind}"):
        lab.provider.destroy(name)


def record(lab: Lab, change: str, topo: Topology | None = None,
            joined: str | None = None, left: str | None = None) -> str:
    """Note the change in the lab's state; with `topo`, write the lab's own copy of its
    topology and make it the source of truth. Returns the topology `up` must read."""
    state = lab.state
    assert state is not None
    state.origin = state.origin or lab.topology
    state.changes.append(f"{time.strftime('%Y-%m-%d %H:%M')} {change}")
    if joined and joined not in state.joined:
        state.joined.append(joined)
    if left and left in state.joined:
        state.joined.remove(left)
    if topo is not None:
        text = replicas.lab_copy_text(topo, state.origin, state.changes)
        state.topology = str(labdir.write_topology(lab.dir, text))
    labdir.write_state(lab.dir, state)
    return state.topology


def _checked(lab: Lab, topo: Topology) -> Topology:
    """Validate the changed topology exactly as a file is, before anything changes."""
    text = replicas.lab_copy_text(topo, lab.topology, [])
    return loads(text, str(lab.dir / labdir.TOPOLOGY_FILE)).topology


def add_master(arg: str | None, name: str | None, ip: str | None, zone: str | None) -> int:
    lab = Lab.existing(arg)
    new: Host = replicas.new_master(lab.loaded.topology, name, ip, zone)
    topo = _checked(lab, replicas.with_master(lab.loaded.topology, new))
    where = f"{new.ip}" + (f", zone {new.zone}" if new.zone else "")
    ui.info(f"[bold]halab add-master[/]: {new.name} ({where}) joins lab {lab.plan.lab!r}")
    lab.provider.prepare()
    try:
        with ui.step(f"etcd member add {new.name}"):
            via, view = _view(lab, [m.name for m in lab.plan.masters], all_healthy=True)
            _member_add(lab, via, view, new.name, str(new.ip))
    finally:
        lab.close()
    path = record(lab, f"add-master {new.name} ({where})", topo, joined=new.name)
    ui.info(f"  the lab's topology is now {path}; `halab up` boots {new.name} and converges "
            "every tier")
    return up(path)


def remove_master(arg: str | None, name: str, force: bool) -> int:
    lab = Lab.existing(arg)
    topo = _checked(lab, replicas.without_master(lab.loaded.topology, name, force))
    h = lab.host(name)
    ui.info(f"[bold]halab remove-master[/]: {name} leaves lab {lab.plan.lab!r}")
    lab.provider.prepare()
    try:
        with ui.step(f"etcd member remove {name}"):
            others = [m.name for m in lab.plan.masters if m.name != name]
            via, view = _view(lab, others, all_healthy=False)
            _member_remove(lab, via, view, name, h.ip)
    finally:
        lab.close()
    _destroy(lab, name)
    path = record(lab, f"remove-master {name}", topo, left=name)
    ui.info(f"  the lab's topology is now {path}; `halab up` converges every tier")
    return up(path)


def _member_step(lab: Lab, among: list[str], title: str, change: Callable[..., None],
                 name: str, ip: str) -> None:
    """One etcd membership change through a member of `among` that answers, as a step; the
    SSH connections are closed after it (the host is destroyed or booted next)."""
    try:
        with ui.step(title):
            via, view = _view(lab, among, all_healthy=False)
            change(lab, via, view, name, ip)
    finally:
        lab.close()


def replace(arg: str | None, name: str) -> int:
    """The seeds' recipe for a failed replica: remove it from etcd, destroy its VM, add a fresh
    VM with the same name, address and zone as a new member."""
    lab = Lab.existing(arg)
    h = lab.host(name)
    if h.role != "master" or len(lab.plan.masters) < 3:
        raise HalabError(f"`halab replace` swaps one master of 3 or more; {name} is "
                         + ("not a master" if h.role != "master" else
                            f"one of {len(lab.plan.masters)}"),
                         "`halab add-master` adds one")
    ui.info(f"[bold]halab replace[/]: {name} is removed from etcd and rebuilt as a new member"
            + (f" in zone {h.zone}" if h.zone else ""))
    lab.provider.prepare()
    others = [m.name for m in lab.plan.masters if m.name != name]
    _member_step(lab, others, f"etcd member remove {name}", _member_remove, name, h.ip)
    _destroy(lab, name)
    _member_step(lab, others, f"etcd member add {name} (a fresh member)", _member_add, name,
                 h.ip)
    path = record(lab, f"replace {name}", joined=name)
    return up(path)
