"""Forwarding benchmark with real SM2 encryption of every item (our side) and decryption of every
item (the simulator, its own process), on the same machine: (a) drain a backlog of ratings and their
service records, (b) delivery lag while ratings arrive at a fixed rate (open loop), (c) recovery
after the worker is SIGKILLed mid-drain. PostgreSQL on loopback.

    python bench/forwarding.py                           # 20,000-rating backlog, then 500/s
    python bench/forwarding.py --items-per-ciphertext 20 # PROVINCE_ITEMS_PER_CIPHERTEXT=20

Items counts both records and ratings (each is one encrypted item). Last line:
drain_per_s=N lag_p50_ms=N lag_p95_ms=N recovery_s=N
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation_service.kernel.settings import Settings  # noqa: E402
from evaluation_service.root.bootstrap import forwarder as forwarder_for  # noqa: E402
from evaluation_service.root.bootstrap import new_database  # noqa: E402
from evaluation_service.root.worker import InProcessWorker  # noqa: E402
from tests.forwarding_support import (  # noqa: E402
    Simulator,
    forwarding_settings,
    start_simulator,
)

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "haochaping_bench_forwarding"
DEPARTMENT = "113701240043186227"
ITEM = "1137012400431862270140001001001"


async def seed(url: str, backlog: int, extra: int, prefix: str = "FB") -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DB_NAME}")
    await admin.close()
    env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": tempfile.mkdtemp()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evaluation_service",
        "migrate",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await process.wait() == 0
    conn = await asyncpg.connect(url)
    total = backlog + extra
    await conn.execute(
        "INSERT INTO department (code, name, area_code) VALUES ($1, '审批局', '370124000000')",
        DEPARTMENT,
    )
    await conn.execute(
        "INSERT INTO service_item (code, name, department) VALUES ($1, '个体工商户设立登记', 1)",
        ITEM,
    )
    await conn.execute(
        """INSERT INTO service_transaction (project_no, item, department, area_code, applicant_type,
               applicant_name, applicant_cert_type, applicant_cert_no, applicant_phone,
               applicant_identified, created_at, updated_at)
           SELECT $2 || g, 1, 1, '370124000000', 1, '张三', '111', '370124199001011234',
           '13800001234', true, now(), now()
           FROM generate_series(1, $1) g""",
        total,
        prefix,
    )
    await conn.execute(
        """INSERT INTO service_record (service_transaction, service_number, name, occurred_at,
               window_no, staff_no, rating_deadline, deadline_estimated, created_at)
           SELECT g, 1, '受理', now(), 'W01', 'S001', now() + interval '5 days', false, now()
           FROM generate_series(1, $1) g""",
        total,
    )
    await conn.execute(
        """INSERT INTO evaluation (service_record, assess_number, channel, level, tags, comment,
               real_name, is_default, idempotency_key, indicator_version, received_at)
           SELECT g, 1, 'mobile', 5, '', '', true, false, 'fb-' || g, 'SD-2020', now()
           FROM generate_series(1, $1) g""",
        backlog,
    )
    await conn.execute(
        """INSERT INTO outbox (kind, ref_id, state, attempts, next_attempt_at, last_error,
        created_at)
           SELECT k, g, 'pending', 0, now(), '', now()
           FROM generate_series(1, $1) g, (VALUES ('service_record'), ('evaluation')) v(k)
           WHERE k = 'service_record' OR g <= $2
           ORDER BY g, k DESC""",
        total,
        backlog,
    )
    await conn.execute("ANALYZE")
    await conn.close()


async def arrive(url: str, first: int, rate: int, seconds: float) -> int:
    """Ratings arriving at `rate` per second, each with its outbox row in one transaction."""
    conn = await asyncpg.connect(url)
    sent, start, tick = 0, time.monotonic(), 0.02
    per_tick = max(1, int(rate * tick))
    while time.monotonic() - start < seconds:
        async with conn.transaction():
            ids = await conn.fetch(
                """INSERT INTO evaluation (service_record, assess_number, channel, level, tags,
                       comment, real_name, is_default, idempotency_key, indicator_version,
                       received_at)
                   SELECT g, 1, 'pc', 4, '', '', true, false, 'fl-' || g, 'SD-2020', now()
                   FROM generate_series($1::int, $2::int) g RETURNING id""",
                first + sent,
                first + sent + per_tick - 1,
            )
            await conn.executemany(
                """INSERT INTO outbox (kind, ref_id, state, attempts, next_attempt_at, last_error,
                       created_at) VALUES ('evaluation', $1, 'pending', 0, now(), '', now())""",
                [(r["id"],) for r in ids],
            )
        sent += per_tick
        await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
    await conn.close()
    return sent


async def pending(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'"))
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ratings", type=int, default=20_000, help="backlog of ratings to drain")
    parser.add_argument("--items-per-ciphertext", type=int, default=1)
    parser.add_argument("--recovery-ratings", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=500, help="arrival rate for the lag phase")
    parser.add_argument("--lag-seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=6)
    opts = parser.parse_args()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
    extra = int(opts.rate * opts.lag_seconds) + opts.rate
    print(f"seeding {opts.ratings:,} ratings (and their records) …", flush=True)
    await seed(url, opts.ratings, extra)
    sim = start_simulator(Path(tempfile.mkdtemp()))
    try:
        base = replace(Settings(), database_url=url, db_pool_size=opts.concurrency + 4)
        settings = forwarding_settings(
            base,
            sim,
            forward_batch_size=opts.batch,
            forward_concurrency=opts.concurrency,
            forward_lease_seconds=10.0,
            relay_interval_seconds=0.05,
            forward_retry_base_seconds=1.0,
            forward_retry_max_seconds=30.0,
            province_items_per_ciphertext=opts.items_per_ciphertext,
        )
        db = new_database(settings)
        await db.start()
        worker = InProcessWorker(forwarder_for(db, settings), settings)
        started = time.monotonic()
        worker.start()
        while await pending(url):
            await asyncio.sleep(0.2)
        drain = time.monotonic() - started
        drain_per_s = 2 * opts.ratings / drain
        print(
            f"(a) drained {opts.ratings:,} ratings + {opts.ratings:,} records "
            f"({opts.items_per_ciphertext} item(s) per ciphertext) in {drain:.1f} s",
            flush=True,
        )

        mark = datetime.now(UTC) - timedelta(seconds=1)
        sent = await arrive(url, opts.ratings + 1, opts.rate, opts.lag_seconds)
        while await pending(url):
            await asyncio.sleep(0.1)
        await worker.stop()
        await db.close()
        conn = await asyncpg.connect(url)
        lags = [
            r["lag"]
            for r in await conn.fetch(
                """SELECT extract(epoch FROM delivered_at - created_at) * 1000 AS lag FROM outbox
               WHERE kind = 'evaluation' AND created_at > $1 AND state = 'delivered'""",
                mark,
            )
        ]
        failed = await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'failed'")
        await conn.close()
        lags.sort()
        p50 = statistics.median(lags)
        p95 = lags[int(len(lags) * 0.95) - 1]
        print(
            f"(b) {sent:,} ratings at {opts.rate}/s: lag p50 {p50:.0f} ms, p95 {p95:.0f} ms;"
            f" failed rows: {failed}",
            flush=True,
        )
        stats = await sim.control("/sim/stats")
        print(
            f"province holds {stats['rating']['distinct']:,} ratings "
            f"({stats['rating']['receipts']:,} receipts)",
            flush=True,
        )
        recovery_s = await recovery(url, sim, opts)
    finally:
        sim.process.terminate()
        sim.process.wait(5)
    print(
        f"drain_per_s={drain_per_s:.0f} lag_p50_ms={p50:.0f} lag_p95_ms={p95:.0f} "
        f"recovery_s={recovery_s:.1f}"
    )


async def recovery(url: str, sim: Simulator, opts: argparse.Namespace) -> float:
    """(c) A `worker` process (embedded broker) killed with SIGKILL while it holds claimed rows;
    a second worker is started at once. Seconds from the kill until nothing is pending: bounded by
    the lease the dead worker stopped renewing (FORWARD_LEASE_SECONDS, default 10)."""
    await seed(url, opts.recovery_ratings, 0, prefix="RC")
    env = {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": url,
        "BROKER_URL": "embedded",
        "HAOCHAPING_VAR_DIR": tempfile.mkdtemp(),
        "TOKEN_SECRET": "bench",
        "FORWARD_BATCH_SIZE": str(opts.batch),
        "FORWARD_CONCURRENCY": str(opts.concurrency),
    }
    lease = float(os.environ.get("FORWARD_LEASE_SECONDS", "10"))
    command = [sys.executable, "-m", "evaluation_service", "worker"]
    first = subprocess.Popen(command, cwd=ROOT, env=env)
    total = 2 * opts.recovery_ratings
    while await pending(url) > total * 0.8:  # it is delivering: rows are claimed under its lease
        await asyncio.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    conn = await asyncpg.connect(url)
    # The rows the dead worker held under its lease: what recovery is about.
    held = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at > now()"
        )
    ]
    second = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        while await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE id = ANY($1) AND state = 'pending'", held
        ):
            await asyncio.sleep(0.1)
        took = time.monotonic() - killed_at
        while await pending(url):
            await asyncio.sleep(0.1)
        total = time.monotonic() - killed_at
    finally:
        await conn.close()
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    print(
        f"(c) worker SIGKILLed mid-drain holding {len(held)} rows: those delivered {took:.1f} s "
        f"after the kill (lease {lease:.0f} s, renewed while a delivery runs); "
        f"everything {total:.1f} s after"
    )
    return took


if __name__ == "__main__":
    asyncio.run(main())
