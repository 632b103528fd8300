#!/usr/bin/env python3
"""What PostgreSQL's client backends are doing while a load runs.

Samples pg_stat_activity every INTERVAL seconds for SECS seconds, through
one psql session, and prints, for each state a client backend of DATABASE
was seen in, how many backends were in it on average per sample:

    idle               between statements: waiting for its client
    CPU                running a statement, no wait event set
    LWLock:WALWrite    waiting for another backend's WAL flush (group commit)
    IO:WALSync         flushing WAL itself
    ...                any other wait event, as type:event

Run it beside a load (bench-http.sh's, or the adapter benchmark's), e.g.

    python3 scripts/pg-waits.py --secs 6 --database bench_http_1234

It only reads pg_stat_activity; its own backend is left out. Standard
library and psql only.
"""

import argparse
import collections
import subprocess
import sys
import time

QUERY = """
SELECT CASE WHEN state LIKE 'idle%' THEN state
            ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') END
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
   AND pid <> pg_backend_pid()
   AND ({database} IS NULL OR datname = {database});
"""
END = "__pg_waits_end__"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres",
                        help="where psql connects (default: %(default)s)")
    parser.add_argument("--database", default=None,
                        help="count only backends of this database (default: all)")
    parser.add_argument("--secs", type=float, default=5.0, help="how long to sample (default 5)")
    parser.add_argument("--interval", type=float, default=0.02,
                        help="seconds between samples (default 0.02)")
    args = parser.parse_args()

    database = "NULL" if args.database is None else "'" + args.database.replace("'", "''") + "'"
    query = QUERY.format(database=database)
    psql = subprocess.Popen(["psql", "-X", "-qAt", args.url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    assert psql.stdin is not None and psql.stdout is not None
    tally: collections.Counter[str] = collections.Counter()
    samples = 0
    deadline = time.monotonic() + args.secs
    while time.monotonic() < deadline:
        psql.stdin.write(query + "\\echo " + END + "\n")
        psql.stdin.flush()
        while True:
            line = psql.stdout.readline()
            if not line:
                print("pg-waits: psql ended early", file=sys.stderr)
                return 1
            line = line.strip()
            if line == END:
                break
            if line:
                tally[line] += 1
        samples += 1
        time.sleep(args.interval)
    psql.stdin.close()
    psql.wait()
    if samples == 0:
        print("pg-waits: no sample taken", file=sys.stderr)
        return 1
    print(f"{samples} samples over {args.secs:g} s; backends per sample:")
    for state, count in tally.most_common():
        print(f"{count / samples:7.2f}  {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
