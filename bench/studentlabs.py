"""N student labs of one file brought up at once on one container engine (bench/lab_up
--students): how long, whether each verifies, and what each lab costs this machine in memory and
idle CPU; and, when some fail, the load and free memory seen while they came up. With a cluster
(`--cluster`: the simulated one) the labs spread over its members, and the memory each member's
hosts use is printed too.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import hostusage

from halab.config import plan, students
from halab.config.topology import load

UP_TIMEOUT = 1800  # s: every lab's `up` at once
ROOT = Path(__file__).resolve().parent.parent


def mem_available_mib() -> float:
    line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemAvailable:"))
    return int(line.split()[1]) / 1024


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def halab_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "halab.cli", *args]


def bring_up(classes: dict[str, tuple[str, int]], provider: str,
             remote: str | None = None) -> dict[str, float | None]:
    """Every lab's `up` at once (lab → its file and student number): the seconds each took
    (None: failed or timed out), while the load and free memory are sampled every 5 s."""
    labs = list(classes)
    logs = {lab: Path(f"/tmp/halab-bench-{lab}.log") for lab in labs}
    start = time.monotonic()
    where = ["--incus-remote", remote] if remote else []
    procs = {lab: subprocess.Popen(halab_cmd("up", topology, "--student", str(i), "--provider",
                                             provider, *where),
                                   cwd=ROOT, stdout=logs[lab].open("w"), stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
             for lab, (topology, i) in classes.items()}
    took: dict[str, float | None] = {}
    peak_load, low_mem = 0.0, mem_available_mib()
    while len(took) < len(labs) and time.monotonic() - start < UP_TIMEOUT:
        time.sleep(5)
        peak_load, low_mem = max(peak_load, load1()), min(low_mem, mem_available_mib())
        for lab, p in procs.items():
            if lab not in took and p.poll() is not None:
                took[lab] = time.monotonic() - start if p.returncode == 0 else None
    for lab, p in procs.items():
        if lab not in took:  # still running at the deadline: this bench's own child
            p.kill()
            p.wait()
            took[lab] = None
            print(f"{lab}: `up` still running after {UP_TIMEOUT}s, stopped", flush=True)
    print(f"while they came up: peak load {peak_load:.1f}, lowest MemAvailable "
          f"{low_mem / 1024:.1f} GiB", flush=True)
    for lab in labs:
        if took[lab] is None:
            why = [ln for ln in logs[lab].read_text().splitlines() if "error" in ln.lower()]
            print(f"{lab} failed: {why[-1] if why else '?'} (whole output: {logs[lab]})",
                  flush=True)
    return took


def verify(lab: str) -> tuple[float, str, bool]:
    """`halab verify LAB`: (seconds, its totals line, passed)."""
    start = time.monotonic()
    proc = subprocess.run(halab_cmd("verify", lab), cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    totals = [ln for ln in proc.stdout.splitlines() if " passed, " in ln]
    bad = [ln for ln in proc.stdout.splitlines() if ln.startswith(("✗ ", "- "))]
    for ln in bad:
        print(f"  {lab}: {ln}", flush=True)
    return time.monotonic() - start, totals[-1] if totals else "no totals", proc.returncode == 0


def idle_cpu(labs: dict[str, list[str]], provider: str, seconds: float) -> dict[str, float]:
    """Each lab's hosts' CPU over `seconds` of idling, in % of one core."""
    def now() -> dict[str, int]:
        return {lab: sum(hostusage.cpu_ns(lab, provider, d) for d in hosts)
                for lab, hosts in labs.items()}
    before, t0 = now(), time.monotonic()
    time.sleep(seconds)
    after, took = now(), time.monotonic() - t0
    return {lab: (after[lab] - before[lab]) / 1e9 / took * 100 for lab in labs}


def tear_down(labs: list[str]) -> None:
    """`halab down --yes` of every lab, four at a time."""
    for i in range(0, len(labs), 4):
        procs = [subprocess.Popen(halab_cmd("down", lab, "--yes"), cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL) for lab in labs[i:i + 4]]
        for p in procs:
            p.wait(timeout=900)


def member_memory(remote: str, mem: dict[str, float], hosts: dict[str, list[str]]
                  ) -> dict[str, tuple[int, float]]:
    """Each member of the cluster: (labs' hosts on it, the MiB they use)."""
    listing = subprocess.run(["incus", "list", f"{remote}:", "--all-projects", "--format",
                              "json"], capture_output=True, text=True, timeout=120, check=True)
    located = {i["name"]: i.get("location", "") for i in json.loads(listing.stdout or "[]")}
    out: dict[str, tuple[int, float]] = {}
    for lab, domains in hosts.items():
        for d in domains:
            n, mib = out.get(located.get(d, "?"), (0, 0.0))
            out[located.get(d, "?")] = (n + 1, mib + hostusage.memory_mib(lab, "container", d)[0])
    return out


def run(topology: str, n: int, provider: str, idle: float, remote: str | None = None,
        seeds: int = 0) -> None:
    """Bring up, verify, measure and remove N student labs of `topology` (and `seeds` student
    labs of the seed lab, numbered after them) on `provider`, or on the cluster of `remote`."""
    topo = load(topology).topology
    seed_file = str(ROOT / "labs" / "seed.yaml")
    classes = {students.lab_name(topo.name, i): (topology, i) for i in range(1, n + 1)}
    classes |= {students.lab_name("seed", i): (seed_file, i) for i in range(n + 1, n + seeds + 1)}
    topos = {lab: load(f).topology for lab, (f, _) in classes.items()}
    labs = list(classes)
    free_before, start = mem_available_mib(), time.monotonic()
    try:
        took = bring_up(classes, provider, remote)
        up_s = time.monotonic() - start
        results = {lab: verify(lab) for lab in labs if took[lab] is not None}
        verified_s = time.monotonic() - start
        good = [lab for lab, r in results.items() if r[2]]
        hosts = {lab: [plan.machine_name(lab, h.name) for h in topos[lab].hosts]
                 for lab in good}
        load_now = load1()
        cpu = idle_cpu(hosts, provider, idle)
        mem = {lab: sum(hostusage.memory_mib(lab, provider, d)[0] for d in hosts[lab])
               for lab in good}
        used = free_before - mem_available_mib()
        for lab in labs:
            r = results.get(lab)
            print(f"{lab}: up {_s(took[lab])}, verify {r[1] + f' ({r[0]:.0f}s)' if r else '—'}, "
                  f"memory {mem.get(lab, 0):.0f} MiB, idle CPU {cpu.get(lab, 0):.0f}% of a core",
                  flush=True)
        what = f"{n} student labs of {topo.name}" + (f" and {seeds} of seed" if seeds else "")
        print(f"{what} on {remote or provider}: all up in {up_s:.0f}s, all "
              f"verified in {verified_s:.0f}s; {len(good)} of {len(labs)} verified; per verified "
              f"lab: memory {_med(mem)} MiB (cgroups), idle CPU {_med(cpu)}% of a core (median); "
              f"the machine: {used / 1024:.1f} GiB less available, load {load_now:.1f} after "
              f"verify", flush=True)
        if remote:
            print("| member | hosts | memory (MiB) |\n|---|---|---|", flush=True)
            for member, (count, mib) in sorted(member_memory(remote, mem, hosts).items()):
                print(f"| {member} | {count} | {mib:.0f} |", flush=True)
    finally:
        tear_down(labs)
    if len(good) < len(labs):
        sys.exit(1)


def _s(seconds: float | None) -> str:
    return "FAILED" if seconds is None else f"{seconds:.0f}s"


def _med(values: dict[str, float]) -> str:
    return f"{statistics.median(values.values()):.0f}" if values else "—"
