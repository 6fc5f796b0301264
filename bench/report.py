"""Monthly report benchmark: one month of 1,000,000 ratings and 20,000 tickets on PostgreSQL.

Creates a scratch database, migrates it, seeds the month with set-based SQL (generate_series, no
row-by-row inserts), then times `Reports.generate` — queries, frames, figures, page and archive —
and reads the process's peak resident memory. Targets: ≤ 10 s and ≤ 1 GB.

    python bench/report.py                      # PostgreSQL on 127.0.0.1:5432 (BENCH_POSTGRES_URL)
    python bench/report.py --ratings 100000     # a smaller month
    python bench/report.py --keep               # leave the scratch database for a look

Last line: report_s=N peak_mb=N ratings=N
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import line as machine_speed  # noqa: E402

from evaluation_service.kernel.settings import Settings  # noqa: E402
from evaluation_service.root.bootstrap import (  # noqa: E402
    build_calendar,
    new_database,
)
from reports import render  # noqa: E402
from reports.model import ReportMonth  # noqa: E402
from reports.service import Reports  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MONTH = ReportMonth(2026, 10)
START = "2026-09-30 16:00:00+00"  # 1 October 00:00 in Asia/Shanghai
SECONDS_IN_MONTH = 31 * 86400
DEPARTMENTS, ITEMS_PER_DEPARTMENT, WINDOWS, STAFF_PER_WINDOW = 20, 10, 40, 3
COMMENT_CLAUSES = (
    "窗口人员态度不好",
    "材料要求反复变",
    "排队等了很久",
    "还让我回去补复印件",
    "系统老是卡顿",
    "跑了三趟",
    "没有一次性告知",
    "工作人员玩手机",
    "收费不合理",
    "办得太慢了",
    "电话打不通",
    "停车难",
    "推来推去没人管",
    "网上办登录不上",
    "说不清楚要什么材料",
    "态度差还不耐烦",
    "叫号系统乱",
    "超过承诺时限",
)


def seed_sql(ratings: int, tickets: int, extra_records: int, defaults: int) -> list[str]:
    """The month, as a handful of INSERT … SELECT over generate_series."""
    records = ratings + defaults + extra_records
    items = DEPARTMENTS * ITEMS_PER_DEPARTMENT
    # A spread of each rating over the month, by its number i in 1..ratings.
    at = (
        f"TIMESTAMPTZ '{START}' + (i * {SECONDS_IN_MONTH // max(records, 1)}) * INTERVAL '1 second'"
    )
    # Levels: 60 % 5, 20 % 4, 10 % 3, 6 % 2, 4 % 1; one bad rating in ten.
    level = (
        "CASE WHEN i % 100 < 60 THEN 5 WHEN i % 100 < 80 THEN 4 WHEN i % 100 < 90 THEN 3 "
        "WHEN i % 100 < 96 THEN 2 ELSE 1 END"
    )
    # Three bad ratings in ten carry words: one to three clauses of what citizens write, and a
    # number, so that few comments are identical (themes cut each distinct clause once).
    clauses = ", ".join(f"'{c}'" for c in COMMENT_CLAUSES)
    n_clauses = len(COMMENT_CLAUSES)
    comment = (
        f"CASE WHEN i % 100 >= 90 AND i % 10 < 3 THEN (ARRAY[{clauses}])[i % {n_clauses} + 1]"
        f" || CASE WHEN i % 3 > 0 THEN '，' || (ARRAY[{clauses}])[(i / 7) % {n_clauses} + 1]"
        " ELSE '' END || '，等了' || (i % 120) || '分钟' ELSE '' END"
    )
    return [
        f"""INSERT INTO department (id, code, name, area_code)
            SELECT d, '11370124MB' || lpad(d::text, 8, '0'), '部门' || d, '370124000000'
            FROM generate_series(1, {DEPARTMENTS}) d""",
        # A counter evaluator per window, and staff with their own phones (none rates itself).
        f"""INSERT INTO device (id, device_id, kind, name, key_hash, active, voice_prompts)
            SELECT d, 'BENCH-DEV-' || d, 'window', '评价器' || d, md5(d::text), true, false
            FROM generate_series(1, {WINDOWS}) d""",
        f"""INSERT INTO staff (staff_no, name, department, phone, star_level, photo_sha256)
            SELECT 'S' || lpad(n::text, 3, '0'), '工作人员' || n, n % {DEPARTMENTS} + 1,
                   '139' || lpad(n::text, 8, '0'), 0, ''
            FROM generate_series(0, {WINDOWS * STAFF_PER_WINDOW - 1}) n""",
        f"""INSERT INTO service_item (id, code, name, department)
            SELECT n, lpad(n::text, 31, '0'), '事项' || n, (n - 1) / {ITEMS_PER_DEPARTMENT} + 1
            FROM generate_series(1, {items}) n""",
        """INSERT INTO indicator (version, level, code, text) VALUES
            ('SD-2020', 2, 'B201', '服务态度差'),
            ('SD-2020', 2, 'B202', '未一次性告知导致多次跑腿'),
            ('SD-2020', 1, 'B101', '收取指南以外材料'), ('SD-2020', 1, 'B102', '超承诺时限'),
            ('SD-2020', 1, 'B103', '等待时间长'), ('SD-2020', 2, 'B203', '系统不好用')""",
        # One transaction per record; the item decides the department.
        f"""INSERT INTO service_transaction (id, project_no, item, department, area_code,
                applicant_type, applicant_name, applicant_phone, applicant_identified,
                created_at, updated_at)
            SELECT i, 'BENCH' || i, i % {items} + 1, (i % {items}) / {ITEMS_PER_DEPARTMENT} + 1,
                   '370124000000', 1, '申请人', '138' || lpad((i % 400000)::text, 8, '0'), true,
                   {at}, {at}
            FROM generate_series(1, {records}) i""",
        f"""INSERT INTO service_record (id, service_transaction, service_number, name, occurred_at,
                window_no, staff_no, rating_deadline, created_at)
            SELECT i, i, 1, '办结', {at}, 'W' || lpad((i % {WINDOWS})::text, 2, '0'),
                   'S' || lpad(((i % {WINDOWS}) * {STAFF_PER_WINDOW} + (i / {WINDOWS}) %
                               {STAFF_PER_WINDOW})::text, 3, '0'),
                   {at} + INTERVAL '7 days', {at}
            FROM generate_series(1, {records}) i""",
        # Window and kiosk ratings come from the window's evaluator device.
        f"""INSERT INTO evaluation (id, service_record, assess_number, channel, level, tags,
                comment, real_name, is_default, idempotency_key, received_at, device)
            SELECT i, i, 1,
                   (ARRAY['pc', 'mobile', 'qr', 'window', 'kiosk'])[i % 5 + 1],
                   {level},
                   CASE WHEN i % 100 >= 96 THEN (ARRAY['B101', 'B102', 'B101,B103'])[i % 3 + 1]
                        WHEN i % 100 >= 90 THEN (ARRAY['B201', 'B202', 'B201,B203'])[i % 3 + 1]
                        ELSE '' END,
                   {comment}, (i % 100 >= 90 AND (i / 100) % 5 = 0), false, 'bench-' || i,
                   {at} + INTERVAL '10 minutes',
                   CASE WHEN i % 5 >= 3 THEN i % {WINDOWS} + 1 END
            FROM generate_series(1, {ratings}) i""",
        # Default ratings (pf=7): stored, never counted.
        f"""INSERT INTO evaluation (id, service_record, assess_number, channel, level, tags,
                comment, real_name, is_default, idempotency_key, received_at)
            SELECT i, i, 1, 'window', 5, '', '', false, true, 'bench-default-' || i,
                   {at} + INTERVAL '5 days'
            FROM generate_series({ratings + 1}, {ratings + defaults}) i""",
        # One ticket per real-name bad review, the first `tickets` of them.
        f"""INSERT INTO ticket (evaluation, service_record, service_transaction, department, item,
                level, window_no, staff_no, state, due_at, redo_count, extension_used,
                feedback_contact_method, opened_at, closed_at, closed_invalid_at, updated_at)
            SELECT e.id, r.id, t.id, t.department, t.item, e.level, r.window_no, r.staff_no,
                   s.state,
                   CASE WHEN s.state IN ('closed', 'closed_invalid') THEN NULL
                        ELSE e.received_at + (n % 20) * INTERVAL '1 day' END,
                   CASE WHEN n % 17 = 0 THEN 1 ELSE 0 END, n % 9 = 0,
                   CASE WHEN s.state IN ('closed', 'supervision') THEN 'phone' ELSE '' END,
                   e.received_at,
                   CASE WHEN s.state = 'closed' THEN e.received_at + (n % 25) * INTERVAL '1 day'
                   END,
                   CASE WHEN s.state = 'closed_invalid' THEN e.received_at + INTERVAL '3 days'
                   END,
                   e.received_at
            FROM (SELECT id, service_record, level, received_at,
                         row_number() OVER (ORDER BY id) AS n
                  FROM evaluation WHERE real_name AND level <= 2) e
            JOIN service_record r ON r.id = e.service_record
            JOIN service_transaction t ON t.id = r.service_transaction
            CROSS JOIN LATERAL (SELECT CASE
                 WHEN e.n % 20 < 12 THEN 'closed' WHEN e.n % 20 = 12 THEN 'closed_invalid'
                 WHEN e.n % 20 < 16 THEN 'rectifying' WHEN e.n % 20 < 18 THEN 'supervision'
                 ELSE 'opened' END AS state) s
            WHERE e.n <= {tickets}""",
        # Forwarding: a message per record and per rating; most delivered within seconds.
        f"""INSERT INTO outbox (kind, ref_id, state, attempts, next_attempt_at, created_at,
                delivered_at)
            SELECT k.kind, i,
                   CASE WHEN i % 1000 < 985 THEN 'delivered' WHEN i % 1000 < 995 THEN 'pending'
                        ELSE 'failed' END,
                   1, {at}, {at},
                   CASE WHEN i % 1000 < 985 THEN {at} + (i % 30) * INTERVAL '1 second' END
            FROM generate_series(1, {records}) i
            CROSS JOIN (VALUES ('service_record'), ('evaluation')) k(kind)""",
        "ANALYZE",
    ]


def migrate(url: str) -> None:
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": var_dir}
        result = subprocess.run(
            [sys.executable, "-m", "evaluation_service", "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        sys.exit(f"migrate failed:\n{result.stdout}{result.stderr}")


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def seed(url: str, statements: list[str]) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            started = time.perf_counter()
            await connection.execute(statement)
            first = " ".join(statement.split()[:3])
            print(f"  seeded: {first:<40} {time.perf_counter() - started:6.1f}s", flush=True)
    finally:
        await connection.close()


# The staff frame's stylesheets, fetched with the month page (/reports/{month} is in the frame).
FRAME_CSS = [
    ROOT / "evaluation_service" / "evaluations" / "static" / name
    for name in ("site.css", "staff.css")
]
FRAME_HTML_ALLOWANCE = 4_000  # the frame's header, navigation, tools bar and footer, generously


def first_view_kb(html: str) -> float:
    """What a first view transfers, gzipped as the app sends it: the month page in the staff
    frame (the archived page's body and scoped stylesheet, the frame), the frame's stylesheets
    and the two scripts."""
    names = (render.plotly_asset_name(), render.report_asset_name())
    parts = [html, *(render.asset(name) or "" for name in names)]
    parts += [path.read_text(encoding="utf-8") for path in FRAME_CSS]
    compressed = sum(len(gzip.compress(part.encode(), compresslevel=6)) for part in parts)
    return (compressed + FRAME_HTML_ALLOWANCE) / 1024


async def generate(url: str) -> tuple[float, int, float]:
    settings = Settings(database_url=url, token_secret="bench", db_pool_size=10)
    db = new_database(settings)
    await db.start()
    try:
        reports = Reports.from_settings(db, settings, build_calendar(settings))
        started = time.perf_counter()
        finished: list[tuple[str, float]] = []

        def progress(step: str) -> None:
            finished.append((step, time.perf_counter() - started))

        await reports.generate(MONTH, datetime(2026, 11, 1, 1, 0, tzinfo=UTC), progress)
        elapsed = time.perf_counter() - started
        metrics = await reports.metrics(MONTH)
        html, _, _ = await reports.page(MONTH)
    finally:
        await db.close()
    # Queries run side by side: each step's time is when it finished, counted from the start.
    print("  done at: " + ", ".join(f"{step} {at:.1f}s" for step, at in finished))
    print(
        f"  themes: {sum(d['comments'] for d in metrics['themes']):,} comments with words; "
        "flags: " + ", ".join(f"{r['kind']} {r['flags']}" for r in metrics["integrity"])
    )
    print(
        f"  county: ratings {metrics['county']['ratings']:,}, 好评率 "
        f"{metrics['county']['good_rate']:.3f}, tickets {metrics['county']['tickets']:,}, "
        f"median days {metrics['county']['median_days']}, p90 {metrics['county']['p90_days']}"
    )
    return elapsed, int(metrics["county"]["ratings"]), first_view_kb(html)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    # Real-name bad reviews are 2 % of ratings; the tickets are drawn from them.
    if args.tickets > args.ratings // 50:
        sys.exit("--tickets may be at most 2 % of --ratings (the real-name bad reviews)")

    print(machine_speed(), flush=True)
    name = f"haochaping_bench_report_{uuid.uuid4().hex[:8]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        print(f"scratch database {name}: migrating", flush=True)
        migrate(url)
        started = time.perf_counter()
        asyncio.run(
            seed(url, seed_sql(args.ratings, args.tickets, args.ratings // 10, args.ratings // 100))
        )
        print(f"seeded in {time.perf_counter() - started:.1f}s; generating {MONTH}", flush=True)
        elapsed, ratings, page_kb = asyncio.run(generate(url))
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"report_s={elapsed:.2f} peak_mb={peak_mb:.0f} ratings={ratings} page_kb={page_kb:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
