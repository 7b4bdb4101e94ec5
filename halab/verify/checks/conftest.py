"""Fixtures for `halab verify`: the lab, and a testinfra host per master and per LB.

`halab verify` hands over the lab it opened (`run.OpenLab`) and names it in `--halab-lab`, which
a run of these checks on their own opens; each check that takes `master` runs once per master, each
that takes `lb` once per load balancer host, each that takes `proxied` once per minion with its
own API proxy (lb.mode per-node). A check with no such host in the lab does not apply to it and
is not collected (an empty parametrization would show as a skipped `NOTSET` line instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import testinfra

from halab.remote.runner import testinfra_host
from halab.render.files import lb_services
from halab.session.context import Lab
from halab.verify.run import OpenLab


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--halab-lab", required=True, help="lab name or topology file")


@dataclass
class Node:
    """A lab host under test: its name and IP, and testinfra's handle on it (sudo)."""

    name: str
    ip: str
    host: testinfra.host.Host

    def run(self, command: str) -> testinfra.backend.base.CommandResult:
        return self.host.run(command)


def _lab(config: pytest.Config) -> Lab:
    """The lab `halab verify` opened (`run.OpenLab`); run alone, the lab `--halab-lab` names."""
    lab = getattr(config, "_halab_lab", None)
    if lab is None:
        opened = [p.lab for p in config.pluginmanager.get_plugins() if isinstance(p, OpenLab)]
        lab = opened[0] if opened else Lab.existing(config.getoption("--halab-lab"))
        config._halab_lab = lab  # type: ignore[attr-defined]
    return lab


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    p = _lab(metafunc.config).plan
    each = {"master": [m.name for m in p.masters], "lb": [h.name for h in p.lbs],
            # the ports the LB hosts forward; minions with their own API proxy (per-node)
            "lb_service": [s.name for s in lb_services(p)],
            "proxied": [h.name for h in p.node_proxies]}
    for fixture, names in each.items():
        if fixture not in metafunc.fixturenames:
            continue
        if not names:
            _not_applicable(metafunc.config).add(metafunc.function)
        metafunc.parametrize(fixture, names, ids=names, indirect=fixture != "lb_service")


def _not_applicable(config: pytest.Config) -> set[object]:
    """The checks that need a kind of host this lab has none of."""
    if not hasattr(config, "_halab_not_applicable"):
        config._halab_not_applicable = set()  # type: ignore[attr-defined]
    return config._halab_not_applicable  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the checks that do not apply to this lab (see the module's docstring)."""
    skip = _not_applicable(config)
    dropped = [i for i in items if getattr(i, "function", None) in skip]
    if dropped:
        items[:] = [i for i in items if i not in dropped]
        config.hook.pytest_deselected(items=dropped)


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Lab:
    return _lab(pytestconfig)


@pytest.fixture(scope="session")
def node(lab: Lab):  # noqa: ANN201 - a factory
    cache: dict[str, Node] = {}

    def get(name: str) -> Node:
        if name not in cache:
            h = lab.host(name)
            cache[name] = Node(name, h.ip, testinfra_host(name, lab.ssh_config))
        return cache[name]
    return get


@pytest.fixture
def master(request: pytest.FixtureRequest, node) -> Node:  # noqa: ANN001
    return node(request.param)


@pytest.fixture
def lb(request: pytest.FixtureRequest, node) -> Node:  # noqa: ANN001
    return node(request.param)


@pytest.fixture
def proxied(request: pytest.FixtureRequest, node) -> Node:  # noqa: ANN001
    return node(request.param)
