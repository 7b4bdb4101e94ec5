"""The incus provider against a fake Incus (its CLI calls answered from a dict): states from
Incus's words, what exists, and a `down` that removes exactly what the lab recorded."""

from __future__ import annotations

import subprocess

import pytest

from halab.config import plan
from halab.config.topology import loads
from halab.providers.incus import cgroups, client, names, veths
from halab.providers.incus.provider import Incus

pytestmark = pytest.mark.unit

TOPOLOGY = """name: inc-f
provider: incus
network: {subnet: 10.231.11.0/24, management: 10.231.12.0/24}
lb: {kind: nginx}
kubernetes: {enabled: false}
hosts:
  - {name: lb1, role: lb, ip: 10.231.11.11}
  - {name: master1, role: master, ip: 10.231.11.21}
"""
PROJECT, BRIDGE = names.project("inc-f"), names.bridge("inc-f")


class FakeIncus:
    """Projects with their instances (name → status) and profiles, and networks."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, str]] = {"default": {"users-own": "Running"}}
        self.profiles: dict[str, set[str]] = {"default": {"default"}}
        self.networks = [{"name": "incusbr0", "managed": True, "config": {}}]
        self.calls: list[tuple[str, ...]] = []

    def query(self, *args: str, project: str | None = None):
        if args == ("project", "list"):
            return [{"name": p, "config": {}} for p in self.instances]
        if args == ("network", "list"):
            return self.networks
        assert args == ("list",), args
        return [{"name": n, "status": s} for n, s in self.instances[project or "default"].items()]

    def exists(self, *args: str, project: str | None = None) -> bool:
        assert args[:2] == ("profile", "show"), args
        return args[2] in self.profiles.get(project or "default", set())

    def run(self, *args: str, project: str | None = None, **_: object
            ) -> subprocess.CompletedProcess[str]:
        self.calls.append((*args, *([f"@{project}"] if project else [])))
        if args[0] == "delete":
            assert self.instances[project][args[1]] != "Running" or "--force" in args
            del self.instances[project][args[1]]
        elif args[:2] == ("profile", "delete"):
            self.profiles[project].discard(args[2])
        elif args[:2] == ("project", "delete"):
            assert not self.instances[args[2]] and self.profiles[args[2]] <= {"default"}
            del self.instances[args[2]]
        elif args[:2] == ("network", "delete"):
            self.networks = [n for n in self.networks if n["name"] != args[2]]
        return subprocess.CompletedProcess(list(args), 0, "", "")

    def lab(self, statuses: dict[str, str]) -> None:
        """The lab as `up` leaves it: its project, profile, instances and bridge."""
        self.instances[PROJECT] = {plan.machine_name("inc-f", h): s for h, s in statuses.items()}
        self.profiles[PROJECT] = {"default", names.PROFILE}
        self.networks.append({"name": BRIDGE, "managed": True,
                              "config": {names.LAB_KEY: "inc-f",
                                         "ipv4.address": "10.231.11.1/24"}})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeIncus:
    f = FakeIncus()
    monkeypatch.setattr(client, "query", f.query)
    monkeypatch.setattr(client, "exists", f.exists)
    monkeypatch.setattr(client, "run", f.run)
    monkeypatch.setattr(veths, "sweep", lambda lab: [])
    monkeypatch.setattr(cgroups, "sweep", lambda project, stopped: 0)
    return f


@pytest.fixture
def provider(tmp_path) -> Incus:
    topo = loads(TOPOLOGY).topology
    return Incus(tmp_path, plan.build(topo, "native", provider=topo.provider))


def test_states_are_incus_own_and_a_missing_project_means_not_created(
        fake: FakeIncus, provider: Incus) -> None:
    assert provider.states(provider.plan) == {"lb1": "not created", "master1": "not created"}
    fake.lab({"lb1": "Running", "master1": "Stopped"})
    assert provider.states(provider.plan) == {"lb1": "running", "master1": "shut off"}


def test_present_and_networks_in_use_see_only_the_lab_and_halabs(
        fake: FakeIncus, provider: Incus) -> None:
    wanted = provider.objects(provider.plan)
    assert provider.present(wanted) == {"container": [], "bridge": [], "project": []}
    fake.lab({"lb1": "Running"})
    assert provider.present(wanted) == {"container": [plan.machine_name("inc-f", "lb1")],
                                        "bridge": [BRIDGE], "project": [PROJECT]}
    assert list(provider.networks_in_use()) == ["halab-inc-f"]


def test_down_removes_exactly_what_the_lab_recorded(fake: FakeIncus, provider: Incus) -> None:
    fake.lab({"lb1": "Running", "master1": "Stopped"})
    recorded = provider.objects(provider.plan)
    assert provider.leftovers(provider.plan, recorded) == "2 containers, 1 bridge, 1 project"
    provider.destroy(None, recorded)
    assert PROJECT not in fake.instances and [n["name"] for n in fake.networks] == ["incusbr0"]
    assert fake.instances["default"] == {"users-own": "Running"}
    order = [c[:2] for c in fake.calls]
    assert order.index(("profile", "delete")) < order.index(("project", "delete"))
    assert provider.leftovers(provider.plan, recorded) is None


def test_an_instance_the_lab_did_not_record_keeps_its_project_and_bridge(
        fake: FakeIncus, provider: Incus) -> None:
    fake.lab({"lb1": "Running"})
    fake.instances[PROJECT]["someone-elses"] = "Running"
    recorded = provider.objects(provider.plan)
    provider.destroy(None, recorded)
    assert fake.instances[PROJECT] == {"someone-elses": "Running"}
    assert BRIDGE in [n["name"] for n in fake.networks]
    assert not [c for c in fake.calls if c[:2] in (("project", "delete"), ("network", "delete"))]


def test_a_bridge_the_lab_did_not_record_is_not_deleted(fake: FakeIncus, provider: Incus
                                                        ) -> None:
    fake.lab({"lb1": "Stopped"})
    provider.destroy(None, {"container": [plan.machine_name("inc-f", "lb1")],
                            "project": [PROJECT]})
    assert BRIDGE in [n["name"] for n in fake.networks] and PROJECT not in fake.instances


def test_wait_off_counts_an_error_status_as_still_on(fake: FakeIncus, provider: Incus) -> None:
    fake.lab({"lb1": "Error", "master1": "Stopped"})
    assert provider.wait_off(list(provider.plan.hosts), 0.01) == ["lb1"]
