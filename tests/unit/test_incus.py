"""The container provider (Incus): its pure parts (the backports sources entry, names, what halab
asks Incus for, each host's pushed files, the checks made before anything is created, the
sweeps), then the provider against a fake Incus (its CLI calls answered from a dict): states in
Incus's words, what exists, and a `down` that removes exactly what the lab recorded."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from halab import providers
from halab.config import plan
from halab.config.topology import loads
from halab.errors import HalabError
from halab.providers.incus import (
    aptsource,
    cgroups,
    checks,
    client,
    config,
    guest,
    image,
    names,
    objects,
    veths,
)
from halab.providers.incus.provider import Incus
from halab.render.hostkeys import GUEST_KEY, HostKey

pytestmark = pytest.mark.unit

DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

TOPOLOGY = """name: inc-t
provider: container
network: {subnet: 10.231.9.0/24, management: 10.231.10.0/24}
lb: {kind: nginx}
kubernetes: {enabled: false}
hosts:
  - {name: lb1, role: lb, ip: 10.231.9.11}
  - {name: master1, role: master, ip: 10.231.9.21}
"""


def built() -> plan.Plan:
    topo = loads(TOPOLOGY).topology
    return plan.build(topo, "native", provider=topo.provider)


def test_backports_comes_from_the_hosts_own_archive_and_keyring() -> None:
    entry = aptsource.backports_entry("bookworm", [DEB822], [])
    assert entry is not None
    fields = dict(line.split(": ", 1) for line in entry.splitlines() if not line.startswith("#"))
    assert fields == {"Types": "deb", "URIs": "http://mirror.example/debian",
                      "Suites": "bookworm-backports", "Components": "main",
                      "Signed-By": "/usr/share/keyrings/debian-archive-keyring.gpg"}


def test_backports_from_a_one_line_sources_list() -> None:
    text = ("# deb http://old.example/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main contrib\n")
    entry = aptsource.backports_entry("bookworm", [], [text])
    assert entry is not None and "URIs: http://m.example/debian\n" in entry
    assert "Signed-By: /k.gpg\n" in entry and "Suites: bookworm-backports\n" in entry


def test_no_entry_for_the_release_no_backports() -> None:
    security_only = DEB822.split("\n\n")[1]
    disabled = DEB822.split("\n\n")[0] + "\nEnabled: no\n"
    assert aptsource.backports_entry("bookworm", [security_only, disabled], []) is None
    assert aptsource.backports_entry("trixie", [DEB822], []) is None


def test_names_are_the_labs() -> None:
    assert names.project("inc-t") == "halab-inc-t"
    bridge = names.bridge("a" * 24)
    assert len(bridge) == names.IFNAMSIZ and bridge.startswith("hli")
    assert names.bridge("aa") != names.bridge("ab")
    assert names.image_alias("trixie", "c24bb487bb46aa") == "halab-trixie-c24bb487bb46"
    assert names.image_alias("trixie", "1" * 64) != names.image_alias("trixie", "2" * 64)


def test_the_bridge_has_the_first_address_and_no_nat_dhcp_dns_firewall_or_routing() -> None:
    cfg = config.network("inc-t", "10.231.9.0/24")
    assert cfg["ipv4.address"] == "10.231.9.1/24"
    assert {k: cfg[k] for k in ("ipv4.nat", "ipv4.dhcp", "ipv4.firewall", "ipv4.routing")} == \
        dict.fromkeys(("ipv4.nat", "ipv4.dhcp", "ipv4.firewall", "ipv4.routing"), "false")
    assert cfg["ipv6.address"] == "none" and cfg["dns.mode"] == "none"
    assert cfg[names.LAB_KEY] == "inc-t"


def test_the_project_keeps_its_instances_and_profile_and_shares_image_and_bridge() -> None:
    cfg = config.project("inc-t")
    assert cfg["features.profiles"] == "true" and cfg["features.storage.volumes"] == "true"
    assert cfg["features.images"] == "false" and cfg["features.networks"] == "false"


def test_the_profile_on_a_v1_host() -> None:
    body = yaml.safe_load(config.as_yaml(config.profile("inc-t", "hliabc", "v1", "/x/sysctl")))
    assert body["config"] == {"security.privileged": "true", "security.nesting": "true",
                              "boot.autostart": "false",
                              "raw.lxc": "lxc.mount.auto = cgroup:rw:force"}
    dev = body["devices"]
    assert dev["root"] == {"type": "disk", "path": "/", "pool": names.POOL}
    assert dev["host0"] == {"type": "nic", "nictype": "bridged", "parent": "hliabc",
                            "name": "host0"}
    assert dev["kmsg"]["type"] == "unix-char" and dev["kmsg"]["path"] == "/dev/kmsg"
    binds = {d["path"]: d["source"] for d in dev.values()
             if d.get("path", "").startswith("/proc/sys/")}
    assert binds == {"/proc/sys/vm/overcommit_memory": "/x/sysctl/vm_overcommit_memory",
                     "/proc/sys/kernel/panic": "/x/sysctl/kernel_panic",
                     "/proc/sys/kernel/panic_on_oops": "/x/sysctl/kernel_panic_on_oops"}


def test_the_forced_cgroup_mount_is_for_v1_hosts_only() -> None:
    assert "raw.lxc" not in config.profile("inc-t", "hliabc", "v2", "/x")["config"]
    v1 = "35 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    v2 = "35 25 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert config.cgroup_layout(v1 + v2) == "v1" and config.cgroup_layout(v2) == "v2"


def test_image_metadata_names_the_box_and_its_key() -> None:
    meta = yaml.safe_load(config.image_metadata("trixie", "k" * 64, 1700000000))
    assert meta["architecture"] == "x86_64" and meta["creation_date"] == 1700000000
    assert meta["properties"]["halab.key"] == "k" * 64


def test_each_host_gets_its_name_address_and_pinned_key() -> None:
    p = built()
    h = p.host("master1")
    key = HostKey(private=b"PRIVATE", public="ssh-ed25519 AAAA")
    files = guest.files(h, p, key)
    assert files["/etc/hostname"] == (b"master1\n", 0o644)
    text = files["/etc/network/interfaces"][0].decode()
    assert "auto host0\niface host0 inet static\n    address 10.231.9.21/24\n" in text
    assert "gateway" not in text
    assert files[GUEST_KEY] == (b"PRIVATE", 0o600)
    assert files["/etc/systemd/system/systemd-remount-fs.service"] == (b"", 0o644)
    assert GUEST_KEY not in guest.files(h, p, None)


def test_kernel_problems() -> None:
    assert checks.kernel_problems("nodev\tproc\n\tbtrfs\n", True) == []
    found = checks.kernel_problems("nodev\tproc\n\text4\n", False)
    assert len(found) == 2 and "btrfs" in found[0] and "kmsg" in found[1]


def test_a_bridge_or_project_of_another_owner_is_a_clash() -> None:
    bridge, project = names.bridge("inc-t"), names.project("inc-t")
    mine = [{"name": bridge, "managed": True, "config": {names.LAB_KEY: "inc-t"}}]
    assert checks.clash_problems("inc-t", bridge, mine, {project: "inc-t"}) == []
    unmanaged = [{"name": bridge, "managed": False, "config": {}}]
    assert "not lab 'inc-t'" in checks.clash_problems("inc-t", bridge, unmanaged, {})[0]
    other = [{"name": bridge, "managed": True, "config": {names.LAB_KEY: "else"}}]
    assert len(checks.clash_problems("inc-t", bridge, other, {project: ""})) == 2


def test_states_are_incus_words_in_halab_words() -> None:
    assert objects.state_name("Running") == "running"
    assert objects.state_name("Stopped") == "shut off"
    assert objects.state_name("Error") == "error"


def test_provider_container_is_incus(tmp_path) -> None:
    p = built()
    assert p.provider == "container" and p.containers and p.nic == "host0"
    assert providers.choose("container")[0] == "container"
    assert providers.KINDS == ("vm", "container")
    with pytest.raises(HalabError, match="unknown provider 'incus'"):
        providers.acceleration("incus")
    provider = providers.for_lab(tmp_path, p)
    assert isinstance(provider, Incus)
    assert provider.objects(p) == {"container": [h.domain for h in p.hosts],
                                   "bridge": [names.bridge("inc-t")],
                                   "project": ["halab-inc-t"]}


def test_only_veths_no_instance_uses_are_swept() -> None:
    attached = ["veth1", "veth2", "veth3"]
    assert veths.stale(attached, {"veth1", "veth3", ""}) == ["veth2"]
    assert veths.stale(attached, set(attached)) == []


def test_a_cgroup_belongs_to_an_instance_by_its_exact_name_or_a_restart_suffix() -> None:
    mine = {"halab-l--m2", "halab-l--m2-1x"}
    assert cgroups.owner("lxc.payload.halab-l_halab-l--m2", "halab-l", mine) == "halab-l--m2"
    assert cgroups.owner("lxc.monitor.halab-l_halab-l--m2-3", "halab-l", mine) == "halab-l--m2"
    assert cgroups.owner("lxc.payload.halab-l_halab-l--m2-1x", "halab-l", mine) == \
        "halab-l--m2-1x"
    assert cgroups.owner("lxc.payload.halab-l_halab-l--m3", "halab-l", mine) is None
    assert cgroups.owner("lxc.payload.halab-l2_halab-l--m2", "halab-l", mine) is None
    assert cgroups.owner("system.slice", "halab-l", mine) is None


def test_the_sweep_removes_only_the_stopped_instances_empty_cgroups(tmp_path) -> None:
    for hier in ("memory", "cpu"):
        (tmp_path / hier / "lxc.payload.p_a" / "system.slice" / "x.service").mkdir(parents=True)
        (tmp_path / hier / "lxc.monitor.p_a-1").mkdir(parents=True)
        (tmp_path / hier / "lxc.payload.p_b" / "init.scope").mkdir(parents=True)
    busy = tmp_path / "cpu" / "lxc.payload.p_a" / "init.scope"
    busy.mkdir()
    (busy / "cgroup.procs").write_text("1\n")  # a plain directory stands in for a busy cgroup
    assert cgroups.sweep("p", {"a"}, tmp_path) == 7
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_dir())
    assert left == ["cpu", "cpu/lxc.payload.p_a", "cpu/lxc.payload.p_a/init.scope",
                    "cpu/lxc.payload.p_b", "cpu/lxc.payload.p_b/init.scope", "memory",
                    "memory/lxc.payload.p_b", "memory/lxc.payload.p_b/init.scope"]


PROJECT, BRIDGE = names.project("inc-t"), names.bridge("inc-t")


class FakeIncus:
    """Projects with their instances (name → status) and profiles, and networks."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, str]] = {"default": {"users-own": "Running"}}
        self.profiles: dict[str, set[str]] = {"default": {"default"}}
        self.networks = [{"name": "incusbr0", "managed": True, "config": {}}]
        self.images = [{"fingerprint": "fp-users", "aliases": [{"name": "users-own"}]}]
        self.made_from: dict[str, str] = {}  # instance → its image's fingerprint
        self.calls: list[tuple[str, ...]] = []

    def query(self, *args: str, project: str | None = None):
        if args == ("project", "list"):
            return [{"name": p, "config": {}} for p in self.instances]
        if args == ("network", "list"):
            return self.networks
        if args == ("image", "list"):
            return self.images
        if args == ("list", "--all-projects"):
            return [{"name": n, "config": {"volatile.base_image": self.made_from.get(n, "")}}
                    for insts in self.instances.values() for n in insts]
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
        elif args[:2] == ("image", "delete"):
            self.images = [i for i in self.images
                           if args[2] not in [a["name"] for a in i["aliases"]]]
        return subprocess.CompletedProcess(list(args), 0, "", "")

    def lab(self, statuses: dict[str, str]) -> None:
        """The lab as `up` leaves it: its project, profile, instances and bridge."""
        self.instances[PROJECT] = {plan.machine_name("inc-t", h): s for h, s in statuses.items()}
        self.profiles[PROJECT] = {"default", names.PROFILE}
        self.networks.append({"name": BRIDGE, "managed": True,
                              "config": {names.LAB_KEY: "inc-t",
                                         "ipv4.address": "10.231.9.1/24"}})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path) -> FakeIncus:
    f = FakeIncus()
    monkeypatch.setattr(client, "query", f.query)
    monkeypatch.setattr(client, "exists", f.exists)
    monkeypatch.setattr(client, "run", f.run)
    monkeypatch.setattr(veths, "sweep", lambda lab: [])
    monkeypatch.setattr(cgroups, "sweep", lambda project, stopped: 0)
    monkeypatch.setattr(image, "work_dir", lambda: tmp_path)
    return f


@pytest.fixture
def provider(tmp_path) -> Incus:
    return Incus(tmp_path, built())


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
    assert provider.present(wanted) == {"container": [plan.machine_name("inc-t", "lb1")],
                                        "bridge": [BRIDGE], "project": [PROJECT]}
    assert list(provider.networks_in_use()) == ["halab-inc-t"]


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
    provider.destroy(None, {"container": [plan.machine_name("inc-t", "lb1")],
                            "project": [PROJECT]})
    assert BRIDGE in [n["name"] for n in fake.networks] and PROJECT not in fake.instances


def test_an_image_is_unused_when_no_instance_was_made_from_it_and_it_is_not_the_boxs() -> None:
    images = [{"fingerprint": "a", "aliases": [{"name": "halab-trixie-aaaa"}]},
              {"fingerprint": "b", "aliases": [{"name": "halab-trixie-bbbb"}]},
              {"fingerprint": "c", "aliases": [{"name": "halab-trixie-cccc"}]},
              {"fingerprint": "d", "aliases": [{"name": "someone-elses"}]},
              {"fingerprint": "e", "aliases": []}]
    instances = [{"config": {"volatile.base_image": "a"}}, {"config": {}}]
    assert image.unused(images, instances, "halab-trixie-cccc") == ["halab-trixie-bbbb"]
    assert image.unused(images, instances, None) == ["halab-trixie-bbbb", "halab-trixie-cccc"]


def test_down_of_the_last_lab_made_from_an_old_box_removes_its_image(
        fake: FakeIncus, provider: Incus, monkeypatch: pytest.MonkeyPatch) -> None:
    from halab.artifacts import boxes

    monkeypatch.setattr(boxes, "read_record", lambda box: type("R", (), {"key": "n" * 64})())
    old, new = names.image_alias("trixie", "o" * 64), names.image_alias("trixie", "n" * 64)
    fake.images += [{"fingerprint": "fp-old", "aliases": [{"name": old}]},
                    {"fingerprint": "fp-new", "aliases": [{"name": new}]}]
    fake.lab({"lb1": "Running", "master1": "Stopped"})
    fake.made_from = {plan.machine_name("inc-t", "lb1"): "fp-old",
                      plan.machine_name("inc-t", "master1"): "fp-old"}
    provider.destroy("lb1")  # master1 still uses the old image
    assert [a["aliases"][0]["name"] for a in fake.images] == ["users-own", old, new]
    provider.destroy(None, provider.objects(provider.plan))
    assert [a["aliases"][0]["name"] for a in fake.images] == ["users-own", new]


def test_wait_off_counts_an_error_status_as_still_on(fake: FakeIncus, provider: Incus) -> None:
    fake.lab({"lb1": "Error", "master1": "Stopped"})
    assert provider.wait_off(list(provider.plan.hosts), 0.01) == ["lb1"]


def test_wait_off_needs_off_twice_in_a_row(monkeypatch: pytest.MonkeyPatch,
                                           provider: Incus) -> None:
    """A host that reads "shut off" once and "running" on the next poll is still on (a CI
    run's cold restart saw this); off on two polls in a row is off."""
    m1 = plan.machine_name("inc-t", "master1")
    lb = plan.machine_name("inc-t", "lb1")
    bounce = iter([{lb: "shut off", m1: "shut off"}] + [{lb: "shut off", m1: "running"}] * 9)
    monkeypatch.setattr(objects, "instances", lambda project, remote=None: next(bounce))
    assert provider.wait_off(list(provider.plan.hosts), 1.5) == ["master1"]
    monkeypatch.setattr(objects, "instances",
                        lambda project, remote=None: {lb: "shut off", m1: "shut off"})
    assert provider.wait_off(list(provider.plan.hosts), 3.0) == []


def test_a_hosts_limits_are_its_topology_memory_and_cpus() -> None:
    h = built().host("master1")
    assert config.limits(h.memory, h.cpus) == {"limits.memory": f"{h.memory}MiB",
                                               "limits.cpu.allowance": f"{h.cpus * 100}ms/100ms"}
    assert config.limits(1024, 2) == {"limits.memory": "1024MiB",
                                      "limits.cpu.allowance": "200ms/100ms"}


def test_a_bridge_create_that_raced_a_starting_container_is_tried_again(
        fake: FakeIncus, monkeypatch: pytest.MonkeyPatch) -> None:
    race = ("Error: Failed to delete bridge children interfaces: Failed to run: ip -d -j link "
            "show veth44229778: exit status 1 (Device \"veth44229778\" does not exist.)")
    failures = [race]

    def run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        if args[:2] == ("network", "create") and failures:
            fake.calls.append(args)
            raise client.IncusError(list(args), failures.pop())
        return fake.run(*args, **kw)
    monkeypatch.setattr(client, "run", run)
    monkeypatch.setattr(objects.time, "sleep", lambda s: None)
    objects.ensure_network("inc-t", "10.231.9.0/24")
    assert [c[:3] for c in fake.calls] == [("network", "create", BRIDGE)] * 2

    failures[:] = ["Error: The network already exists"]
    with pytest.raises(client.IncusError, match="already exists"):
        objects.ensure_network("inc-t", "10.231.9.0/24")


def test_deleting_a_bridge_is_tried_again_when_incusd_trips_on_a_vanished_veth(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen removing ten labs at once: `incus network delete` failed on another lab's veth that
    was gone before incusd looked at it. That error is retried; any other is not."""
    monkeypatch.setattr(objects.time, "sleep", lambda s: None)
    race = ("Error: Failed to delete bridge children interfaces: Failed to run: ip -d -j link "
            "show hlia1ee275107f1: exit status 1 (Device \"hlia1ee275107f1\" does not exist.)")
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise client.IncusError(["network", "delete", "b"], race)
    objects._retry_race(flaky)
    assert len(calls) == 3

    def broken() -> None:
        raise client.IncusError(["network", "delete", "b"], "Error: The network is in use")
    with pytest.raises(client.IncusError, match="in use"):
        objects._retry_race(broken)
