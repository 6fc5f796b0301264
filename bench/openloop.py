"""An open-loop HTTP load: requests leave on a fixed schedule whatever the server does, and each
latency is measured from the request's *intended* send time, so a stalled server shows up as
latency instead of as fewer requests (no coordinated omission, as wrk2 measures it).

The schedule runs inside Debian's wrk (`bench/openloop.lua`: C and LuaJIT), not in Python: the
generator shares the two cores with the server and the database it measures, and the asyncio
generator this replaces cost about 140 us of CPU a request — at 3,000/s, a fifth of the machine
spent on the measurement, not on the service. The server echoes each request's X-Request-ID,
which names the request's slot, so each answer is matched to its due time.

    python bench/openloop.py --url http://127.0.0.1:8000/api/v1/evaluations --rate 3000 \
        --seconds 20 --tokens tokens.txt

Prints one line: offered=N achieved=N ok=N errors=N late_starts=N p50_ms=N p90_ms=N p99_ms=N
p999_ms=N max_ms=N (late_starts: requests that found no free connection for more than 5 ms)
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "openloop.lua"
DRAIN_SECONDS = 5  # after the last request is due, how long its answer may still take
START_DELAY = 1.0  # wrk's start-up (reading the tokens, connecting) comes before the schedule


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def open_loop(
    url: str,
    rate: float,
    seconds: float,
    tokens: list[str],
    connections: int = 64,
    nonce: str = "x",
    threads: int = 1,
    keep: Path | None = None,
) -> dict[str, float]:
    """Offer `rate` requests per second for `seconds` (POSTed ratings, one token each, or GETs
    when `tokens` is empty). Returns offered and achieved rates and latency percentiles (ms);
    `keep` names a file to copy every answer's due time and latency to."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("the open loop needs wrk (apt-get install wrk)")
    if tokens and len(tokens) < rate * seconds:
        sys.exit(
            f"the open loop needs a token a request: {len(tokens)} tokens for "
            f"{rate * seconds:.0f} requests"
        )
    work = Path(tempfile.mkdtemp(prefix="hcp-openloop-"))
    token_file = work / "tokens.txt"
    if tokens:
        token_file.write_text("\n".join(tokens) + "\n")
    out = work / "latencies.txt"
    start_at = time.time() + START_DELAY
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{math.ceil(START_DELAY + seconds + DRAIN_SECONDS)}s",
        "--timeout",
        f"{DRAIN_SECONDS}s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(token_file) if tokens else "",
        str(rate),
        str(seconds),
        f"{start_at:.6f}",
        nonce,
        str(out),
        str(threads),
    ]
    subprocess.run(command, capture_output=True, text=True, check=True)
    lines = out.read_text().splitlines()
    for text in lines:
        if text.startswith("FIRST_ERROR"):
            print(f"open loop: {text}", file=sys.stderr)
    summary = dict(pair.split("=") for pair in lines[-1].split()[1:])
    answers = [text.split() for text in lines if not text[0].isalpha()]
    latencies = sorted(float(latency) for _, latency in answers)
    if keep is not None:
        shutil.copy(out, keep)
    shutil.rmtree(work, ignore_errors=True)
    offered = int(summary["offered"])
    missing = offered - len(latencies)  # never answered within the drain time, or unmatched
    errors = int(summary["errors"]) + max(missing, 0)
    return {
        "offered": rate,
        "achieved": len(latencies) / seconds,
        "ok": len(latencies) - int(summary["errors"]),
        "errors": errors,
        "late_starts": int(summary["late_starts"]),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "p999_ms": percentile(latencies, 0.999) * 1000,
        "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
    }


def line(result: dict[str, float]) -> str:
    return " ".join(
        f"{k}={v:.0f}"
        if k in ("offered", "achieved", "ok", "errors", "late_starts")
        else f"{k}={v:.1f}"
        for k, v in result.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tokens", help="file of rating tokens, one a line (POST ratings)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    opts = parser.parse_args()
    tokens = Path(opts.tokens).read_text().split() if opts.tokens else []
    result = open_loop(
        opts.url,
        opts.rate,
        opts.seconds,
        tokens,
        opts.connections,
        str(int(time.time())),
        opts.threads,
    )
    print(line(result))


if __name__ == "__main__":
    main()
