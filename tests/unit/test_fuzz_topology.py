"""Fuzzing the topology loader from the ready labs: mutated values (types, nesting, unicode,
huge numbers, empty values, trailing newlines), and mutated text (aliases, stray characters,
cut files). Whatever the input, `loads` returns a topology or raises TopologyError, and every
problem names the file and a line. Bounded: a few hundred examples, about ten seconds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labfiles import LABS

from halab.config import plan
from halab.config.topology import PRIVATE_RANGES, TopologyError, loads

# A warning is an exception to be: `subnet: true` once reached ipaddress as the int 1. Not
# the garbage of earlier tests, though: a socket a lab test left open is collected while the
# fuzzing runs (the later filters win).
pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("error"),
              pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

TEXTS = {p.name: p.read_text() for p in sorted(LABS.glob("*.yaml"))}
FUZZ = settings(max_examples=200, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=40), st.integers(),
    st.integers(min_value=10**20, max_value=10**400), st.floats(allow_nan=True),
    st.sampled_from(["", " ", "\n", "master1\n", "cluster.local\nfoo: bar", "#{`id`}",
                     "../../etc", "8.8.8.0/24", "0.0.0.0/0", "192.168.33.0/33", "1e400",
                     "ünïcødé", "名前", "\u202e", "\x00", "-1", "~", "yes", "0x1f"]))
PUBLIC = ["8.8.8.0/24", "1.1.1.0/24", "203.0.113.0/24", "172.32.0.0/16", "100.128.0.0/24"]
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def _paths(data: Any, here: tuple = ()) -> list[tuple]:
    """Every place in the document: mapping keys and list items, nested."""
    out = [here] if here else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, here + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, here + (i,))
    return out


@st.composite
def mutated_values(draw: st.DrawFn) -> tuple[str, str]:
    """A ready lab with one to three places replaced, dropped, added to, given trailing
    whitespace, or its management network made public."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    data = yaml.safe_load(TEXTS[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        how = draw(st.sampled_from(["replace", "drop", "add", "wrap", "trail", "public"]))
        if how == "trail" and isinstance(parent[path[-1]], str):
            parent[path[-1]] += draw(st.sampled_from(["\n", "\n\n", " ", "\t", "\r\n"]))
        elif how == "public":
            data["network"]["management"] = draw(st.sampled_from(PUBLIC))
        elif how == "replace":
            parent[path[-1]] = draw(values)
        elif how == "drop":
            del parent[path[-1]]
        elif how == "wrap":
            parent[path[-1]] = [copy.deepcopy(parent[path[-1]])]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        else:
            parent.append(draw(values))
    return name, yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))


@st.composite
def mutated_text(draw: st.DrawFn) -> tuple[str, str]:
    """A ready lab's text with lines anchored and aliased, characters inserted, or cut."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["anchor", "alias", "recursive", "insert", "cut", "dup",
                                    "indent"]))
        if how == "anchor" and ": " in lines[i]:
            lines[i] = lines[i].replace(": ", ": &a ", 1)
        elif how == "alias" and ": " in lines[i]:
            lines[i] = lines[i].split(": ", 1)[0] + ": *a"
        elif how == "recursive":
            lines.insert(i, "loop: &r [*r]")
        elif how == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(min_size=1, max_size=5)) + lines[i][at:]
        elif how == "cut":
            lines = lines[:i + 1]
            lines[-1] = lines[-1][:draw(st.integers(0, len(lines[-1])))]
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "indent":
            lines[i] = " " * draw(st.integers(1, 5)) + lines[i]
    return name, "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


def _loads_cleanly(name: str, text: str) -> None:
    """The loader's contract: a topology that plans, or TopologyError, every problem located."""
    file = f"fuzz-{name}"
    try:
        loaded = loads(text, file)
    except TopologyError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == file and problem.line is not None, str(problem)
            assert str(problem).startswith(f"{file}:{problem.line}:"), str(problem)
        return
    topo = loaded.topology
    # What validates goes into machine names, paths, YAML files and certificates as it is.
    words = [topo.name, topo.box, topo.kubernetes.cluster_domain, topo.kubernetes.version or "x",
             *(h.name for h in topo.hosts), *(h.zone or "x" for h in topo.hosts)]
    for word in words:
        assert word.isascii() and word.isprintable() and word.split() == [word], repr(word)
    private = all(any(net.subnet_of(r) for r in PRIVATE_RANGES)
                  for net in (topo.network.subnet, topo.network.management))
    assert private or topo.network.public_subnet_reason, topo.network
    plan.build(topo)  # what validates, plans: no crash later in `up`


@FUZZ
@given(mutated_values())
def test_mutated_values_load_or_fail_with_file_and_line(case: tuple[str, str]) -> None:
    _loads_cleanly(*case)


@FUZZ
@given(mutated_text())
def test_mutated_text_loads_or_fails_with_file_and_line(case: tuple[str, str]) -> None:
    _loads_cleanly(*case)


@FUZZ
@given(st.text(max_size=400))
def test_any_text_loads_or_fails_with_file_and_line(text: str) -> None:
    _loads_cleanly("text.yaml", text)
