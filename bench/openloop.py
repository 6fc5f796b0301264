"""An open-loop HTTP load generator: requests leave on a fixed schedule whatever the server does,
and each latency is measured from the request's *intended* send time, so a stalled server shows up
as latency instead of as fewer requests (no coordinated omission, as wrk2 measures it).

Several processes (the rate split between them), each an asyncio loop with a pool of keep-alive
connections; request i of a process is due at start + i / rate. When every connection is busy the
request waits for one, and that wait counts in its latency. Requests are built before the clock
starts and answers are parsed in the connection's `data_received` (raw HTTP/1.1, no task per
request), so the generator's own cost per request stays small: it shares the machine with the
server it measures.

    python bench/openloop.py --url http://127.0.0.1:8000/api/v1/evaluations --rate 3000 \
        --seconds 20 --tokens tokens.txt

Prints one line: offered=N achieved=N ok=N errors=N late_starts=N p50_ms=N p90_ms=N p99_ms=N
p999_ms=N max_ms=N
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import re
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


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class _Connection(asyncio.Protocol):
    """One keep-alive connection that answers one request at a time and parses the answer in
    `data_received`: no task and no coroutine per request, so the generator's own cost per request
    stays small beside the server's (both share the machine)."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.due = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        self.due, self.busy, self.buffer = due, True, b""
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        found = _CONTENT_LENGTH.search(self.buffer, 0, end + 2)
        length = int(found.group(1)) if found else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.busy = False
        self.run.answered(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        # Busy: the request is an error. Idle (the server's keep-alive timeout closed it): it just
        # leaves the pool. Either way a new connection takes its place.
        self.run.lost(self, self.busy)
        self.busy = False


class _Run:
    """The schedule of one process: request n is due at start + n / rate. A due request goes out
    on a free connection at once, or waits in line for the next one to free up; its latency is
    measured from its due time either way."""

    def __init__(self, plan: Plan, requests: list[bytes]) -> None:
        self.plan = plan
        self.requests = requests
        # Free connections, used in turn (first freed, first used) so none idles into the
        # server's keep-alive timeout.
        self.free: collections.deque[_Connection] = collections.deque()
        self.waiting: collections.deque[tuple[bytes, float]] = collections.deque()
        self.latencies: list[float] = []
        self.errors = 0
        self.outstanding = 0
        self.finished = asyncio.get_running_loop().create_future()
        self.scheduled_all = False
        self._replacing: set[asyncio.Task[None]] = set()

    def dispatch(self, request: bytes, due: float) -> None:
        self.outstanding += 1
        if self.free:
            self.free.popleft().send(request, due)
        else:
            self.waiting.append((request, due))

    def answered(self, connection: _Connection, status: int) -> None:
        self.latencies.append(time.time() - connection.due)
        if status >= 300:
            self.errors += 1
        self._next(connection)

    def lost(self, connection: _Connection, busy: bool) -> None:
        if busy:
            self.errors += 1
        elif connection in self.free:
            self.free.remove(connection)
            self.outstanding += 1  # balanced by _replace, which treats it as answered
        task = asyncio.ensure_future(self._replace())
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self) -> None:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(self), self.plan.host, self.plan.port
        )
        self.outstanding -= 1
        self._check_done()
        if self.waiting:
            request, due = self.waiting.popleft()
            connection.send(request, due)
        else:
            self.free.append(connection)

    def _next(self, connection: _Connection) -> None:
        self.outstanding -= 1
        if self.waiting:
            request, due = self.waiting.popleft()
            connection.send(request, due)
        else:
            self.free.append(connection)
        self._check_done()

    def _check_done(self) -> None:
        if self.outstanding == 0 and self.scheduled_all and not self.finished.done():
            self.finished.set_result(None)


async def _run(plan: Plan) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    total = int(plan.rate * plan.seconds)
    requests = [_request(plan, n) for n in range(total)]  # built before the clock starts
    run = _Run(plan, requests)
    for _ in range(plan.connections):
        _, connection = await loop.create_connection(lambda: _Connection(run), plan.host, plan.port)
        run.free.append(connection)
    late = 0
    interval = 1.0 / plan.rate
    clock: Callable[[], float] = time.time
    await asyncio.sleep(max(0.0, plan.start_at - clock()))
    start = plan.start_at + plan.offset
    n = 0
    while n < total:
        now = clock()
        # Everything due by now goes out; then sleep until the next one is due.
        while n < total and start + n * interval <= now:
            due = start + n * interval
            if (now - due) * 1000 > LATE_MS:
                late += 1
            run.dispatch(requests[n], due)
            n += 1
        if n < total:
            await asyncio.sleep(max(0.0, start + n * interval - clock()))
    run.scheduled_all = True
    run._check_done()
    await run.finished
    elapsed = clock() - start
    return {"latencies": run.latencies, "errors": run.errors, "late": late, "elapsed": elapsed}


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
