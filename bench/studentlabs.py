"""N student labs of one file brought up at once on one container engine (bench/lab_up
--students): how long, whether each verifies, and what each lab costs this machine in memory and
idle CPU; and, when some fail, the load and free memory seen while they came up.
"""

from __future__ import annotations

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


def bring_up(topology: str, labs: list[str], provider: str) -> dict[str, float | None]:
    """Every lab's `up` at once: the seconds each took (None: failed or timed out), while the
    load and free memory are sampled every 5 s."""
    logs = {lab: Path(f"/tmp/halab-bench-{lab}.log") for lab in labs}
    start = time.monotonic()
    procs = {lab: subprocess.Popen(halab_cmd("up", topology, "--student", str(i), "--provider",
                                             provider),
                                   cwd=ROOT, stdout=logs[lab].open("w"), stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
             for i, lab in enumerate(labs, 1)}
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


def run(topology: str, n: int, provider: str, idle: float) -> None:
    """Bring up, verify, measure and remove N student labs of `topology` on `provider`."""
    topo = load(topology).topology
    labs = [students.lab_name(topo.name, i) for i in range(1, n + 1)]
    free_before, start = mem_available_mib(), time.monotonic()
    try:
        took = bring_up(topology, labs, provider)
        up_s = time.monotonic() - start
        results = {lab: verify(lab) for lab in labs if took[lab] is not None}
        verified_s = time.monotonic() - start
        good = [lab for lab, r in results.items() if r[2]]
        hosts = {lab: [plan.machine_name(lab, h.name) for h in topo.hosts] for lab in good}
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
        print(f"{n} student labs of {topo.name} on {provider}: all up in {up_s:.0f}s, all "
              f"verified in {verified_s:.0f}s; {len(good)} of {n} verified; per verified lab: "
              f"memory {_med(mem)} MiB (cgroups), idle CPU {_med(cpu)}% of a core (median); "
              f"the machine: {used / 1024:.1f} GiB less available, load {load_now:.1f} after "
              f"verify", flush=True)
    finally:
        tear_down(labs)
    if len(good) < n:
        sys.exit(1)


def _s(seconds: float | None) -> str:
    return "FAILED" if seconds is None else f"{seconds:.0f}s"


def _med(values: dict[str, float]) -> str:
    return f"{statistics.median(values.values()):.0f}" if values else "—"
