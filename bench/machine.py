"""How fast this machine is today, printed first by the benches.

The same code measures differently on two machines of the same "2 cores" kind, from one day to the
next: a shared host lends faster or slower cores, and a virtual machine may make each system call
and each switch between processes cost several times what it costs on another. The intake is made
of those (a rating crosses loopback twice and PostgreSQL once), so the benches print a pure Python
loop and two ping-pongs between processes over a Unix socket:

- on one core: two system calls and a switch between processes each way, what a loaded machine
  pays;
- across the cores, from idle: the same, plus waking an idle core. In a virtual machine that wake
  can cost ten times the rest (measured 55 us here against 4.4 us on one core, and 4.4 us again
  across the cores while the machine was busy), so this figure says little about a bench, which
  keeps the cores busy.

The figures of two runs compare only next to these lines.
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


def ping_pong_us(one_core: bool = False) -> float:
    """Microseconds for one round trip of a byte between two processes over a Unix socket: two
    sends, two receives and two wake-ups, the best of three runs of 20,000; both processes on the
    first core of this process's set when `one_core`."""
    ours, theirs = socket.socketpair()
    cores = os.sched_getaffinity(0)
    if one_core:
        os.sched_setaffinity(0, {min(cores)})
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
        os.sched_setaffinity(0, cores)
    return best


def line() -> str:
    return (
        f"machine: a 10-million-step Python loop takes {python_loop_seconds():.2f} s; a round "
        f"trip between two processes {ping_pong_us(one_core=True):.1f} us on one core, "
        f"{ping_pong_us():.1f} us across cores (best of 3 each)"
    )


if __name__ == "__main__":
    print(line())
