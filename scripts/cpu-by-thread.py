#!/usr/bin/env python3
"""CPU time and context switches per thread name over an interval.

Reads /proc/<pid>/task/<tid>/stat and .../status for every thread on the
machine, sleeps SECONDS, reads them again, and prints for each thread name
(every PostgreSQL process counted as `postgres`) its user and system time
as a percentage of one core, with its voluntary and involuntary context
switches per second. Used for docs/performance.md: run it during a load,

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
            )
    return threads


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    before = snapshot()
    started = time.monotonic()
    time.sleep(seconds)
    after = snapshot()
    elapsed = time.monotonic() - started
    totals = collections.defaultdict(lambda: [0, 0, 0, 0])
    for key, (name, utime, stime, vcs, ncs) in after.items():
        _, u0, s0, v0, n0 = before.get(key, (name, 0, 0, 0, 0))
        total = totals[name]
        total[0] += utime - u0
        total[1] += stime - s0
        total[2] += vcs - v0
        total[3] += ncs - n0
    hz = os.sysconf("SC_CLK_TCK")
    rows = sorted(totals.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
    print(f"{'thread':24} {'user %':>7} {'sys %':>7} {'vcs/s':>8} {'ncs/s':>8}")
    for name, (utime, stime, vcs, ncs) in rows:
        if utime + stime == 0:
            continue
        print(
            f"{name:24} {utime / hz / elapsed * 100:7.1f} {stime / hz / elapsed * 100:7.1f}"
            f" {vcs / elapsed:8.0f} {ncs / elapsed:8.0f}"
        )


if __name__ == "__main__":
    main()
