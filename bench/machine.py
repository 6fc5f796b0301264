"""How fast this machine's cores are today, printed first by the benches.

The same code measures differently on two machines of the same "2 cores" kind: a shared host
lends slower or faster cores from one day to the next (a 10-million-step Python loop has taken
0.69 s on one day and 1.67 s on another). The figures of two runs compare only next to this one.
"""

from __future__ import annotations

import time

STEPS = 10_000_000


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


def line() -> str:
    return f"machine: a 10-million-step Python loop takes {python_loop_seconds():.2f} s (best of 3)"


if __name__ == "__main__":
    print(line())
