"""The class page's HTML: the labs table (sent whole again on every change, over server-sent
events), the scoreboard, one lab's page, and its last scenario's figures as an SVG bar chart.
Pure: values in, text out (Jinja2, autoescaped); no JavaScript build, a dozen lines inline."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import jinja2

from halab.workshop import scoreboard
from halab.workshop.classpage.model import LabPage, LabRow, Scenario

STYLE = """
body{font:14px/1.4 "DejaVu Sans",Helvetica,Arial,sans-serif;margin:1.2em 2em;color:#263238}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.4em 0 .4em}
.sub{color:#607d8b;margin-bottom:1em}
table{border-collapse:collapse;width:100%} th,td{padding:.35em .6em;text-align:left;
vertical-align:top;border-bottom:1px solid #eceff1} th{background:#eceff1;font-weight:600}
tr.down td:first-child{border-left:4px solid #d32f2f} tr.ok td:first-child{border-left:4px solid
#43a047} a{color:#1565c0;text-decoration:none}
.host{display:inline-block;padding:0 .45em;margin:0 .2em .2em 0;border-radius:.7em;
font-size:.9em;border:1px solid #b0bec5} .running{background:#e8f5e9;border-color:#66bb6a}
.stopped{background:#cfd8dc;color:#546e7a;text-decoration:line-through}
.leader{background:#ffd54f;border-color:#ffb300}
.bad{color:#c62828;font-weight:600} .good{color:#2e7d32;font-weight:600} .muted{color:#90a4ae}
.note{color:#ef6c00;font-size:.85em} .diagram svg{max-width:100%;height:auto}
form.act{display:inline} button{font:inherit;padding:.1em .6em}
"""

ROWS = """
{% for r in rows %}
<tr id="row-{{ r.lab }}" data-lab="{{ r.lab }}"
    data-running="{{ r.running }}/{{ r.hosts|length }}"
    class="{{ 'ok' if r.hosts and r.running == r.hosts|length else 'down' }}">
 <td><a href="/lab/{{ r.lab }}"><b>{{ r.lab }}</b></a><br>
     <span class="muted">{{ r.provider }}</span></td>
 <td>{% for h in r.hosts %}<span class="host {{ 'leader' if h.name == r.leader else
   ('running' if h.state == 'running' else 'stopped') }}" title="{{ h.role }}: {{ h.state }}"
   data-state="{{ h.state }}">{{ h.name }}</span>{% endfor %}
   <br><span class="muted">{{ r.running }}/{{ r.hosts|length }} running</span></td>
 <td>{% if r.leader %}{{ r.leader }}<br><span class="muted">term {{ r.term }}</span>
     {% else %}<span class="bad">no leader</span>{% endif %}</td>
 <td>{{ r.lb or '—' }}</td>
 <td>{% if r.verify %}<span class="{{ 'bad' if r.verify[1] else 'good' }}">{{ r.verify[0] }}
     passed{% if r.verify[1] %}, {{ r.verify[1] }} failed{% endif %}</span>
     <br><span class="muted">{{ r.verified_at }}</span>{% else %}<span class="muted">not
     verified</span>{% endif %}</td>
 <td>{% set e = r.exercise %}{% if e and e.problem %}<span class="bad">{{ e.problem }}</span>
     {% elif e %}<b>{{ e.name }}</b>
     <span class="{{ 'good' if e.done else '' }}">{{ e.score() }}</span><br>{{ clock(e) }}<br>
     {% for n, ok in e.checks %}<span class="{{ 'good' if ok else 'bad' }}"
     >{{ '✓' if ok else '✗' }} {{ n }}</span><br>{% endfor %}
     {% else %}<span class="muted">—</span>{% endif %}
     {% if actions %}<form class="act" method="post" action="/action/reset/{{ r.lab }}">
     <input type="hidden" name="token" value="{{ token }}"><button>reset</button></form>
     {% endif %}</td>
 <td>{% for p in r.problems %}<div class="note">{{ p }}</div>{% endfor %}</td>
</tr>
{% endfor %}
"""

TABLE = """
<table><thead><tr><th>lab</th><th>hosts</th><th>etcd leader</th><th>LB reaches</th>
<th>verify</th><th>exercise</th><th>notes</th></tr></thead>
<tbody id="labs">{% include 'rows' %}</tbody></table>
"""

BOARD = """
{% if board %}<table><thead><tr><th>#</th><th>exercise</th><th>lab</th><th>passed</th>
<th>time</th></tr></thead><tbody>{% for e in board %}<tr><td>{{ loop.index }}</td>
<td>{{ e.name }}</td><td>{{ e.lab }}</td><td>{{ e.score() }}</td><td>{{ clock(e) }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p class="muted">No exercise in progress
(`halab exercise start NAME --lab LAB`).</p>{% endif %}
"""

LIVE = """
<script>
// Server-sent events: the server sends the labs table and the scoreboard again on every change.
const es = new EventSource("/events{{ query }}");
es.addEventListener("labs", e => { document.getElementById("labs").innerHTML = e.data; });
es.addEventListener("board", e => { document.getElementById("board").innerHTML = e.data; });
es.addEventListener("stamp", e => { document.getElementById("stamp").textContent = e.data; });
</script>
"""

INDEX = """<!doctype html><html><head><meta charset="utf-8"><title>halab class</title>
<style>{{ style|safe }}</style></head><body>
<h1>halab class page</h1>
<div class="sub">{{ rows|length }} lab(s) on this host · updated <span id="stamp">{{ stamp }}</span>
{% if actions %}· actions allowed{% else %}· read-only{% endif %}</div>
{% include 'table' %}
<h2>Scoreboard</h2><div id="board">{% include 'board' %}</div>
{% if actions %}<h2>Start an exercise on every lab</h2>
<form method="post" action="/action/start"><input type="hidden" name="token" value="{{ token }}">
<input name="exercise" placeholder="exercise name"> <button>start for all</button></form>{% endif %}
{% include 'live' %}</body></html>
"""

LAB = """<!doctype html><html><head><meta charset="utf-8"><title>halab lab {{ row.lab }}</title>
<style>{{ style|safe }}</style></head><body>
<h1>lab {{ row.lab }}</h1><div class="sub"><a href="/">← all labs</a> · {{ row.topology }} ·
updated <span id="stamp">{{ stamp }}</span></div>
{% include 'table' %}
<h2>Diagram, live</h2><div class="diagram">{{ page.diagram_svg|safe }}</div>
{% for n in page.notes %}<div class="note">{{ n }}</div>{% endfor %}
<h2>Last scenario</h2>{% if page.scenario %}{{ figures|safe }}{% else %}<p class="muted">None
recorded yet (`halab verify {{ row.lab }} --scenario failover`).</p>{% endif %}
<div id="board" hidden></div>{% include 'live' %}</body></html>
"""

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader({"rows": ROWS, "table": TABLE, "board": BOARD, "live": LIVE,
                              "index": INDEX, "lab": LAB}),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _common(now: float, actions: bool, token: str) -> dict[str, object]:
    return {"style": STYLE, "clock": lambda e: scoreboard.time_cell(e, now),
            "stamp": time.strftime("%H:%M:%S", time.localtime(now)), "actions": actions,
            "token": token}


def board(rows: Sequence[LabRow]) -> list[scoreboard.Exercise]:
    """The exercises in progress, best first: most items passed, then least time."""
    now = time.time()
    found = [r.exercise for r in rows if r.exercise and not r.exercise.problem]
    return sorted(found, key=lambda e: (e.name, -e.passed, e.elapsed(now), e.lab))


def rows_html(rows: Sequence[LabRow], now: float, actions: bool = False, token: str = ""
              ) -> str:
    return _ENV.get_template("rows").render(rows=rows, **_common(now, actions, token))


def board_html(rows: Sequence[LabRow], now: float) -> str:
    return _ENV.get_template("board").render(board=board(rows), **_common(now, False, ""))


def stamp(now: float) -> str:
    return str(_common(now, False, "")["stamp"])


def index_html(rows: Sequence[LabRow], now: float, actions: bool, token: str) -> str:
    return _ENV.get_template("index").render(rows=rows, board=board(rows), query="",
                                             **_common(now, actions, token))


def lab_html(page: LabPage, now: float, actions: bool, token: str) -> str:
    figures = figures_svg(page.scenario) if page.scenario else ""
    return _ENV.get_template("lab").render(
        rows=[page.row], row=page.row, page=page, board=[], figures=figures,
        query=f"?lab={page.row.lab}", **_common(now, actions, token))


def figures_svg(s: Scenario) -> str:
    """The scenario's times as horizontal bars on one seconds scale, and its counts as text."""
    times = {k.removesuffix("_s"): v for k, v in s.figures.items() if k.endswith("_s")}
    counts = {k: v for k, v in s.figures.items() if not k.endswith("_s")}
    top = max((v for v in times.values() if math.isfinite(v)), default=1.0) or 1.0
    width, label, bar, gap = 640, 170, 22, 8
    parts = []
    for i, (name, value) in enumerate(times.items()):
        y = i * (bar + gap)
        finite = math.isfinite(value)
        w = (width - label - 80) * (value / top) if finite else 0
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{esc(name)}</text>'
                     f'<rect x="{label}" y="{y}" width="{w:.1f}" height="{bar}" fill="#42a5f5"/>'
                     f'<text x="{label + w + 6:.1f}" y="{y + 15}" font-size="12">'
                     f'{f"{value:.1f} s" if finite else "not measured"}</text>')
    height = max(1, len(times)) * (bar + gap)
    verdict = ("every verdict held" if s.ok else "a verdict failed")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.finished_at))
    extra = "".join(f"<li>{esc(k)}: {v:g}</li>" for k, v in counts.items())
    return (f'<p><b>{esc(s.name)}</b>, {when}: <span class="{"good" if s.ok else "bad"}">'
            f'{verdict}</span></p><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" font-family="DejaVu Sans,sans-serif">{"".join(parts)}</svg>'
            + (f"<ul>{extra}</ul>" if extra else ""))


def esc(text: str) -> str:
    return str(jinja2.utils.markupsafe.escape(text))


def events(frames: Mapping[str, str]) -> str:
    """Server-sent events: one per name, every line of its data as a `data:` line."""
    out = []
    for name, data in frames.items():
        lines = data.splitlines() or [""]
        out.append(f"event: {name}\n" + "".join(f"data: {ln}\n" for ln in lines) + "\n")
    return "".join(out)
