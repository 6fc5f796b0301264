"""How fast this machine is today, printed first by the benches.

The same code measures differently on two machines of the same "2 cores" kind, from one day to the
next: a shared host lends faster or slower cores, and a virtual machine may make each system call
and each switch between processes cost several times what it costs on another. The intake is made
of those (a rating crosses loopback twice and PostgreSQL once), so the benches print both: a pure
Python loop and a ping-pong between two processes over a Unix socket. The figures of two runs
compare only next to these lines.
"""

from __future__ import annotations

import os
import socket
import time

STEPS = 10_000_000
ROUND_TRIPS = 20_000


def python_loop_seconds() -> float:
    """Seconds for a 10-million-step pure Python loop: the best of three, so a moment of noise
    from elsewhere on the machine does not count."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for step in range(STEPS):
            total += step
        best = min(best, time.perf_counter() - started)
    return best


def ping_pong_us() -> float:
    """Microseconds for one round trip of a byte between two processes over a Unix socket: two
    sends, two receives and two wake-ups, the best of three runs of 20,000."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:  # the echo: answer every byte until the socket closes
        ours.close()
        while theirs.recv(1):
            theirs.send(b"x")
        os._exit(0)
    theirs.close()
    best = float("inf")
    try:
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(ROUND_TRIPS):
                ours.send(b"x")
                ours.recv(1)
            best = min(best, (time.perf_counter() - started) / ROUND_TRIPS * 1e6)
    finally:
        ours.close()
        os.waitpid(child, 0)
    return best


def line() -> str:
    return (
        f"machine: a 10-million-step Python loop takes {python_loop_seconds():.2f} s, "
        f"a round trip between two processes {ping_pong_us():.1f} us (best of 3 each)"
    )


if __name__ == "__main__":
    print(line())
