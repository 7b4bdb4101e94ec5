"""The lab as a picture: hosts by zone, the LB's arrows to the masters, etcd peers, minions → API.

`build()` is pure (a Plan, and optionally what `--live` saw, in; a graphviz.Digraph out), so tests
read its DOT source. Graphviz's `dot` does the layout: `render_files()` runs it for SVG and PNG.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import graphviz

from halab.config.plan import APISERVER_PORT, HostPlan, Plan
from halab.errors import HalabError
from halab.render.files import lb_services

FORMATS = ("svg", "png")
MESH_MAX = 3  # masters up to which every etcd peer link is drawn
PNG_DPI = "144"  # the default 72 dpi makes small text blurry in a PNG

FONT = "DejaVu Sans,Helvetica,Arial,sans-serif"
ROLE_FILL = {"lb": "#ede7f6", "master": "#e3f2fd", "minion": "#e8f5e9"}
ZONE_FILL = "#fafafa"
MEMBER_COLOR = "#546e7a"
# --live colours: none of them is a role's colour, so a coloured host stands out.
LEADER_FILL = "#ffd54f"
HALTED_FILL = "#bdbdbd"
DOWN_COLOR = "#d32f2f"
LEASE_COLOR = "#8e24aa"
EDGE_COLOR = "#455a64"
PEER_COLOR = "#1e88e5"
PEER = {"dir": "none", "style": "dashed", "color": PEER_COLOR}


@dataclass(frozen=True)
class LiveState:
    """What `halab diagram --live` saw on a running lab; an empty field colours nothing."""

    leader: str | None = None  # the etcd leader's host name
    halted: frozenset[str] = frozenset()  # hosts whose VM is not running
    backends_down: frozenset[str] = frozenset()  # masters the LB cannot reach
    lease_holders: dict[str, str] = field(default_factory=dict)  # lease name → host
    cut_off: dict[str, tuple[str, ...]] = field(default_factory=dict)  # `halab partition`
    notes: tuple[str, ...] = ()  # what could not be asked: a partly-down lab still draws
    members: dict[str, str] = field(default_factory=dict)  # host → its cluster member


def _role_line(p: Plan, h: HostPlan) -> str:
    if h.role == "lb":
        return f"load balancer · {p.lb_kind}" + (" + keepalived" if p.vip else "")
    if h.role == "master":
        return "master · etcd" + (" + control plane" if p.kube else "")
    if h in p.node_proxies:
        return f"minion · kubelet, flannel, {p.lb_kind} on 127.0.0.1:{APISERVER_PORT}"
    return "minion · kubelet, flannel" if p.kube else "minion"


def _node(p: Plan, h: HostPlan, live: LiveState | None) -> dict[str, str]:
    """Label and colours of one host; with `live`, its state wins over its role's colour."""
    lines = [escape(_role_line(p, h)), h.ip]
    if h.role == "lb":
        lines.append(" · ".join(f":{s.port} {s.name}" for s in lb_services(p)))
        if p.vip:
            lines.append(f"shares VIP {p.vip}")
    attrs = {"fillcolor": ROLE_FILL[h.role]}
    if live:
        leases = sorted(lease.removeprefix("kube-")
                        for lease, host in live.lease_holders.items() if host == h.name)
        if h.name in live.halted:
            lines.append("<B>halted</B>")
            attrs.update(fillcolor=HALTED_FILL, style="rounded,filled,dashed", fontcolor="#424242")
        elif h.name == live.leader:
            lines.append("<B>★ etcd leader</B>")
            attrs["fillcolor"] = LEADER_FILL
        if leases:
            lines.append(f'<FONT COLOR="{LEASE_COLOR}">lease: {", ".join(leases)}</FONT>')
            attrs.update(color=LEASE_COLOR, penwidth="3")
        if live.cut_off.get(h.name):
            lines.append(f'<FONT COLOR="{DOWN_COLOR}">✂ cut off from '
                         f'{escape(", ".join(live.cut_off[h.name]))}</FONT>')
            attrs.update(color=DOWN_COLOR, penwidth="3")
    small = "<BR/>".join(lines)
    attrs["label"] = f'<<B>{escape(h.name)}</B><BR/><FONT POINT-SIZE="10">{small}</FONT>>'
    return attrs


def _line(text: str, color: str) -> str:
    return f'<TD><FONT COLOR="{color}"><B>{text}</B></FONT></TD>'


def _legend(p: Plan, live: LiveState | None) -> str:
    """An HTML table under the picture: what the lines mean, and the --live colours."""
    rows = []
    if p.lb:
        rows.append((_line("──▶", EDGE_COLOR), "the LB forwards to a master"))
    if len(p.masters) > 1:
        rows.append((_line("- - -", PEER_COLOR),
                     "etcd peers (:2380), every master with every other"))
    if p.node_proxies:
        rows.append((_line("· · ·▶", EDGE_COLOR), "kubelet, kube-proxy → API via the "
                     f"minion's own {p.lb_kind}, to every master (no LB host on the way)"))
    elif p.kube and p.minions:
        via = "via the LB" if p.lb else f"on {p.masters[0].name}"
        rows.append((_line("· · ·▶", EDGE_COLOR), f"kubelet, kube-proxy → API {via}"))
    if live:
        rows.append((f'<TD BGCOLOR="{LEADER_FILL}"> </TD>', "etcd leader"))
        rows.append((f'<TD BGCOLOR="{HALTED_FILL}"> </TD>', "halted"))
        if p.lb:
            rows.append((_line("- -▶", DOWN_COLOR), "the LB cannot reach that master"))
        if p.kube:
            rows.append((f'<TD BORDER="3" COLOR="{LEASE_COLOR}"> </TD>',
                         "holds the controller-manager or scheduler lease"))
        if any(live.cut_off.values()):
            rows.append((f'<TD BORDER="3" COLOR="{DOWN_COLOR}"> </TD>',
                         "cut off by `halab partition` (`halab heal` ends it)"))
        rows += [("<TD>!</TD>", escape(note)) for note in live.notes]
    else:
        rows.append(("<TD></TD>", "<I>halab diagram --live colours in the current state</I>"))
    cells = "".join(f'<TR>{key}<TD ALIGN="LEFT">{text}</TD></TR>' for key, text in rows)
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">'
            f'<TR><TD COLSPAN="2"><B>legend</B></TD></TR>{cells}</TABLE>>')


def build(p: Plan, live: LiveState | None = None) -> graphviz.Digraph:
    """The lab as a graph: LB on top, masters in the middle, minions below, zones as clusters."""
    g = graphviz.Digraph(f"halab_{p.lab}")
    # remincross=false: a second crossing pass would reorder the masters once every minion
    # links to each of them (lb.mode per-node); the file's order is the one users know.
    g.attr(rankdir="TB", fontname=FONT, nodesep="0.5", ranksep="0.9", remincross="false",
           label=_legend(p, live), labelloc="b", labeljust="c")
    g.attr("node", shape="box", style="rounded,filled", fontname=FONT, margin="0.2,0.08")
    g.attr("edge", fontname=FONT, fontsize="9", color=EDGE_COLOR)

    kube = "" if not p.kube else f" · Kubernetes {p.kube.version}"
    title = f"<B>lab {escape(p.lab)}</B> · {p.subnet}{kube}"
    if p.description:
        title += f'<BR/><FONT POINT-SIZE="10">{escape(p.description)}</FONT>'
    with g.subgraph(name="cluster_lab") as lab:
        lab.attr(label=f"<{title}>", labelloc="t", labeljust="l", style="rounded",
                 color="#90a4ae")
        placed = live.members if live else {}
        in_rows = _zones(lab, p, [h for h in p.hosts if h.name not in placed], live)
        for member in sorted(set(placed.values())):
            with lab.subgraph(name=f"cluster_member_{member}") as m:
                m.attr(label=f"<<B>{escape(member)}</B> · Incus member>", style="rounded,dashed",
                       color=MEMBER_COLOR, penwidth="1.5", labelloc="t", labeljust="l")
                in_rows |= _zones(m, p, [h for h in p.hosts if placed.get(h.name) == member],
                                  live, member)
    _edges(g, p, live, in_rows)
    return g


def _zones(sub: graphviz.Digraph, p: Plan, hosts: list[HostPlan], live: LiveState | None,
           member: str = "") -> set[tuple[str, str]]:
    """These hosts: those of no zone, then each zone as a cluster (within a member, when the
    lab runs on an Incus cluster)."""
    in_rows = _group(sub, p, [h for h in hosts if not h.zone], live)
    for zone in sorted({h.zone for h in hosts if h.zone}):
        with sub.subgraph(name=f"cluster_zone_{zone}{'_' + member if member else ''}") as z:
            z.attr(label=f"zone {zone}", style="rounded,filled", fillcolor=ZONE_FILL,
                   color="#b0bec5", labelloc="t", labeljust="c")
            in_rows |= _group(z, p, [h for h in hosts if h.zone == zone], live)
    return in_rows


def _group(sub: graphviz.Digraph, p: Plan, hosts: list[HostPlan],
           live: LiveState | None) -> set[tuple[str, str]]:
    """One zone's hosts (or those of no zone): its masters on one row and its minions on the
    next, each in the file's order (dot keeps a flat edge's tail left of its head). Returns the
    etcd peer links drawn here."""
    for h in hosts:
        sub.node(h.name, **_node(p, h, live))
    masters = [h.name for h in hosts if h.role == "master"]
    minions = [h.name for h in hosts if h.role == "minion"]
    for names, attrs in ((masters, PEER), (minions, {"style": "invis"})):
        with sub.subgraph() as row:
            row.attr(rank="same")
            for tail, head in itertools.pairwise(names):
                row.edge(tail, head, **attrs)
    return set(itertools.pairwise(masters))


def _edges(g: graphviz.Digraph, p: Plan, live: LiveState | None,
           drawn: set[tuple[str, str]]) -> None:
    down = live.backends_down if live else frozenset()
    for lb in p.lbs:
        for m in p.masters:
            if lb == p.lb and m.name in down:  # xlabel: a label would move hosts around
                g.edge(lb.name, m.name, color=DOWN_COLOR, penwidth="2", style="dashed",
                       fontcolor=DOWN_COLOR, xlabel="down")
            else:
                g.edge(lb.name, m.name, penwidth="1.5")
    # Every etcd member talks to every other, but above 3 masters the whole mesh is a tangle:
    # then only neighbours are linked (the legend says it is a mesh). constraint=false keeps the
    # masters on one row.
    names = [m.name for m in p.masters]
    mesh = len(names) <= MESH_MAX
    for a, b in itertools.combinations(names, 2) if mesh else itertools.pairwise(names):
        if (a, b) not in drawn:
            g.edge(a, b, constraint="false", **PEER)
    # Invisible edges put each minion under its zone's masters (or all of them). Its API link to
    # the front (the LB, or the only master) moves nothing; drawn front → minion with dir=back,
    # dot routes it up through the minion's own zone instead of around the picture.
    # A minion with its own API proxy (lb.mode per-node) links to every master itself, and those
    # links place it, as the invisible ones do.
    front = p.lb or p.masters[0]
    api = {"style": "dotted", "penwidth": "1.5", "constraint": "false"}
    for n in p.minions:
        for m in [m for m in p.masters if m.zone == n.zone] or p.masters:
            g.edge(m.name, n.name, style="invis")
        if n in p.node_proxies:
            for m in p.masters:
                g.edge(n.name, m.name, **api)
        elif p.kube:
            g.edge(front.name, n.name, dir="back", **api)


def outputs(out: Path) -> list[Path]:
    """`x.svg` or `x.png` is that file; `x` with no suffix means both `x.svg` and `x.png`."""
    suffix = out.suffix.lower().lstrip(".")
    if not suffix:
        return [out.with_name(f"{out.name}.{fmt}") for fmt in FORMATS]
    if suffix not in FORMATS:
        raise HalabError(f"--out {out}: cannot write .{suffix}",
                         "end the file name in .svg or .png, or leave the suffix off for both")
    return [out]


def render_files(g: graphviz.Digraph, paths: list[Path]) -> list[Path]:
    """Lay out with Graphviz's `dot` and write each path in the format its suffix names."""
    for path in paths:
        data = laid_out(g, path.suffix.lower().lstrip("."))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            raise HalabError(f"cannot write {path}: {exc.strerror}") from None
    return paths


def laid_out(g: graphviz.Digraph, fmt: str) -> bytes:
    """The picture in `fmt` (svg, png), laid out by Graphviz's `dot`."""
    graph = g.copy()
    if fmt == "png":
        graph.attr(dpi=PNG_DPI)
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise HalabError("Graphviz's `dot` is missing",
                         "run `make deps` (it installs the Debian package graphviz)") from None
    except graphviz.CalledProcessError as exc:
        stderr = (exc.stderr or b"").decode(errors="replace").strip()
        raise HalabError(f"Graphviz's `dot` failed on the diagram: {stderr}") from None
