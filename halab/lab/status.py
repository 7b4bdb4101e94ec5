"""`halab status` (one row per host), `halab status --all` (one row per lab) and what
`halab diagram --live` colours in. Each part is asked on its own; what cannot be asked shows
as "?" or a note, so a lab with hosts down still shows."""

from __future__ import annotations

from rich.table import Table

from halab import home, ui
from halab.config import owned
from halab.errors import HalabError
from halab.facts import faults, kube
from halab.probes import etcd as etcd_probe
from halab.probes import lb, leases
from halab.remote.runner import RemoteError, parallel
from halab.render.files import lb_services
from halab.session import labdir
from halab.session.context import Lab
from halab.tiers import kube_control, kube_nodes
from halab.workshop import diagram


def status(arg: str | None) -> int:
    with Lab.existing(arg) as lab:
        p = lab.plan
        lab.provider.prepare()
        states = lab.provider.states(p)
        members = lab.provider.members(p)
        running = [h.name for h in p.hosts if states[h.name] == "running"]
        view = etcd_probe.first_view(p, lab.runner,
                                     [m.name for m in p.masters if m.name in running])
        services, backends = _lb_cells(lab, running)
        proxies = _proxy_cells(lab, running)
        cut = partition_view(lab, running)
    table = Table(title=f"lab {p.lab} ({lab.topology})")
    columns = ["host", "role", "zone", *(["member"] if p.cluster else []), lab.provider.kind,
               "ip", "etcd", "raft term",
               *(f"LB → {name} :{port}" for name, port in services),
               *(["VIP"] if p.vip else []),
               *([f"own {p.lb_kind} → apiservers"] if p.node_proxies else [])]
    for col in columns + (["cut off from"] if any(cut.values()) else []):
        table.add_column(col)
    by_name = {m.name: m for m in view.members} if view else {}
    status_of = {s.member_id: s for s in view.statuses} if view else {}
    for h in p.hosts:
        etcd_col, term = "", ""
        if h.role == "master":
            member = by_name.get(h.name)
            st = status_of.get(member.id) if member else None
            if member is None:
                etcd_col = "not a member" if view else "?"
            elif st is None:
                etcd_col = "member, unreachable"
            else:
                etcd_col = "leader" if st.is_leader else "follower"
                term = str(st.raft_term)
        lb_cols = backends.get(h.name, [""] * (len(services) + bool(p.vip)))
        row = [h.name, h.role, h.zone or "", *([members.get(h.name, "")] if p.cluster else []),
               states[h.name], h.ip, etcd_col, term, *lb_cols,
               *([proxies.get(h.name, "")] if p.node_proxies else [])]
        table.add_row(*row, *([", ".join(cut.get(h.name, []))] if any(cut.values()) else []))
    ui.console.print(table)
    if services:
        ui.info(LB_LEGEND)
    if p.node_proxies:
        ui.info(PROXY_LEGEND.format(kind=p.lb_kind))
    if any(cut.values()):
        ui.info("partitioned by `halab partition`; `halab heal` removes it")
    return 0


def partition_view(lab: Lab, running: list[str]) -> dict[str, list[str]]:
    """Who each running host is cut off from, as halab's rules on it say (empty: nobody)."""
    def ask(h: str) -> list[str]:
        try:
            rules = lab.runner.run(h, faults.LIST_RULES, timeout=30).stdout
        except RemoteError:
            return []
        return faults.cut_off_from(lab.plan, faults.blocked(rules))
    return parallel(running, ask)


def status_all() -> int:
    """One row per lab brought up on this host (a workshop's student labs): its hosts and how
    many run. Only the provider is asked, so forty labs take seconds; `halab status LAB` tells
    more."""
    labs = labdir.known_labs()
    if not labs:
        ui.info(f"no lab has been brought up here ({home.labs_dir()}); "
                "`halab up labs/etcd-only.yaml` makes one")
        return 0
    table = Table(title=f"{len(labs)} lab{'s' if len(labs) != 1 else ''} on this host")
    for col in ("lab", "topology", "hosts", "running", "state", "members"):
        table.add_column(col)
    for name, state in labs.items():
        try:
            lab = Lab.existing(name)
        except HalabError as exc:
            table.add_row(name, state.topology, "?", "?", exc.message.splitlines()[0], "")
            continue
        with lab:
            lab.provider.prepare()
            states = mine_only(lab, lab.provider.states(lab.plan))
            members = lab.provider.members(lab.plan)
        running = sum(s == "running" for s in states.values())
        table.add_row(name, lab.topology, str(len(states)), f"{running}/{len(states)}",
                      vm_summary(states, name, lab.topology), members_cell(lab, members))
    ui.console.print(table)
    return 0


def mine_only(lab: Lab, states: dict[str, str]) -> dict[str, str]:
    """A host whose machine exists but is not in the lab's record is someone else's (the same
    lab up from another directory): never counted as this lab's."""
    mine = owned.machines(lab.recorded())
    return {h.name: s if s == "not created" or h.domain in mine else NOT_MINE
            for h in lab.plan.hosts for s in [states[h.name]]}


NOT_MINE = "not this lab's"


def members_cell(lab: Lab, members: dict[str, str]) -> str:
    """`status --all`'s last column: "this machine", or the cluster's members the lab uses."""
    if lab.plan.cluster is None:
        return "this machine"
    used = sorted(set(members.values()))
    return f"{lab.plan.cluster.remote}: {', '.join(used) or 'none yet'}"


def vm_summary(states: dict[str, str], lab: str, topology: str) -> str:
    """One cell for `status --all`: all running, which are not, or that the hosts are gone."""
    if states and all(s == "running" for s in states.values()):
        return "all running"
    if all(s == "not created" for s in states.values()):
        return (f"hosts are gone: `halab up {topology}` recreates them, "
                f"`halab down {lab} --yes` forgets the lab")
    return ", ".join(f"{h} {s}" for h, s in states.items() if s != "running")


LB_LEGEND = ("LB → service: the masters each running LB host opens a TCP connection to on "
             "that port, now; none: it reaches no master; —: the kube tier is not provisioned "
             "(`halab up` says why); ?: the LB host did not answer")


PROXY_LEGEND = ("own {kind} → apiservers: the masters each running minion opens a TCP "
                "connection to on the apiserver port, which its own {kind} on 127.0.0.1 forwards "
                "to; not listening: that {kind} is down; —: the kube tier is not provisioned; ?: "
                "the minion did not answer")


def _proxy_cells(lab: Lab, running: list[str]) -> dict[str, str]:
    """`status`'s column for lb.mode per-node: per running minion, what its own proxy reaches."""
    p = lab.plan
    kube_up = lab.state is not None and kube_nodes.TIER.name in lab.state.tiers_done

    def cell(name: str) -> str:
        got = lb.proxy_reach(p, lab.runner, name)
        if got is None:
            return "?"
        listening, reached = got
        if not listening:
            return "not listening" if kube_up else "—"
        return ", ".join(reached) or "none"
    return parallel([h.name for h in p.node_proxies if h.name in running], cell)


def _lb_cells(lab: Lab, running: list[str]) -> tuple[list[tuple[str, int]], dict[str, list[str]]]:
    """`status`'s LB columns, one per forwarded service, and the VIP column: per running LB
    host, the masters it reaches on each port and whether it holds the VIP."""
    p = lab.plan
    services = lb_services(p) if p.lbs else []
    kube_up = lab.state is not None and kube_control.TIER.name in lab.state.tiers_done
    holders = lb.vip_holders(p, lab.runner, running)
    cells = {}
    for h in p.lbs:
        if h.name not in running:
            continue
        reach = lb.reach_by_service(p, lab.runner, h.name)
        cells[h.name] = [lb_cell(s.name, None if reach is None else reach[s.name], kube_up)
                         for s in services]
        if p.vip:
            cells[h.name].append(f"holds VIP {p.vip}" if h.name in holders else "")
    return [(s.name.removeprefix("kube-"), s.port) for s in services], cells


def lb_cell(service: str, reached: list[str] | None, kube_up: bool) -> str:
    """One LB cell: "—" where the apiserver port is closed because no kube tier runs, so a lab
    without Kubernetes does not read as an LB with no backends."""
    if reached is None:
        return "?"
    if not reached and service == "kube-apiserver" and not kube_up:
        return "—"
    return ", ".join(reached) or "none"


def live_state(lab: Lab) -> diagram.LiveState:
    """What `halab diagram --live` colours in. Each part is asked on its own and what cannot be
    asked becomes a note, so a lab with hosts down still draws."""
    p = lab.plan
    up = set(lab.running())
    halted = frozenset(h.name for h in p.hosts if h.name not in up)
    masters_up = [m.name for m in p.masters if m.name not in halted]
    notes: list[str] = []

    view = etcd_probe.first_view(p, lab.runner, masters_up)
    leader = view.leader_name() if view else None
    if leader is None:
        notes.append("etcd: no master answered" if view is None else "etcd: no agreed leader")

    down: frozenset[str] = frozenset()
    if p.lb and p.lb.name not in halted:
        reached = lb.reach(p, lab.runner, p.lb.name)
        if reached is None:
            notes.append(f"{p.lb.name}: could not ask which masters it reaches")
        else:
            down = frozenset(m.name for m in p.masters if m.name not in reached)

    holders: dict[str, str] = {}
    if p.kube and masters_up:
        try:
            raw = leases.holders(p, lab.runner, via=masters_up[0])
            holders = {name: kube.holder_host(raw[name]) for name in kube.LEASES if raw.get(name)}
        except (HalabError, ValueError):
            notes.append("kube leases: no answer (is the kube tier up?)")
    cut = {h: tuple(names) for h, names in partition_view(
        lab, [h.name for h in p.hosts if h.name not in halted]).items() if names}
    return diagram.LiveState(leader, halted, down, holders, cut_off=cut, notes=tuple(notes),
                             members=lab.provider.members(p))
