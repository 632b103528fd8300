#!/usr/bin/env python3
"""CPU time, context switches and run-queue waits per thread name over an
interval.

Reads /proc/<pid>/task/<tid>/stat, .../status and .../schedstat for every
thread on the machine, sleeps SECONDS, reads them again, and prints for
each thread name (every PostgreSQL process counted as `postgres`):
- its user and system time as a percentage of one core;
- its voluntary and involuntary context switches per second;
- the time its threads spent runnable but waiting for a core, as a
  percentage of one core (`wait %`), and that wait per time it was put on
  a core (`wait/run µs`): what one hand-off to that thread costs in
  latency on these shared cores. From schedstat's second and third fields
  (needs a kernel with schedstats, which Debian's has); `-` when absent.

Used for docs/performance.md: run it during a load,

    python3 scripts/cpu-by-thread.py 5

and divide by the load's request rate for figures per request.
"""

import collections
import os
import sys
import time


def snapshot():
    threads = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(f"{base}/stat") as f:
                    stat = f.read()
                with open(f"{base}/status") as f:
                    status = f.read()
            except OSError:
                continue  # gone in between
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            try:
                with open(f"{base}/schedstat") as f:
                    _, wait_ns, runs = (int(x) for x in f.read().split()[:3])
            except (OSError, ValueError):
                wait_ns, runs = None, None
            switches = {}
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    switches[key] = int(value)
            threads[(pid, tid)] = (
                "postgres" if "postgres" in name else name,
                int(fields[11]),  # utime, clock ticks
                int(fields[12]),  # stime
                switches.get("voluntary_ctxt_switches", 0),
                switches.get("nonvoluntary_ctxt_switches", 0),
                wait_ns,
                runs,
            )
    return threads


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    before = snapshot()
    started = time.monotonic()
    time.sleep(seconds)
    after = snapshot()
    elapsed = time.monotonic() - started
    # name -> [utime, stime, vcs, ncs, wait_ns, runs, schedstat seen]
    totals = collections.defaultdict(lambda: [0, 0, 0, 0, 0, 0, True])
    for key, (name, utime, stime, vcs, ncs, wait_ns, runs) in after.items():
        _, u0, s0, v0, n0, w0, r0 = before.get(key, (name, 0, 0, 0, 0, 0, 0))
        total = totals[name]
        total[0] += utime - u0
        total[1] += stime - s0
        total[2] += vcs - v0
        total[3] += ncs - n0
        if wait_ns is None or w0 is None:
            total[6] = False
        else:
            total[4] += wait_ns - w0
            total[5] += runs - r0
    hz = os.sysconf("SC_CLK_TCK")
    rows = sorted(totals.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
    print(
        f"{'thread':24} {'user %':>7} {'sys %':>7} {'vcs/s':>8} {'ncs/s':>8}"
        f" {'wait %':>7} {'wait/run µs':>12}"
    )
    for name, (utime, stime, vcs, ncs, wait_ns, runs, seen) in rows:
        if utime + stime == 0:
            continue
        if seen:
            wait = f"{wait_ns / 1e9 / elapsed * 100:7.1f} {wait_ns / 1e3 / max(runs, 1):12.1f}"
        else:
            wait = f"{'-':>7} {'-':>12}"
        print(
            f"{name:24} {utime / hz / elapsed * 100:7.1f} {stime / hz / elapsed * 100:7.1f}"
            f" {vcs / elapsed:8.0f} {ncs / elapsed:8.0f} {wait}"
        )


if __name__ == "__main__":
    main()
