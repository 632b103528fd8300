#!/usr/bin/env python3
"""Time pipelined requests on one connection to invitation-server.

Starts BINARY (an invitation-server build) on the memory store with a
bootstrap token, then ROUNDS times sends three GETs of the invitation list
in one write on one kept-alive connection and waits for the three answers.
Prints the time per round (min, median, max) and how many rounds took over
20 ms. With Nagle's algorithm on the server's socket, the second and third
answers, written while the first is not yet acknowledged, wait for the
client's delayed ACK (about 40 ms on Linux); with TCP_NODELAY they do not.

    cargo build -p invitation-server
    python3 scripts/pipelined-gets.py target/debug/invitation-server

Standard library only.
"""

import argparse
import re
import socket
import statistics
import subprocess
import sys
import time

TOKEN = "pipelined-gets-token-0123456789abcdef"
PATH = "/api/v3/stages/invitation/invitations/"


def read_answer(conn: socket.socket, buffered: bytes) -> bytes | None:
    """Reads one answer (head, then Content-Length bytes of body) after
    `buffered`; returns what came after it, or None if the connection
    closed first."""
    while b"\r\n\r\n" not in buffered:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffered += chunk
    head, rest = buffered.split(b"\r\n\r\n", 1)
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    size = int(length[1]) if length else 0
    while len(rest) < size:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return rest[size:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", help="the invitation-server program")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of three GETs (default 30)")
    args = parser.parse_args()

    server = subprocess.Popen(
        [args.binary, "--listen", "127.0.0.1:0"],
        env={"INVITATION_BOOTSTRAP_TOKEN": TOKEN, "RUST_LOG": "warn"},
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = None
        for line in server.stdout:
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found[1])
                break
        if port is None:
            print("pipelined-gets: the server printed no address", file=sys.stderr)
            return 1
        request = (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()
        times = []
        with socket.create_connection(("127.0.0.1", port)) as conn:
            for _ in range(args.rounds):
                begun = time.perf_counter()
                conn.sendall(request * 3)
                received = b""
                for _ in range(3):
                    received = read_answer(conn, received)
                    if received is None:
                        print("pipelined-gets: the server closed the connection", file=sys.stderr)
                        return 1
                times.append((time.perf_counter() - begun) * 1000)
    finally:
        server.terminate()
        server.wait()
    times.sort()
    print(f"{args.binary}: {args.rounds} rounds of 3 pipelined GETs, ms per round: "
          f"min {times[0]:.2f}, median {statistics.median(times):.2f}, max {times[-1]:.2f}; "
          f"over 20 ms: {sum(t > 20 for t in times)} of {args.rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
