"""`halab validate`'s look at this host: the lab's networks against its routes, its addresses and
the other labs' networks, judged by the same pure rule as `halab up`'s preflight
(config.preflight.subnet_collisions). Reads the host, changes nothing."""

from __future__ import annotations

from halab import ui
from halab.config import plan, preflight
from halab.config.topology import Loaded, Problem, TopologyError
from halab.providers import hostfacts
from halab.session import context, labdir


def validate(path: str, student: int | None, host_check: bool) -> int:
    """`halab validate`: the file, then (unless not `host_check`) its networks against this
    host, as `up` would."""
    loaded = context.read(path, student)
    topo = loaded.topology
    if not host_check:
        looked = "not done (--no-host-check)"
    else:
        found, looked = subnet_problems(loaded)
        if found:
            raise TopologyError(found)
        looked = f"done, no collision ({looked})"
    roles = {r: len(topo.by_role(r)) for r in ("lb", "master", "minion")}
    kube = "on" if topo.kubernetes.enabled else "off"
    ui.info(f"{path}: lab {topo.name!r} is valid — {roles['lb']} lb, {roles['master']} "
            f"master, {roles['minion']} minion; LB {topo.lb.kind}; kube tier {kube}\n"
            f"  host check: {looked}")
    return 0


def subnet_problems(loaded: Loaded) -> tuple[list[Problem], str]:
    """The collisions, each located in the file, and a line saying what was looked at."""
    topo = loaded.topology
    state = labdir.read_state(labdir.lab_path(topo.name))
    # Only the names of the lab's own networks are wanted: they are not collisions.
    p = plan.build(topo, legacy_names=state is not None and state.naming < labdir.NAMING)
    networks, asked = hostfacts.lab_networks()
    facts = preflight.HostFacts(0, 0.0, hostfacts.routes(), networks,
                                addresses=hostfacts.addresses())
    ranges = {"network.subnet": topo.network.subnet,
              "network.management": topo.network.management}
    found = preflight.subnet_collisions(ranges, {p.network_name, p.management_network_name},
                                        facts)
    looked = (f"{len(facts.routes)} routes, {len(facts.addresses)} addresses, "
              f"{len(networks)} lab networks; {asked}")
    return [loaded.problem(tuple(label.split(".")), why) for label, why in found], looked
