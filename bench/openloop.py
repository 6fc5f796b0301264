"""An open-loop HTTP load generator: requests leave on a fixed schedule whatever the server does,
and each latency is measured from the request's *intended* send time, so a stalled server shows up
as latency instead of as fewer requests (no coordinated omission, as wrk2 measures it).

Several processes (the rate split between them), each an asyncio loop with a pool of keep-alive
connections; request i of a process is due at start + i / rate. When every connection is busy the
request waits for one, and that wait counts in its latency. Raw HTTP/1.1 on asyncio streams keeps
the generator's own cost per request low enough to offer thousands per second from Python.

    python bench/openloop.py --url http://127.0.0.1:8000/api/v1/evaluations --rate 3000 \
        --seconds 20 --tokens tokens.txt

Prints one line: offered=N achieved=N ok=N errors=N late_starts=N p50_ms=N p90_ms=N p99_ms=N
p999_ms=N max_ms=N
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LATE_MS = 5.0  # a request that could not even be *started* this late means the generator lagged


@dataclass(frozen=True)
class Plan:
    host: str
    port: int
    path: str
    rate: float  # this process's share, requests per second
    seconds: float
    connections: int
    start_at: float  # wall-clock time every process starts at
    offset: float  # this process's shift, so the processes' schedules interleave evenly
    tokens: list[str]
    nonce: str
    index: int


def rating_body(token: str, key: str, n: int) -> bytes:
    return json.dumps(
        {
            "channel": "mobile",
            "level": 5 - n % 3,
            "tags": [],
            "comment": "",
            "idempotency_key": key,
            "rating_token": token,
        }
    ).encode()


def _request(plan: Plan, n: int) -> bytes:
    if not plan.tokens:
        return f"GET {plan.path} HTTP/1.1\r\nHost: {plan.host}\r\n\r\n".encode()
    body = rating_body(plan.tokens[n % len(plan.tokens)], f"ol-{plan.nonce}-{plan.index}-{n}", n)
    head = (
        f"POST {plan.path} HTTP/1.1\r\nHost: {plan.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    status_line = await reader.readline()
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _run(plan: Plan) -> dict[str, object]:
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(plan.connections):
        free.put_nowait(await asyncio.open_connection(plan.host, plan.port))
    latencies: list[float] = []
    errors = 0
    late = 0
    total = int(plan.rate * plan.seconds)
    interval = 1.0 / plan.rate
    clock: Callable[[], float] = time.time
    pending: set[asyncio.Task[None]] = set()

    async def one(n: int, due: float) -> None:
        nonlocal errors
        reader, writer = await free.get()
        try:
            status = await _exchange(reader, writer, _request(plan, n))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors += 1
            writer.close()
            free.put_nowait(await asyncio.open_connection(plan.host, plan.port))
            return
        latencies.append(clock() - due)
        free.put_nowait((reader, writer))
        if status >= 300:
            errors += 1

    await asyncio.sleep(max(0.0, plan.start_at - clock()))
    start = plan.start_at + plan.offset
    for n in range(total):
        due = start + n * interval
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay * 1000 > LATE_MS:
            late += 1
        task = asyncio.create_task(one(n, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    elapsed = clock() - start
    return {"latencies": latencies, "errors": errors, "late": late, "elapsed": elapsed}


def _process(plan: Plan, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out.put(asyncio.run(_run(plan)))


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def open_loop(
    url: str,
    rate: float,
    seconds: float,
    tokens: list[str],
    processes: int = 2,
    connections: int = 64,
    nonce: str = "x",
) -> dict[str, float]:
    """Offer `rate` requests per second for `seconds`; each process takes every processes-th
    token. Returns offered and achieved rates and latency percentiles (ms) from intended times."""
    parts = urlsplit(url)
    start_at = time.time() + 0.5
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(
            target=_process,
            args=(
                Plan(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or 80,
                    path=parts.path or "/",
                    rate=rate / processes,
                    seconds=seconds,
                    connections=max(1, connections // processes),
                    start_at=start_at,
                    offset=i / rate,
                    tokens=tokens[i::processes],
                    nonce=nonce,
                    index=i,
                ),
                out,
            ),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    latencies = sorted(x for r in results for x in r["latencies"])
    elapsed = max(r["elapsed"] for r in results)
    errors = sum(r["errors"] for r in results)
    return {
        "offered": rate,
        "achieved": len(latencies) / elapsed,
        "ok": len(latencies) - errors,
        "errors": errors,
        "late_starts": sum(r["late"] for r in results),
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
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    opts = parser.parse_args()
    tokens = Path(opts.tokens).read_text().split() if opts.tokens else []
    result = open_loop(
        opts.url,
        opts.rate,
        opts.seconds,
        tokens,
        opts.processes,
        opts.connections,
        str(int(time.time())),
    )
    print(line(result))


if __name__ == "__main__":
    main()
