"""Rating intake benchmark: POST /api/v1/evaluations under concurrent clients, /health as baseline.

Seeds a fresh database with service records, starts the real server (uvicorn workers) on loopback,
drives it with wrk (one unique service record per request, so every request stores a rating and its
outbox row), then checks that every 201 left exactly one evaluation and one outbox row behind.

wrk is a closed loop: at saturation its p99 is mostly queueing, and a stalled server slows the
clients down instead of showing up as latency. So the bench also runs an open loop
(`bench/openloop.py`): ratings offered at a fixed rate — 3,000/s and 50 % of the measured
maximum — with latency measured from each request's intended send time (no coordinated omission).

    python bench/intake.py              # PostgreSQL on 127.0.0.1:5432, the durable production path
    python bench/intake.py --sqlite     # the embedded default, 20 concurrent clients

Last line: ratings_per_s=N p50_ms=N p99_ms=N health_per_s=N open_rate=N open_p99_ms=N
(the open-loop figures at 3,000/s; the line before gives both open-loop runs in full)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import line as machine_speed
from openloop import START_DELAY, open_loop
from openloop import line as openloop_line

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation_service.evaluations.tokens import RatingTokens  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "haochaping_bench"
SECRET = "bench-secret"
DEPARTMENT = "11370124MB00000013"
ITEM = "3701240000000000000000000000001"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing Debian's wrk package …", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench needs wrk (apt-get install wrk)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def migrate(url: str, var_dir: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": str(var_dir)}
    subprocess.run(
        [sys.executable, "-m", "evaluation_service", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


DEPARTMENT_SQL = (
    "INSERT INTO department (code, name, area_code) "
    "VALUES ({0}, '平阴县行政审批服务局', '370124000000')"
)
ITEM_SQL = "INSERT INTO service_item (code, name, department) VALUES ({0}, '个体工商户设立登记', 1)"


async def create_postgres(url: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DB_NAME}")
    await admin.close()
    migrate(url, Path(tempfile.mkdtemp()))
    conn = await asyncpg.connect(url)
    await conn.execute(DEPARTMENT_SQL.format("$1"), DEPARTMENT)
    await conn.execute(ITEM_SQL.format("$1"), ITEM)
    await conn.close()


async def add_records_postgres(url: str, count: int, deadline: datetime) -> list[int]:
    """Seed `count` more service records (each in its own transaction, ready to be rated) and
    return their ids."""
    conn = await asyncpg.connect(url)
    first = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM service_transaction")
    await conn.execute(
        """INSERT INTO service_transaction (id, project_no, item, department, area_code,
               applicant_type, applicant_name, applicant_phone, applicant_identified, created_at,
               updated_at)
           SELECT g, 'BENCH-' || g, 1, 1, '370124000000', 1, '张三', '13800001234', true, now(),
               now()
           FROM generate_series($1::int, $1::int + $2::int - 1) g""",
        first,
        count,
    )
    ids = await conn.fetch(
        """INSERT INTO service_record (service_transaction, service_number, name, occurred_at,
               window_no, staff_no, rating_deadline, deadline_estimated, created_at)
           SELECT g, 1, '受理', now(), 'W01', 'S001', $3, false, now()
           FROM generate_series($1::int, $1::int + $2::int - 1) g
           RETURNING id""",
        first,
        count,
        deadline,
    )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('service_transaction', 'id'), $1)", first + count - 1
    )
    await conn.execute("ANALYZE")
    # Flush the seed to disk now, or a checkpoint lands in the middle of the measurement.
    await conn.execute("CHECKPOINT")
    await conn.close()
    return sorted(row["id"] for row in ids)


def create_sqlite(path: Path) -> None:
    migrate(f"sqlite:///{path}", path.parent)
    with sqlite3.connect(path) as db:
        db.execute(DEPARTMENT_SQL.format("?"), (DEPARTMENT,))
        db.execute(ITEM_SQL.format("?"), (ITEM,))


def add_records_sqlite(path: Path, count: int, deadline: datetime) -> list[int]:
    now = datetime.now(UTC).isoformat()
    with sqlite3.connect(path) as db:
        first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM service_transaction").fetchone()[0]
        numbers = range(first, first + count)
        db.executemany(
            """INSERT INTO service_transaction (id, project_no, item, department, area_code,
                   applicant_type, applicant_name, applicant_cert_type, applicant_cert_no,
                   applicant_phone, applicant_identified, created_at, updated_at)
               VALUES (?, ?, 1, 1, '370124000000', 1, '张三', '', '', '13800001234', 1, ?, ?)""",
            [(i, f"BENCH-{i}", now, now) for i in numbers],
        )
        before = db.execute("SELECT coalesce(max(id), 0) FROM service_record").fetchone()[0]
        db.executemany(
            """INSERT INTO service_record (service_transaction, service_number, name, occurred_at,
                   window_no, staff_no, rating_deadline, deadline_estimated, created_at)
               VALUES (?, 1, '受理', ?, 'W01', 'S001', ?, 0, ?)""",
            [(i, now, deadline.isoformat(), now) for i in numbers],
        )
        rows = db.execute("SELECT id FROM service_record WHERE id > ? ORDER BY id", (before,))
        return [row[0] for row in rows]


def open_records_for(rate: int, seconds: int) -> int:
    """Records an open-loop run needs: one a request, and a few over (a connection wrk reopens
    takes a slot beyond the schedule)."""
    return rate * seconds + rate * seconds // 50 + 1_000


def wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if server.poll() is not None:
            sys.exit("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("server did not start")


RESULT = re.compile(r"RESULT (.*)")
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _descendants(int(child))
    return found


def _postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine: the backends the server's pools open (also those
    opened after the meter starts) and the WAL writer, checkpointer and the rest, which work for
    the same commits."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


class CpuMeter:
    """CPU seconds spent by the server's processes and by PostgreSQL (all of its processes).

    Wall-clock throughput on a shared 2-core box moves with whatever else runs; the CPU time one
    rating costs moves far less, so the bench prints both."""

    def __init__(self, server_pid: int, use_postgres: bool) -> None:
        self.server_pid = server_pid
        self.use_postgres = use_postgres
        self._database: dict[int, float] = {}

    def read(self) -> tuple[float, float]:
        server = sum(_cpu_seconds(p) for p in _descendants(self.server_pid))
        if self.use_postgres:
            # A backend that exits between two reads keeps its last figure here.
            self._database.update({p: _cpu_seconds(p) for p in _postgres_pids()})
        return server, sum(self._database.values())


class ScheduleMeter:
    """How busy the whole machine was while an open loop's requests were due: /proc/stat read from
    a thread when the first request is due and when the last one is. (Not over the whole wrk run:
    its start-up and the drain of late answers would dilute the figure, or, over an overloaded
    run, the busy seconds of the drain would be divided by the schedule's seconds alone.)

    The server, PostgreSQL, the load generator and everything else share the cores, and latency
    climbs steeply near all of them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.readings: list[float] = []
        due = time.time() + START_DELAY
        self._thread = threading.Thread(target=self._read, args=(due,), daemon=True)
        self._thread.start()

    def _read(self, due: float) -> None:
        for at in (due, due + self.seconds):
            time.sleep(max(0.0, at - time.time()))
            self.readings.append(machine_busy_seconds())

    def line(self, result: dict[str, float]) -> str:
        self._thread.join()
        busy = self.readings[1] - self.readings[0]
        per_rating = busy / max(result["ok"], 1) * 1e6
        return (
            f"  machine busy {busy / self.seconds:.2f} of {os.cpu_count()} cores while requests "
            f"were due (about {per_rating:.0f} us of CPU a rating, everything on the machine "
            f"included)"
        )


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent on anything but idling, since boot (time the
    hypervisor gave to other guests, 'steal', is not ours and not counted)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / TICKS


def run_wrk(
    wrk: str, port: int, script: str, path: str, seconds: int, connections: int, args: list[str]
) -> dict[str, int]:
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(ROOT / "bench" / script),
        f"http://127.0.0.1:{port}{path}",
    ]
    if args:
        command += ["--", *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = RESULT.search(out)
    if not match:
        sys.exit(f"wrk printed no result:\n{out}")
    return {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}


async def statements_line(url: str, since: datetime, until: datetime) -> str:
    """How many ratings each INSERT statement stored while a run was offered: one statement is one
    transaction, so the rows it stored share their xmin. PostgreSQL's cost is about a fixed share
    per statement plus a little per row, so this figure says much of its CPU per rating."""
    conn = await asyncpg.connect(url)
    rows, statements = await conn.fetchrow(
        "SELECT count(*), count(DISTINCT xmin::text) FROM evaluation "
        "WHERE received_at >= $1 AND received_at < $2",
        since,
        until,
    )
    await conn.close()
    return (
        f"  {rows / max(statements, 1):.1f} ratings per INSERT statement "
        f"({statements} statements, {rows} ratings)"
    )


async def stored_counts(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    evaluations = await conn.fetchval("SELECT count(*) FROM evaluation")
    queued = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'evaluation'")
    await conn.close()
    return int(evaluations), int(queued)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sqlite", action="store_true", help="benchmark the embedded SQLite default"
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8, help="database connections per worker")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument(
        "--open-rate", type=int, default=3000, help="the fixed open-loop rate (ratings/s)"
    )
    parser.add_argument("--open-seconds", type=int, default=15)
    opts = parser.parse_args()

    wrk = ensure_wrk()
    print(machine_speed(), flush=True)
    connections = opts.connections or (20 if opts.sqlite else 64)
    # Every request rates its own record (a record rated once cannot be rated again): wrk's run,
    # then each open-loop run, gets its own slice of records. The saturation slice is sized far
    # above what two cores reach, and a run that still outruns it says so; the half-rate run's
    # slice is seeded once the maximum is known.
    saturation_records = opts.records or opts.seconds * (5_000 if opts.sqlite else 15_000)
    fixed_records = open_records_for(opts.open_rate, opts.open_seconds)
    deadline = datetime.now(UTC) + timedelta(days=30)
    work = Path(tempfile.mkdtemp(prefix="hcp-bench-"))
    sqlite_path = work / "bench.sqlite"
    if opts.sqlite:
        url = f"sqlite:///{sqlite_path}"
        create_sqlite(sqlite_path)
        workers = 1
    else:
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
        asyncio.run(create_postgres(url))
        workers = opts.workers

    def seed(count: int) -> list[str]:
        if opts.sqlite:
            ids = add_records_sqlite(sqlite_path, count, deadline)
        else:
            ids = asyncio.run(add_records_postgres(url, count, deadline))
        return [tokens.issue(i, deadline, True) for i in ids]

    tokens = RatingTokens(SECRET)
    token_file = work / "tokens.txt"
    token_file.write_text("\n".join(seed(saturation_records)) + "\n")
    fixed_tokens = seed(fixed_records)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TOKEN_SECRET": SECRET,
        "DB_POOL_SIZE": str(opts.pool),
        # Intake alone is measured here; delivery to the province is bench/forwarding.py's.
        "FORWARDING_ENABLED": "false",
        # …and no schedules in the web process (the embedded broker's default): a monthly report
        # it catches up on at start-up ran inside a web worker in the middle of the measurement.
        "SCHEDULER_ENABLED": "false",
        "HAOCHAPING_VAR_DIR": str(work),
    }
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evaluation_service",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_ready(port, server)
        time.sleep(1.5)
        backend = "sqlite" if opts.sqlite else "postgresql"
        print(
            f"backend={backend} workers={workers} connections={connections} "
            f"seconds={opts.seconds} seeded_records={saturation_records + fixed_records}",
            flush=True,
        )
        meter = CpuMeter(server.pid, use_postgres=not opts.sqlite)
        cpu_before = meter.read()
        intake = run_wrk(
            wrk,
            port,
            "intake.lua",
            "/api/v1/evaluations",
            opts.seconds,
            connections,
            [str(token_file), "1", str(int(time.time()))],
        )
        cpu_after = meter.read()
        health = run_wrk(wrk, port, "health.lua", "/health", min(opts.seconds, 10), connections, [])
        maximum = (intake["requests"] - intake["status_errors"]) / (intake["duration_us"] / 1e6)
        url_ratings = f"http://127.0.0.1:{port}/api/v1/evaluations"
        half = int(maximum / 2)
        half_tokens = seed(open_records_for(half, opts.open_seconds))
        meter_fixed = ScheduleMeter(opts.open_seconds)
        since = datetime.now(UTC)
        fixed = open_loop(
            url_ratings,
            opts.open_rate,
            opts.open_seconds,
            fixed_tokens,
            nonce=f"fixed{int(time.time())}",
        )
        print(f"open loop at {opts.open_rate}/s: {openloop_line(fixed)}", flush=True)
        print(meter_fixed.line(fixed), flush=True)
        if not opts.sqlite:
            print(asyncio.run(statements_line(url, since, datetime.now(UTC))), flush=True)
        meter_half = ScheduleMeter(opts.open_seconds)
        since = datetime.now(UTC)
        halfway = open_loop(
            url_ratings,
            half,
            opts.open_seconds,
            half_tokens,
            nonce=f"half{int(time.time())}",
        )
        print(f"open loop at 50% of max ({half}/s): {openloop_line(halfway)}", flush=True)
        print(meter_half.line(halfway), flush=True)
        if not opts.sqlite:
            print(asyncio.run(statements_line(url, since, datetime.now(UTC))), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()

    ok = intake["requests"] - intake["status_errors"]
    answered = ok + int(fixed["ok"]) + int(halfway["ok"])
    if opts.sqlite:
        with sqlite3.connect(work / "bench.sqlite") as db:
            evaluations = db.execute("SELECT count(*) FROM evaluation").fetchone()[0]
            queued = db.execute("SELECT count(*) FROM outbox WHERE kind='evaluation'").fetchone()[0]
    else:
        evaluations, queued = asyncio.run(stored_counts(url))
    locked = (work / "server.log").read_text(errors="replace").count("database is locked")
    seconds = intake["duration_us"] / 1e6
    print(
        f"ratings: {intake['requests']} requests, {ok} stored answers, "
        f"{intake['status_errors']} non-2xx, {intake['socket_errors']} socket errors, "
        f"{locked} 'database is locked' in the server log"
    )
    # Requests still in flight when wrk stops are stored but not counted by wrk: stored >= answered.
    print(
        f"stored: {evaluations} evaluations, {queued} outbox rows "
        f"(each >= {answered} answered in the three runs, and equal)"
    )
    print(
        f"health: {health['requests']} requests in {health['duration_us'] / 1e6:.1f} s, "
        f"p50 {health['p50_us'] / 1000:.1f} ms, p99 {health['p99_us'] / 1000:.1f} ms"
    )
    server_us = (cpu_after[0] - cpu_before[0]) / max(ok, 1) * 1e6
    database_us = (cpu_after[1] - cpu_before[1]) / max(ok, 1) * 1e6
    database = (
        "SQLite runs inside the server"
        if opts.sqlite
        else f"database backends {database_us:.0f} us"
    )
    print(
        f"cpu per rating at saturation: server {server_us:.0f} us, {database} "
        f"(steadier than the rates on a shared machine)"
    )
    if intake["reused"]:
        print(
            f"WARNING: the saturation run outran its {saturation_records} seeded records: "
            f"{intake['reused']} requests re-rated a rated record (409). Rerun with "
            f"--records {2 * saturation_records}.",
            flush=True,
        )
    errors = intake["status_errors"] + fixed["errors"] + halfway["errors"]
    if evaluations < answered or queued != evaluations or errors:
        print("WARNING: stored counts do not match the answers", flush=True)
    print(
        f"ratings_per_s={ok / seconds:.0f} p50_ms={intake['p50_us'] / 1000:.1f} "
        f"p99_ms={intake['p99_us'] / 1000:.1f} "
        f"health_per_s={health['requests'] / (health['duration_us'] / 1e6):.0f} "
        f"open_rate={fixed['achieved']:.0f} open_p99_ms={fixed['p99_ms']:.1f}"
    )
    if not opts.sqlite:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
