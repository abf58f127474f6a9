"""Is the machine quiet? A throughput figure means something only when the bench had the cores
to itself, so every run is checked twice, from /proc:

- **before**: the whole machine's busy share over a few seconds, with nothing of the bench's
  running yet (`idle_check`);
- **during each measured run**: `Meter` reads /proc/stat (every core's user, system, steal and
  idle time) and the CPU time of the bench's own processes, and reports what the machine spent
  outside them: busy time that is neither the bench's nor steal, as a share of all the cores'
  time, and the steal share (the hypervisor running someone else on our cores).

The bench's processes are: this process and everything it started (the servers under test,
slapd, wrk and the `idp` commands; children that have exited are counted through
RUSAGE_CHILDREN), Redis (one shared server; its work cannot be split by client), and
PostgreSQL's processes, except the backends of other databases (a backend names its database in
its command line; the bench's databases are passed in). Everything else that ran is "outside".

A run is busy when the idle check found more than BUSY_PERCENT of the machine in use, or a
measured run saw more than BUSY_PERCENT outside the bench or more than STEAL_PERCENT steal.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from typing import Any

BUSY_PERCENT = 10.0  # of all the cores' time, outside the bench (0.2 of a core on 2 cores)
STEAL_PERCENT = 5.0
TICK = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float, float]:
    """(all, busy, steal) seconds of every core since boot, from the first line of /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal
    busy = user + nice + system + irq + softirq
    return total / TICK, busy / TICK, steal / TICK


def process_stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process and its threads; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def bench_cpu(databases: tuple[str, ...] = ()) -> float:
    """CPU seconds so far of the bench's processes (see the module docstring)."""
    processes: dict[int, tuple[int, float]] = {}
    named: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        found = process_stat(entry)
        if found is None:
            continue
        processes[int(entry)] = found
        try:
            with open(f"/proc/{entry}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if name.startswith(("redis-server", "postgres")):
            named[int(entry)] = name
    ours, grew = {os.getpid()}, True
    while grew:
        grew = False
        for pid, (parent, _) in processes.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    for pid, name in named.items():
        if name.startswith("redis-server"):
            ours.add(pid)
            continue
        command = _command(str(pid))
        # a backend reads "postgres: 15/main: user database 127.0.0.1(port) state"
        if "(" not in command or any(f" {db} " in command for db in databases):
            ours.add(pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(processes[pid][1] for pid in ours if pid in processes) \
        + children.ru_utime + children.ru_stime


def idle_check(seconds: float = 3.0) -> dict[str, Any]:
    """The machine's busy and steal shares over `seconds`, before the bench starts anything."""
    total, busy, steal = _machine()
    mine = bench_cpu()
    time.sleep(seconds)
    total2, busy2, steal2 = _machine()
    elapsed = max(total2 - total, 1e-9)
    outside = max(busy2 - busy - (bench_cpu() - mine), 0.0)
    out = {"seconds": seconds, "busy_percent": round(100 * outside / elapsed, 1),
           "steal_percent": round(100 * (steal2 - steal) / elapsed, 1),
           "load_average": [round(v, 2) for v in os.getloadavg()]}
    out["busy"] = out["busy_percent"] > BUSY_PERCENT or out["steal_percent"] > STEAL_PERCENT
    return out


@dataclass
class Meter:
    """What the machine spent outside the bench between start() and stop()."""

    databases: tuple[str, ...] = ()
    samples: list[dict[str, Any]] = field(default_factory=list)  # every stop(), in order
    _start: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))

    def start(self) -> None:
        self._start = (*_machine(), bench_cpu(self.databases))

    def stop(self) -> dict[str, Any]:
        total, busy, steal = _machine()
        mine = bench_cpu(self.databases)
        total0, busy0, steal0, mine0 = self._start
        elapsed = max(total - total0, 1e-9)
        ours = mine - mine0
        outside = max(busy - busy0 - ours, 0.0)
        out = {"outside_percent": round(100 * outside / elapsed, 1),
               "steal_percent": round(100 * (steal - steal0) / elapsed, 1),
               "bench_percent": round(100 * min(ours, elapsed) / elapsed, 1)}
        out["busy"] = out["outside_percent"] > BUSY_PERCENT or out["steal_percent"] > STEAL_PERCENT
        self.samples.append(out)
        return out


def verdict(before: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's verdict from the idle check and every measured run's sample."""
    busy = [s for s in samples if s["busy"]]
    out: dict[str, Any] = {
        "threshold_percent": BUSY_PERCENT, "steal_threshold_percent": STEAL_PERCENT,
        "before": before, "measured_runs": len(samples), "busy_runs": len(busy),
        "outside_percent_max": max((s["outside_percent"] for s in samples), default=0.0),
        "steal_percent_max": max((s["steal_percent"] for s in samples), default=0.0)}
    out["busy"] = bool(before.get("busy")) or bool(busy)
    return out


def describe(sample: dict[str, Any]) -> str:
    """`busy: X% CPU outside the bench` (and the steal), for a table or a log line."""
    share = sample.get("outside_percent", sample.get("busy_percent", 0.0))
    text = f"busy: {share:.0f}% CPU outside the bench"
    if sample.get("steal_percent", 0.0) > STEAL_PERCENT:
        text += f", {sample['steal_percent']:.0f}% steal"
    return text
