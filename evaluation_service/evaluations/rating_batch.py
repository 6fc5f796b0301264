"""PostgreSQL rating writes: ratings arriving together are stored by one statement, one round trip.

Each rating still commits with its own outbox row in the same transaction (DESIGN.md §3 rule 5);
a batch only shares the statement. Batching is opportunistic: a rating waits for no timer, it joins
whatever is queued when a database connection is free, so an idle server writes batches of one and
a busy one writes fewer, larger statements instead of queueing on the pool (WRITE_SLOTS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_BATCH = 128
# Statements in flight per process. Two, not one per pooled connection: a statement costs the
# database about 450 us whatever its size plus about 45 us a row, so every extra slot lets a batch
# leave with fewer rows and the same ratings cost more. Measured at 3,000 ratings/s offered on two
# cores (bench/intake.py's open loop): 7 slots averaged 2.8 rows a statement and PostgreSQL spent
# 180 us of CPU a rating; 2 slots, about 4 rows and 155 us, with a lower p99 (18-24 ms against
# 26-32 ms). One slot was cheaper still (130 us) but let a single slow statement — a follow-up
# waiting on a ticket a liaison holds — stop every rating of the process; two keep one committing
# while the next fills.
WRITE_SLOTS = 2


@dataclass(frozen=True)
class RatingRow:
    """One rating to insert, by record id (a link) or by project_no + service_number (a device)."""

    record_id: int | None
    project_no: str | None
    service_number: int | None
    assess_number: int
    channel: str
    level: int
    tags: str
    comment: str
    identifies_applicant: bool
    device_id: int | None
    device_window: str
    idempotency_key: str
    indicator_version: str
    client_time: datetime | None
    received_at: datetime
    # The accept deadline of the ticket a real-name bad rating opens (None for a good rating).
    ticket_due_at: datetime | None = None
    ticket_warn_at: datetime | None = None
    ticket_due_estimated: bool = False
    request_id: str = ""


# Every rule that needs the database is a condition of the INSERT, so a row comes back only for a
# stored rating; for the others the caller finds out why. ON CONFLICT DO NOTHING covers both unique
# keys: (service_record, assess_number) — one rating per contact — and idempotency_key. The outbox
# row (§3 rule 5) and the ticket of a real-name bad rating (§3 rule 6) — new, or the record's own
# ticket joined or reopened by a follow-up — are written by the same statement, so they commit or
# vanish with the rating.
_BATCH_SQL = """
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::smallint[], $5::text[],
                         $6::smallint[], $7::text[], $8::text[], $9::boolean[], $10::int[],
                         $11::text[], $12::text[], $13::text[], $14::timestamptz[],
                         $15::timestamptz[], $16::timestamptz[], $17::timestamptz[],
                         $18::boolean[], $19::text[])
        AS i(record_id, project_no, service_number, assess_number, channel, level, tags, comment,
             identifies, device, device_window, idempotency_key, indicator_version, client_time,
             received_at, ticket_due_at, ticket_warn_at, ticket_due_estimated, request_id)
), rec AS (
    SELECT i.*, sr.id AS sr_id, sr.rating_deadline, sr.window_no, sr.service_number AS sr_number,
           t.project_no AS t_project_no, t.applicant_identified
    FROM input i
    JOIN service_record sr ON {join}
    JOIN service_transaction t ON t.id = sr.service_transaction
), ins AS (
    INSERT INTO evaluation (service_record, assess_number, channel, level, tags, comment,
        real_name, is_default, device, idempotency_key, indicator_version, client_time, received_at,
        request_id)
    SELECT rec.sr_id, rec.assess_number, rec.channel, rec.level, rec.tags, rec.comment,
           rec.identifies AND rec.applicant_identified, false, rec.device, rec.idempotency_key,
           rec.indicator_version, rec.client_time, rec.received_at, rec.request_id
    FROM rec
    WHERE rec.rating_deadline >= rec.received_at
      AND (rec.window_no = '' OR rec.device_window = '' OR rec.window_no = rec.device_window)
      AND (rec.assess_number = 1 OR EXISTS (
            SELECT 1 FROM evaluation e WHERE e.service_record = rec.sr_id AND e.assess_number = 1))
    ON CONFLICT DO NOTHING
    RETURNING id, service_record, assess_number, channel, level, tags, comment, real_name,
              received_at, idempotency_key
), queued AS (
    INSERT INTO outbox (kind, ref_id, state, attempts, next_attempt_at, last_error, created_at)
    SELECT 'evaluation', ins.id, 'pending', 0, ins.received_at, '', ins.received_at FROM ins
), {tickets}
SELECT DISTINCT ON (ins.id) ins.id, ins.idempotency_key, ins.service_record,
       ins.assess_number, ins.channel, ins.level, ins.tags, ins.comment, ins.real_name,
       ins.received_at, rec.t_project_no AS project_no, rec.sr_number AS service_number,
       tn.id AS ticket_id
FROM ins JOIN rec ON rec.idempotency_key = ins.idempotency_key AND rec.sr_id = ins.service_record
LEFT JOIN rating_ticket tn ON tn.evaluation = ins.id
"""


def _of_rating(column: str) -> str:
    # The ticket CTEs read from `ins`; each rating's own deadline comes from its input row.
    return f"(SELECT r.{column} FROM rec r WHERE r.idempotency_key = ins.idempotency_key LIMIT 1)"


@dataclass(frozen=True)
class Statements:
    """The two forms of the one-statement insert, with the ticket CTEs the root handed in."""

    by_record_id: str
    by_project_no: str

    @classmethod
    def with_tickets(cls, ticket_ctes: str) -> Statements:
        """`ticket_ctes` follows `ins` after a comma and fills {due_at}, {warn_at} and
        {due_estimated}; it must define `rating_ticket (id, evaluation)`: the ticket a real-name
        bad rating opened, or the one of its record it joined or reopened (a follow-up)."""
        tickets = ticket_ctes.format(
            due_at=_of_rating("ticket_due_at"),
            warn_at=_of_rating("ticket_warn_at"),
            due_estimated=_of_rating("ticket_due_estimated"),
        )
        return cls(
            by_record_id=_BATCH_SQL.format(join="sr.id = i.record_id", tickets=tickets),
            by_project_no=_BATCH_SQL.format(
                join="sr.service_transaction = (SELECT id FROM service_transaction "
                "WHERE project_no = i.project_no) AND sr.service_number = i.service_number",
                tickets=tickets,
            ),
        )


def _arguments(rows: Sequence[RatingRow]) -> list[list[Any]]:
    return [
        [r.record_id for r in rows],
        [r.project_no for r in rows],
        [r.service_number for r in rows],
        [r.assess_number for r in rows],
        [r.channel for r in rows],
        [r.level for r in rows],
        [r.tags for r in rows],
        [r.comment for r in rows],
        [r.identifies_applicant for r in rows],
        [r.device_id for r in rows],
        [r.device_window for r in rows],
        [r.idempotency_key for r in rows],
        [r.indicator_version for r in rows],
        [r.client_time for r in rows],
        [r.received_at for r in rows],
        [r.ticket_due_at for r in rows],
        [r.ticket_warn_at for r in rows],
        [r.ticket_due_estimated for r in rows],
        [r.request_id for r in rows],
    ]


async def insert_ratings(
    connection: Any, statements: Statements, rows: Sequence[RatingRow]
) -> dict[str, Any]:
    """Insert what the rules allow; returns the stored rows (their content as stored, which is
    not necessarily what a request with the same key asked for) by idempotency key."""
    sql = statements.by_record_id if rows[0].record_id is not None else statements.by_project_no
    stored = await connection.fetch(sql, *_arguments(rows))
    return {row["idempotency_key"]: row for row in stored}


_Waiting = tuple[RatingRow, "asyncio.Future[Any]"]


class RatingBatcher:
    """Collects concurrent ratings of one process and writes them in batches, at most `slots`
    statements at a time.

    A writer task starts when a rating arrives and fewer than `slots` are running; it writes what
    is queued, then what queued meanwhile, and ends when both queues are empty. (Not a task per
    rating waiting on a semaphore: at saturation that kept thousands of tasks and a long waiter
    queue, measured at about 5 % of the intake's CPU.)"""

    def __init__(self, pool: Any, slots: int, statements: Statements) -> None:
        self._pool = pool
        self._slots = slots
        self._statements = statements
        self._queues: dict[bool, list[_Waiting]] = {True: [], False: []}
        # Counted by the writer itself as it ends, not by a done-callback a loop turn later: a
        # rating queued in between would find every slot still taken and wait for the next one.
        self._running = 0
        self._writers: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def insert(self, row: RatingRow) -> Any:
        """The row stored under this key (perhaps another request's), or None when a rule or a
        unique key kept the rating out."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queues[row.record_id is not None].append((row, future))
        if self._running < self._slots:
            self._running += 1
            writer = asyncio.create_task(self._drain())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await future

    async def _drain(self) -> None:
        # Ratings by link and by device are different statements; take turns between them.
        by_id = True
        try:
            while self._queues[True] or self._queues[False]:
                if not self._queues[by_id]:
                    by_id = not by_id
                queue = self._queues[by_id]
                batch, self._queues[by_id] = queue[:MAX_BATCH], queue[MAX_BATCH:]
                await self._write(batch)
                by_id = not by_id
        finally:
            self._running -= 1

    async def _write(self, batch: list[_Waiting]) -> None:
        try:
            async with self._pool.acquire() as connection:
                stored = await insert_ratings(
                    connection, self._statements, [row for row, _ in batch]
                )
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exception=exc)
                return
            # One bad row must not fail its neighbours: write them one by one.
            stored = await self._one_by_one(batch)
        except BaseException:  # the writer cancelled (shutdown): its requests must not hang
            for _, future in batch:
                future.cancel()
            raise
        # A key twice in one batch (a client retrying while its first try is queued, or two
        # clients reusing one key): only one row went in, and every request with that key gets
        # it; the caller compares what was stored with what it asked for.
        for row, future in batch:
            _settle(future, result=stored.get(row.idempotency_key))

    async def _one_by_one(self, batch: list[_Waiting]) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        for row, future in batch:
            try:
                async with self._pool.acquire() as connection:
                    stored.update(await insert_ratings(connection, self._statements, [row]))
            except Exception as exc:
                _settle(future, exception=exc)
        return stored


def _settle(
    future: asyncio.Future[Any], result: Any = None, exception: BaseException | None = None
) -> None:
    if future.done():  # the request was cancelled (client went away); its rating stands or not
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
