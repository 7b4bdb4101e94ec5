"""Fixtures for `halab verify`: the lab, and a testinfra host per master and per LB.

`halab verify` passes `--halab-lab`; each check that takes `master` runs once per master, each
that takes `lb` once per load balancer host, each that takes `proxied` once per minion with its
own API proxy (lb.mode per-node; none otherwise, and pytest then skips the check).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import testinfra

from halab.lab.context import Lab
from halab.remote.runner import testinfra_host
from halab.render.files import lb_services


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
    lab = getattr(config, "_halab_lab", None)
    if lab is None:
        lab = Lab.existing(config.getoption("--halab-lab"))
        config._halab_lab = lab  # type: ignore[attr-defined]
    return lab


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    p = _lab(metafunc.config).plan
    if "master" in metafunc.fixturenames:
        names = [m.name for m in p.masters]
        metafunc.parametrize("master", names, ids=names, indirect=True)
    if "lb" in metafunc.fixturenames:
        names = [h.name for h in p.lbs]
        metafunc.parametrize("lb", names, ids=names, indirect=True)
    if "lb_service" in metafunc.fixturenames:  # the ports the LB hosts forward
        names = [s.name for s in lb_services(p)]
        metafunc.parametrize("lb_service", names, ids=names)
    if "proxied" in metafunc.fixturenames:  # minions with their own API proxy (per-node)
        names = [h.name for h in p.node_proxies]
        metafunc.parametrize("proxied", names, ids=names, indirect=True)


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
