"""Deadline sweep benchmark: one sweep over 100,000 open tickets on PostgreSQL.

Creates a scratch database, migrates it, seeds departments, staff and 100,000 open tickets (with
their transactions, service records and ratings) in set-based SQL, then times one
`Rectification.sweep`: the yellow and red marking and the notifications, all set-based.
About a tenth of the tickets are overdue and a tenth are due within a working day.

    python bench/sweep.py [--tickets 100000]

Last line: sweep_s=N open_tickets=N
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation_service.kernel.settings import Settings, StepDays  # noqa: E402
from evaluation_service.kernel.workdays import WorkCalendar  # noqa: E402
from evaluation_service.root.bootstrap import new_database  # noqa: E402
from rectification.model import OPEN_STATES, TicketClock  # noqa: E402
from rectification.service import Rectification  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "haochaping_bench_sweep"
DEPARTMENTS = 50

SEED_SQL = [
    # Departments and one service item each; the codes only need to be unique here.
    """INSERT INTO department (code, name, area_code)
       SELECT 'BENCH' || lpad(g::text, 13, '0'), '部门' || g, '370124000000'
       FROM generate_series(1, {departments}) g""",
    """INSERT INTO service_item (code, name, department)
       SELECT 'BENCHITEM' || lpad(d.id::text, 22, '0'), '事项' || d.id, d.id FROM department d""",
    # Five supervisors and two liaisons per department, who all receive notifications.
    """INSERT INTO staff_user (username, display_name, role, department, password_hash)
       SELECT 'supervisor' || g, '监督员' || g, 'supervisor', NULL, 'x'
       FROM generate_series(1, 5) g""",
    """INSERT INTO staff_user (username, display_name, role, department, password_hash)
       SELECT 'liaison' || d.id || '-' || g, '联络员', 'liaison', d.id, 'x'
       FROM department d CROSS JOIN generate_series(1, 2) g""",
    """INSERT INTO service_transaction (project_no, item, department, area_code, applicant_type,
           applicant_name, applicant_phone, applicant_identified, created_at, updated_at)
       SELECT 'BENCH' || g, i.id, i.department, '370124000000', 1, '张三', '13800001234', true,
              now(), now()
       FROM generate_series(1, {tickets}) g
       JOIN service_item i ON i.id = 1 + g % {departments}""",
    """INSERT INTO service_record (service_transaction, service_number, name, occurred_at,
           window_no, staff_no, rating_deadline, created_at)
       SELECT t.id, 1, '受理', now() - interval '2 days', 'W01', 'S001',
              now() + interval '3 days', now()
       FROM service_transaction t""",
    """INSERT INTO evaluation (service_record, assess_number, channel, level, tags, comment,
           real_name, idempotency_key, received_at)
       SELECT sr.id, 1, 'mobile', 1, 'B101', '差评', true, 'bench-' || sr.id, now()
       FROM service_record sr""",
    # Every open state; due dates: 10 % overdue, 10 % due within a day (yellow), the rest later.
    """INSERT INTO ticket (evaluation, service_record, service_transaction, department, item, level,
           window_no, staff_no, state, due_at, warn_at, opened_at, updated_at)
       SELECT e.id, sr.id, t.id, t.department, t.item, 1, 'W01', 'S001',
              (ARRAY[{states}])[1 + e.id % {state_count}],
              CASE WHEN e.id % 10 = 0 THEN now() - interval '1 day'
                   WHEN e.id % 10 = 1 THEN now() + interval '12 hours'
                   ELSE now() + interval '5 days' END,
              CASE WHEN e.id % 10 = 0 THEN now() - interval '2 days'
                   WHEN e.id % 10 = 1 THEN now() - interval '12 hours'
                   ELSE now() + interval '4 days' END,
              now() - interval '3 days', now()
       FROM evaluation e
       JOIN service_record sr ON sr.id = e.service_record
       JOIN service_transaction t ON t.id = sr.service_transaction""",
    "ANALYZE",
]


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": tempfile.mkdtemp()}
    subprocess.run(
        [sys.executable, "-m", "evaluation_service", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


async def seed(url: str, tickets: int) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DB_NAME}")
    await admin.close()
    migrate(url)
    states = sorted(OPEN_STATES)
    connection = await asyncpg.connect(url)
    try:
        for statement in SEED_SQL:
            await connection.execute(
                statement.format(
                    tickets=tickets,
                    departments=DEPARTMENTS,
                    states=", ".join(f"'{s}'" for s in states),
                    state_count=len(states),
                )
            )
    finally:
        await connection.close()


async def run(tickets: int) -> None:
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
    started = time.perf_counter()
    await seed(url, tickets)
    print(f"seeded {tickets} open tickets in {time.perf_counter() - started:.1f}s", flush=True)
    db = new_database(Settings(database_url=url), pool_size=2)
    await db.start()
    try:
        service = Rectification(db, TicketClock(WorkCalendar(), _zone(), StepDays()))
        open_tickets = await db.pool.fetchval(
            "SELECT count(*) FROM ticket WHERE state <> ALL($1::text[])",
            ["closed", "closed_invalid"],
        )
        started = time.perf_counter()
        result = await service.sweep(datetime.now(UTC))
        elapsed = time.perf_counter() - started
        notifications = await db.pool.fetchval("SELECT count(*) FROM notification")
    finally:
        await db.close()
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        await admin.close()
    print(f"yellow={result.yellow} red={result.red} notifications={notifications}")
    print(f"sweep_s={elapsed:.3f} open_tickets={open_tickets}")


def _zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(run(args.tickets))


if __name__ == "__main__":
    main()
