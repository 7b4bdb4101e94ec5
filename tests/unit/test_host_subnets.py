"""A lab's networks against this host: the pure rule (config.preflight.subnet_collisions) that
`halab up` and `halab validate` share, and validate's output. Nothing here changes the host;
the validate tests read its addresses (`ip -j addr`), of which loopback's 127.0.0.1/8 is sure."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest
from labfiles import lab_file, lab_plan

from halab.config import preflight

pytestmark = pytest.mark.unit

SEED = IPv4Network("192.168.33.0/24")


def facts(routes: list[tuple[str, str]] = (), addresses: list[tuple[str, str]] = (),
          networks: dict[str, tuple[str, str]] | None = None) -> preflight.HostFacts:
    return preflight.HostFacts(
        mem_available_mib=100_000, disk_free_gib=100.0,
        routes=[(dev, IPv4Network(net)) for dev, net in routes],
        libvirt_networks={n: (IPv4Network(net), br) for n, (net, br) in (networks or {}).items()},
        addresses=[(dev, IPv4Interface(a)) for dev, a in addresses])


def collisions(f: preflight.HostFacts, ours: set[str] = frozenset()) -> list[tuple[str, str]]:
    return preflight.subnet_collisions({"network.subnet": SEED}, set(ours), f)


def test_an_address_without_a_route_is_a_collision() -> None:
    """A /32 on a tunnel has no route in the main table; the lab would still take it."""
    found = collisions(facts(addresses=[("tun0", "192.168.33.40/32")]))
    assert found == [("network.subnet", "192.168.33.0/24 collides with this host's address "
                                         "192.168.33.40/32 on tun0: pick another subnet in the "
                                         "topology")]


def test_a_route_and_its_own_address_are_one_collision() -> None:
    f = facts(routes=[("eth0", "192.168.0.0/16")], addresses=[("eth0", "192.168.1.5/16")])
    assert [why for _, why in collisions(f)] == [
        "192.168.33.0/24 collides with this host's route to 192.168.0.0/16 on eth0: pick another "
        "subnet in the topology"]


def test_the_labs_own_bridge_is_no_collision_so_up_runs_again() -> None:
    up = facts(routes=[("hlb1", "192.168.33.0/24")], addresses=[("hlb1", "192.168.33.1/24")],
               networks={"halab-seed": ("192.168.33.0/24", "hlb1")})
    assert collisions(up, {"halab-seed"}) == []
    # The same bridge, another lab's: named once, as that lab's network.
    assert [why for _, why in collisions(up, {"halab-other"})] == [
        "192.168.33.0/24 collides with network 'halab-seed' (192.168.33.0/24) here: pick another "
        "subnet in the topology, or `halab down` that lab"]


def test_disjoint_routes_and_addresses_pass() -> None:
    f = facts(routes=[("eth0", "192.0.2.0/24")], addresses=[("lo", "127.0.0.1/8"),
                                                            ("eth0", "192.0.2.2/24")])
    assert collisions(f) == []


def test_up_preflight_refuses_an_address_of_this_host() -> None:
    p = lab_plan("seed")
    found = preflight.problems(p, facts(addresses=[("wg0", "192.168.121.7/32")]), set())
    assert found == ["network.management 192.168.121.0/24 collides with this host's address "
                     "192.168.121.7/32 on wg0: pick another subnet in the topology"]


def _loopback_lab(tmp_path: Path) -> Path:
    """A lab on 127.0.5.0/24, allowed as public with a reason: only the host check refuses it."""
    text = lab_file("etcd-only").read_text().replace("192.168.43.", "127.0.5.")
    text = text.replace("name: etcd-only", "name: loopy").replace(
        "  subnet: 127.0.5.0/24", "  subnet: 127.0.5.0/24\n  public_subnet_reason: a test")
    path = tmp_path / "loopy.yaml"
    path.write_text(text)
    return path


def test_validate_refuses_a_subnet_on_this_hosts_loopback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from halab.cli.app import main

    monkeypatch.chdir(tmp_path)
    path = _loopback_lab(tmp_path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert ("loopy.yaml:7: network.subnet: 127.0.5.0/24 collides with this host's address "
            "127.0.0.1/8 on lo") in " ".join(err.split())


def test_validate_says_whether_it_checked_the_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from halab.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--no-host-check", str(_loopback_lab(tmp_path))]) == 0
    assert "host check: not done (--no-host-check)" in capsys.readouterr().out
    lab = tmp_path / "lab.yaml"
    lab.write_text(lab_file("etcd-only").read_text().replace(
        "192.168.43.", "10.247.213.").replace("192.168.131.", "10.247.214."))
    assert main(["validate", str(lab)]) == 0
    assert "host check: done, no collision (" in capsys.readouterr().out
