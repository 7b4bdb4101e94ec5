"""`halab validate`'s look at this host: the lab's networks against its routes, its addresses and
the other labs' networks, judged by the same pure rule as `halab up`'s preflight
(config.preflight.subnet_collisions). Reads the host, changes nothing."""

from __future__ import annotations

from halab.config import plan, preflight
from halab.config.topology import Loaded, Problem
from halab.providers import hostfacts
from halab.session import labdir


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
