"""Forwarding benchmark: (a) drain a backlog of ratings into the simulator, (b) delivery lag while
ratings arrive at a steady rate. PostgreSQL on loopback, the simulator as its own process, the
in-process worker (the same Forwarder the dramatiq actor calls).

    python bench/forwarding.py                       # 100,000-rating backlog, then 500 ratings/s
    python bench/forwarding.py --ratings 20000 --lag-seconds 5

Last line: drain_per_s=N lag_p50_ms=N lag_p95_ms=N
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation_service.kernel.database import Database  # noqa: E402
from evaluation_service.kernel.settings import Settings  # noqa: E402
from evaluation_service.root.bootstrap import forwarder as forwarder_for  # noqa: E402
from evaluation_service.root.bootstrap import registered_tables  # noqa: E402
from evaluation_service.root.worker import InProcessWorker  # noqa: E402
from tests.forwarding_support import forwarding_settings, start_simulator  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "haochaping_bench_forwarding"
DEPARTMENT = "11370124MB00000013"
ITEM = "3701240000000000000000000000001"


async def seed(url: str, backlog: int, extra: int) -> None:
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
           SELECT 'FB-' || g, 1, 1, '370124000000', 1, '张三', '', '', '13800001234', true,
           now(), now()
           FROM generate_series(1, $1) g""",
        total,
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
    parser.add_argument("--ratings", type=int, default=100_000, help="backlog of ratings to drain")
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
            forward_lease_seconds=120.0,
            relay_interval_seconds=0.05,
            forward_retry_base_seconds=1.0,
            forward_retry_max_seconds=30.0,
        )
        db = Database(url, settings.db_pool_size)
        db.bind(registered_tables())
        await db.start()
        worker = InProcessWorker(forwarder_for(db, settings), settings)
        started = time.monotonic()
        worker.start()
        while await pending(url):
            await asyncio.sleep(0.2)
        drain = time.monotonic() - started
        drain_per_s = opts.ratings / drain
        print(f"(a) drained {opts.ratings:,} ratings (+ records) in {drain:.1f} s", flush=True)

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
    finally:
        sim.process.terminate()
        sim.process.wait(5)
    print(f"drain_per_s={drain_per_s:.0f} lag_p50_ms={p50:.0f} lag_p95_ms={p95:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
