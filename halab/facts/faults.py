"""Network faults inside the lab hosts: partitions (iptables) and slow links between zones (tc).

Pure: which host blocks or shapes which peer addresses, and the shell that does it. The rules
act on the lab network only and never on the bridge address this host has there, so SSH and the
probes keep working; every rule lives in halab's own chain or under halab's own qdisc handle, so
`heal` and `netem --clear` remove exactly what halab added. Neither survives a reboot.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from halab.config import layout
from halab.config.plan import HostPlan, Plan
from halab.errors import HalabError

CHAIN = "HALAB-PARTITION"
COMMENT = "halab partition"
HOOKS = ("INPUT", "OUTPUT")
JUMP = f"-m comment --comment halab -j {CHAIN}"
QDISC = "1a1a:"  # halab's root qdisc handle on the private NIC (a prio qdisc)
NETEM = "1a1b:"  # its netem child; shaped traffic goes to band 4 of the prio qdisc
SHAPED_BAND = "1a1a:4"
# The kernel's default priomap: unshaped traffic keeps the three usual bands.
PRIOMAP = "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1"


# ── partition ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Partition:
    """Hosts `cut` are cut off from hosts `others`, both ways: each host drops what it would
    exchange with the addresses in `blocks[host]`."""

    cut: tuple[str, ...]
    others: tuple[str, ...]
    blocks: dict[str, tuple[str, ...]]

    def summary(self) -> str:
        return f"{', '.join(self.cut)} cut off from {', '.join(self.others)}"


def _named(plan: Plan, names: list[str], what: str) -> list[HostPlan]:
    hosts = []
    for name in names:
        h = plan.host(name)
        if h is None:
            raise HalabError(f"lab {plan.lab!r} has no host {name!r} ({what})",
                             "hosts: " + ", ".join(x.name for x in plan.hosts))
        hosts.append(h)
    return hosts


def split(plan: Plan, cut: list[str] | None, others: list[str] | None = None,
          zone: str | None = None) -> Partition:
    """The two sides: named hosts (or a zone's) against the named others, by default every
    other host of the lab. The VIP of an LB pair is blocked on the side without the LBs."""
    if zone is not None:
        if cut:
            raise HalabError("give hosts or --zone, not both", "`halab partition --zone b`")
        side = [h for h in plan.hosts if h.zone == zone]
        if not side:
            zones = sorted({h.zone for h in plan.hosts if h.zone})
            raise HalabError(f"lab {plan.lab!r} has no host in zone {zone!r}",
                             f"zones: {', '.join(zones)}" if zones else "its hosts have no zone")
    elif cut:
        side = _named(plan, cut, "to cut off")
    else:
        raise HalabError("say which hosts to cut off", "`halab partition master1` or "
                         "`halab partition --zone b`")
    rest = (_named(plan, others, "--from") if others else
            [h for h in plan.hosts if h not in side])
    both = sorted({h.name for h in side} & {h.name for h in rest})
    if both:
        raise HalabError(f"{', '.join(both)} cannot be on both sides of a partition",
                         "leave them out of --from")
    if not rest:
        raise HalabError("nothing is left on the other side of the partition",
                         "cut off fewer hosts")

    def addresses(hosts: list[HostPlan], opposite: list[HostPlan]) -> tuple[str, ...]:
        ips = [h.ip for h in opposite]
        has_lb = any(h.role == "lb" for h in hosts)
        if plan.vip and not has_lb and any(h.role == "lb" for h in opposite):
            ips.append(plan.vip)
        return tuple(ips)

    blocks = {h.name: addresses(side, rest) for h in side}
    blocks.update({h.name: addresses(rest, side) for h in rest})
    return Partition(tuple(h.name for h in side), tuple(h.name for h in rest), blocks)


def _rule(direction: str, ip: str) -> str:
    return f"{CHAIN} {direction} {ip}/32 -m comment --comment {shlex.quote(COMMENT)} -j DROP"


def partition_script(ips: tuple[str, ...]) -> str:
    """Drop traffic to and from `ips` in halab's own chain, jumped to from INPUT and OUTPUT;
    adding a rule that is already there is skipped, so a second partition adds to the first."""
    lines = [f"iptables -w -N {CHAIN} 2>/dev/null || true"]
    for hook in HOOKS:
        lines.append(f"iptables -w -C {hook} {JUMP} 2>/dev/null || "
                     f"iptables -w -I {hook} 1 {JUMP}")
    for ip in ips:
        for direction in ("-s", "-d"):
            rule = _rule(direction, ip)
            lines.append(f"iptables -w -C {rule} 2>/dev/null || iptables -w -A {rule}")
    return "\n".join(lines)


def heal_script() -> str:
    """Remove halab's chain and its jumps (a bounded loop, should a jump be there twice)."""
    lines = []
    for hook in HOOKS:
        lines.append(f"for _ in 1 2 3 4 5 6 7 8; do iptables -w -D {hook} {JUMP} 2>/dev/null "
                     "|| break; done")
    lines.append(f"iptables -w -F {CHAIN} 2>/dev/null; iptables -w -X {CHAIN} 2>/dev/null; true")
    return "\n".join(lines)


LIST_RULES = f"iptables -w -S {CHAIN} 2>/dev/null; true"
_BLOCKED = re.compile(rf"^-A {CHAIN} -[sd] (\d+\.\d+\.\d+\.\d+)/32 ")


def blocked(rules: str) -> list[str]:
    """The addresses halab's chain drops, from `iptables -S` output."""
    found = (_BLOCKED.match(line) for line in rules.splitlines())
    return list(dict.fromkeys(m.group(1) for m in found if m))


def cut_off_from(plan: Plan, ips: list[str]) -> list[str]:
    """Blocked addresses as the lab's host names (the VIP by its address)."""
    names = {h.ip: h.name for h in plan.hosts}
    return [names.get(ip, ip) for ip in ips]


# ── netem ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Shaping:
    """Extra delay, jitter and loss on what each host sends to the addresses in `to[host]`."""

    delay_ms: int
    jitter_ms: int
    loss_pct: float
    to: dict[str, tuple[str, ...]]

    def netem_args(self) -> str:
        args = f"delay {self.delay_ms}ms"
        if self.jitter_ms:
            args += f" {self.jitter_ms}ms"
        if self.loss_pct:
            args += f" loss {self.loss_pct:g}%"
        return args

    def summary(self) -> str:
        return self.netem_args().replace("delay ", "+")


def shaping(plan: Plan, zone: str | None, between_zones: bool, delay_ms: int,
            jitter_ms: int = 0, loss_pct: float = 0.0) -> Shaping:
    """Traffic between zone `zone` and the other zones (both ways), or between every pair of
    zones; never within a zone, to a host without a zone, or to this host."""
    if delay_ms < 0 or jitter_ms < 0 or not 0 <= loss_pct <= 100:
        raise HalabError("delay and jitter must be 0 ms or more, loss 0–100 %")
    if not (delay_ms or jitter_ms or loss_pct):
        raise HalabError("nothing to shape: give --delay, --jitter or --loss",
                         "e.g. `halab netem --zone b --delay 100ms`")
    if (zone is None) == (not between_zones):
        raise HalabError("give --zone Z or --between-zones", "`halab netem --zone b --delay 100ms`")
    zoned = [h for h in plan.hosts if h.zone]
    zones = sorted({h.zone for h in zoned if h.zone})
    if len(zones) < 2:
        raise HalabError(f"lab {plan.lab!r} has {len(zones)} zone(s); shaping between zones "
                         "needs two or more", "use a lab with zones, e.g. labs/etcd-only.yaml")
    if zone is not None and zone not in zones:
        raise HalabError(f"lab {plan.lab!r} has no zone {zone!r}", f"zones: {', '.join(zones)}")
    to: dict[str, tuple[str, ...]] = {}
    for h in zoned:
        if between_zones or h.zone == zone:
            peers = [x.ip for x in zoned if x.zone != h.zone]
        else:
            peers = [x.ip for x in zoned if x.zone == zone]
        to[h.name] = tuple(peers)
    return Shaping(delay_ms, jitter_ms, loss_pct, to)


def netem_script(s: Shaping, ips: tuple[str, ...], dev: str = layout.PRIVATE_NIC) -> str:
    """Replace halab's qdisc on the private NIC: a prio qdisc whose fourth band, fed by one u32
    filter per peer address, goes through netem."""
    lines = [clear_script(dev),
             f"tc qdisc add dev {dev} root handle {QDISC} prio bands 4 priomap {PRIOMAP}",
             f"tc qdisc add dev {dev} parent {SHAPED_BAND} handle {NETEM} netem {s.netem_args()}"]
    lines += [f"tc filter add dev {dev} parent {QDISC} protocol ip prio 1 u32 match ip dst "
              f"{ip}/32 flowid {SHAPED_BAND}" for ip in ips]
    return "\n".join(lines)


def clear_script(dev: str = layout.PRIVATE_NIC) -> str:
    """Remove the root qdisc of the private NIC only when it is halab's."""
    return (f"if tc qdisc show dev {dev} root | grep -q '^qdisc prio {QDISC} '; then "
            f"tc qdisc del dev {dev} root; fi")
