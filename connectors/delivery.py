"""Delivery of outbox rows to the province: claim with a lease, push records before their ratings,
settle every row as delivered, failed or due again after a back-off.

Concurrency: a row is claimed by compare-and-set (pending and due → due again only after the lease),
under FOR UPDATE SKIP LOCKED on PostgreSQL, so workers do not take the same row while its lease
runs. A worker that dies leaves its rows pending; they fall due when the lease ends and the relay
claims them again. The province keys items by projectNo+serviceNumber+assessNumber and answers a
repeat as "already received", so at-least-once delivery is counted there exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.model import (
    CaseKind,
    ItemResult,
    Outcome,
    ProvinceCallFailed,
    RatingToSend,
    RecordToSend,
    TicketResultToSend,
    TimeUnit,
)
from connectors.province.client import ProvinceClient
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.tables import Evaluation, Outbox, ServiceRecord, Staff
from evaluation_service.kernel.vocabulary import OutboxKind, OutboxState

log = logging.getLogger("haochaping.forwarding")

TICKET_SOURCE_MISSING = "整改结果尚未就绪（工单未办结或整改结果未接入），保持待发送"
TICKET_RESULTS_OFF = "未配置整改结果反馈接口（PROVINCE_TICKET_RESULTS_URL），保持待发送"

# The closing results of rectification tickets by ticket id: only closed tickets are present.
TicketResults = Callable[[list[int]], Awaitable[dict[int, TicketResultToSend]]]


@dataclass(frozen=True)
class DeliveryPolicy:
    batch_size: int = 200
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    fail_after_seconds: float = 86_400.0
    lease_seconds: float = 60.0

    def back_off(self, attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
        """Exponential back-off with jitter: up to base·2^(attempts-1), capped, at least half."""
        ceiling = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=ceiling * (0.5 + 0.5 * rand()))


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    retry: dict[int, str] = field(default_factory=dict)
    waiting: dict[int, str] = field(default_factory=dict)
    # A follow-up the province answered "rating already there": shown, never counted delivered.
    followup_refused: dict[int, str] = field(default_factory=dict)
    # A self-built item (taskCode with 00000000): kept and counted, never sent.
    not_forwardable: dict[int, str] = field(default_factory=dict)

    def settled(self) -> set[int]:
        return (
            set(self.delivered)
            | set(self.failed)
            | set(self.waiting)
            | set(self.followup_refused)
            | set(self.not_forwardable)
        )


@dataclass(frozen=True)
class _Row:
    id: int
    kind: str
    ref_id: int
    attempts: int
    created_at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Forwarder:
    def __init__(
        self,
        db: Database,
        client: ProvinceClient,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime] = utcnow,
        ticket_results: TicketResults | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.policy = policy
        self.clock = clock
        # Rectification's closed results, handed in by the composition root (no sideways import).
        self.ticket_results = ticket_results

    # --- claiming ------------------------------------------------------------------------------

    async def claim_due(self, limit: int) -> list[int]:
        """Take up to `limit` due pending rows, oldest first, for one lease."""
        now = self.clock()
        until = now + timedelta(seconds=self.policy.lease_seconds)
        due = (Outbox.state == OutboxState.pending) & (Outbox.next_attempt_at <= now)
        async with self.db.write():
            query = Outbox.select(Outbox.id).where(due).order_by(Outbox.id).limit(limit)
            if not self.db.is_sqlite:
                query = query.lock_rows("UPDATE", skip_locked=True)
            ids = [row["id"] for row in await query]
            if ids:
                await Outbox.update({Outbox.next_attempt_at: until}).where(
                    Outbox.id.is_in(ids) & due
                )
        return ids

    async def release(self, ids: list[int]) -> None:
        """Give up the lease of claimed rows that were never sent: due again now."""
        async with self.db.write():
            await Outbox.update({Outbox.next_attempt_at: self.clock()}).where(
                Outbox.id.is_in(ids) & (Outbox.state == OutboxState.pending)
            )

    async def in_flight(self) -> int:
        """Pending rows under a lease or a back-off: the relay's brake when the broker is slow."""
        return int(
            await Outbox.count().where(
                (Outbox.state == OutboxState.pending) & (Outbox.next_attempt_at > self.clock())
            )
        )

    # --- delivering ----------------------------------------------------------------------------

    async def deliver(self, ids: Iterable[int]) -> DeliveryReport:
        """Deliver the given outbox rows (those still pending); safe to call again with the same
        ids."""
        wanted = sorted(set(ids))
        report = DeliveryReport()
        if not wanted:
            return report
        rows = await self._rows(Outbox.id.is_in(wanted))
        ratings_rows = [r for r in rows if r.kind == OutboxKind.evaluation]
        ratings = await _load_ratings([r.ref_id for r in ratings_rows])
        # A service record always reaches the province before its ratings: take along the pending
        # record rows of this batch's ratings, wherever they were queued.
        record_ids_of_ratings = {rating.record_id for rating in ratings.values()}
        if record_ids_of_ratings:
            rows += await self._rows(
                (Outbox.kind == OutboxKind.service_record)
                & Outbox.ref_id.is_in(sorted(record_ids_of_ratings))
                & Outbox.id.not_in(wanted)
            )
        record_rows = [r for r in rows if r.kind == OutboxKind.service_record]
        ticket_rows = [r for r in rows if r.kind == OutboxKind.ticket_result]
        # The ratings came with their records; load only the records of other rows.
        records = {rating.record_id: rating.record for rating in ratings.values()}
        records |= await _load_records(sorted({r.ref_id for r in record_rows} - set(records)))
        # While this delivery runs its rows' lease is renewed, so a slow province never lets a
        # second worker take them; a worker that dies stops renewing, and the rows come back to
        # the relay within one (short) lease.
        renewing = asyncio.create_task(self._renew_lease([row.id for row in rows]))
        try:
            await self._push_records(record_rows, records, report)
            await self._push_ratings(ratings_rows, ratings, report)
            await self._push_ticket_results(ticket_rows, report)
        except ProvinceCallFailed as exc:
            # Nothing of the failed call was delivered (a wrong key included: the reason, e.g.
            # 密钥或应用标识错误, stays on the row for the console until the settings are fixed).
            settled = report.settled()
            for row in rows:
                if row.id not in settled:
                    report.retry[row.id] = str(exc)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
        await self._settle(rows, report)
        if report.delivered:
            # Each rating's stored request id (Evaluation.request_id) follows it from the request
            # that stored it to the province.
            delivered = set(report.delivered)
            sent = [
                ratings[r.ref_id] for r in ratings_rows if r.id in delivered and r.ref_id in ratings
            ]
            log.info(
                "delivered to the province",
                extra={
                    "evaluation_ids": [rating.evaluation_id for rating in sent],
                    "request_ids": [rating.request_id for rating in sent],
                    "outbox_ids": report.delivered,
                },
            )
        return report

    async def _renew_lease(self, ids: list[int]) -> None:
        every = self.policy.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            until = self.clock() + timedelta(seconds=self.policy.lease_seconds)
            async with self.db.write():
                await Outbox.update({Outbox.next_attempt_at: until}).where(
                    Outbox.id.is_in(ids) & (Outbox.state == OutboxState.pending)
                )

    async def _rows(self, where: Any) -> list[_Row]:
        found = (
            await Outbox.select(
                Outbox.id, Outbox.kind, Outbox.ref_id, Outbox.attempts, Outbox.created_at
            )
            .where(where & (Outbox.state == OutboxState.pending))
            .order_by(Outbox.id)
        )
        return [
            _Row(r["id"], r["kind"], r["ref_id"], r["attempts"], as_utc(r["created_at"]))
            for r in found
        ]

    async def _push_records(
        self, rows: list[_Row], records: dict[int, RecordToSend], report: DeliveryReport
    ) -> None:
        present = [r for r in rows if r.ref_id in records]
        for row in rows:
            if row.ref_id not in records:
                report.failed[row.id] = "本地服务记录不存在"
        # A record queued twice (changed after the first push) is sent once, in its current form.
        unique = list({row.ref_id: records[row.ref_id] for row in present}.values())
        results = dict(
            zip([r.record_id for r in unique], await self.client.push_records(unique), strict=True)
        )
        for row in present:
            _note(report, row.id, results[row.ref_id])

    async def _push_ratings(
        self, rows: list[_Row], ratings: dict[int, RatingToSend], report: DeliveryReport
    ) -> None:
        present = [r for r in rows if r.ref_id in ratings]
        for row in rows:
            if row.ref_id not in ratings:
                report.failed[row.id] = "本地评价记录不存在"
        if not present:
            return
        results = await self.client.push_ratings([ratings[r.ref_id] for r in present])
        again = [
            row
            for row, result in zip(present, results, strict=True)
            if result.outcome == Outcome.no_record
        ]
        for row, result in zip(present, results, strict=True):
            if result.outcome != Outcome.no_record:
                _note(report, row.id, result)
        if not again:
            return
        # "No such service record": the province lost or never got it; send it again, then
        # the rating.
        records = {ratings[r.ref_id].record_id: ratings[r.ref_id].record for r in again}
        pushed = dict(
            zip(
                records,
                await self.client.push_records(list(records.values())),
                strict=True,
            )
        )
        # A record the province refuses outright takes its ratings with it: retrying them cannot
        # help until the record is corrected, so they fail with the province's reason.
        refused = {
            record_id: result
            for record_id, result in pushed.items()
            if result.outcome in (Outcome.rejected, Outcome.not_forwardable)
        }
        for row in [r for r in again if ratings[r.ref_id].record_id in refused]:
            result = refused[ratings[row.ref_id].record_id]
            if result.outcome == Outcome.not_forwardable:
                report.not_forwardable[row.id] = result.message
            else:
                report.failed[row.id] = f"服务记录被省平台拒收：{result.message}"
        again = [r for r in again if ratings[r.ref_id].record_id not in refused]
        if not again:
            return
        retried = await self.client.push_ratings([ratings[r.ref_id] for r in again])
        for row, result in zip(again, retried, strict=True):
            if result.outcome == Outcome.no_record:
                report.retry[row.id] = result.message
            else:
                _note(report, row.id, result)

    async def _push_ticket_results(self, rows: list[_Row], report: DeliveryReport) -> None:
        if not rows:
            return
        if not self.client.sends_ticket_results:
            # No endpoint configured for 差评整改在线反馈: keep them, to be sent once it is.
            for row in rows:
                report.waiting[row.id] = TICKET_RESULTS_OFF
            return
        results = await self.ticket_results([r.ref_id for r in rows]) if self.ticket_results else {}
        present = [r for r in rows if r.ref_id in results]
        for row in rows:
            if row.ref_id not in results:
                # The rectification data source is not there (yet): wait, never fail.
                report.waiting[row.id] = TICKET_SOURCE_MISSING
        if present:
            answers = await self.client.push_ticket_results([results[r.ref_id] for r in present])
            for row, result in zip(present, answers, strict=True):
                _note(report, row.id, result)

    # --- settling ------------------------------------------------------------------------------

    async def _settle(self, rows: list[_Row], report: DeliveryReport) -> None:
        now = self.clock()
        pending = Outbox.state == OutboxState.pending
        by_id = {row.id: row for row in rows}
        failed = dict(report.failed)
        backoffs: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row_id, message in report.retry.items():
            row = by_id[row_id]
            if (now - row.created_at).total_seconds() > self.policy.fail_after_seconds:
                failed[row_id] = f"超过重试期限仍未送达：{message}"
            else:
                backoffs[(row.attempts + 1, message)].append(row_id)
        failures: dict[str, list[int]] = defaultdict(list)
        for row_id, message in failed.items():
            failures[message[:2000]].append(row_id)
        async with self.db.write():
            if report.delivered:
                await Outbox.update(
                    {
                        Outbox.state: OutboxState.delivered,
                        Outbox.delivered_at: now,
                        Outbox.attempts: Outbox.attempts + 1,
                        Outbox.last_error: "",
                    }
                ).where(Outbox.id.is_in(report.delivered) & pending)
            for message, ids in failures.items():
                await Outbox.update(
                    {
                        Outbox.state: OutboxState.failed,
                        Outbox.attempts: Outbox.attempts + 1,
                        Outbox.last_error: message,
                    }
                ).where(Outbox.id.is_in(ids) & pending)
            for (attempts, message), ids in backoffs.items():
                await Outbox.update(
                    {
                        Outbox.attempts: Outbox.attempts + 1,
                        Outbox.next_attempt_at: now + self.policy.back_off(attempts),
                        Outbox.last_error: message[:2000],
                    }
                ).where(Outbox.id.is_in(ids) & pending)
            for state, outcomes in (
                (OutboxState.followup_refused, report.followup_refused),
                (OutboxState.not_forwardable, report.not_forwardable),
            ):
                for message, ids in _by_message(outcomes).items():
                    await Outbox.update(
                        {
                            Outbox.state: state,
                            Outbox.attempts: Outbox.attempts + 1,
                            Outbox.last_error: message,
                        }
                    ).where(Outbox.id.is_in(ids) & pending)
            for message, ids in _by_message(report.waiting).items():
                await Outbox.update(
                    {
                        Outbox.next_attempt_at: now
                        + timedelta(seconds=self.policy.retry_max_seconds),
                        Outbox.last_error: message,
                    }
                ).where(Outbox.id.is_in(ids) & pending)
        if report.failed or report.retry:
            log.warning(
                "forwarding: %d delivered, %d failed, %d to retry",
                len(report.delivered),
                len(failed),
                len(report.retry) - len(failed) + len(report.failed),
            )


def _by_message(outcomes: dict[int, str]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for row_id, message in outcomes.items():
        grouped[message[:2000]].append(row_id)
    return grouped


def _note(report: DeliveryReport, row_id: int, result: ItemResult) -> None:
    if result.delivered:
        report.delivered.append(row_id)
    elif result.outcome in (Outcome.no_record, Outcome.unsent):
        report.retry[row_id] = result.message or "未发送，稍后重试"
    elif result.outcome == Outcome.followup_refused:
        report.followup_refused[row_id] = result.message
    elif result.outcome == Outcome.not_forwardable:
        report.not_forwardable[row_id] = result.message
    else:
        report.failed[row_id] = result.message


# --- loading what is sent -------------------------------------------------------------------------


async def _load_records(record_ids: list[int]) -> dict[int, RecordToSend]:
    """The records with what the province needs of their transaction and item: what the business
    system sent for the transaction wins over the catalog's default for the item."""
    if not record_ids:
        return {}
    t = ServiceRecord.service_transaction
    item: Any = t.item  # a joined table: Piccolo types the join as Column
    rows = await ServiceRecord.select(
        ServiceRecord.id,
        ServiceRecord.service_number,
        ServiceRecord.name,
        ServiceRecord.occurred_at,
        ServiceRecord.window_no,
        ServiceRecord.staff_no,
        t.project_no.as_alias("project_no"),
        t.project_name.as_alias("project_name"),
        t.area_code.as_alias("area_code"),
        t.applicant_type.as_alias("applicant_type"),
        t.applicant_name.as_alias("applicant_name"),
        t.applicant_cert_type.as_alias("cert_type"),
        t.applicant_cert_no.as_alias("cert_no"),
        t.applicant_phone.as_alias("phone"),
        t.accepted_at.as_alias("accepted_at"),
        t.finished_at.as_alias("finished_at"),
        t.online.as_alias("online"),
        t.item_kind.as_alias("t_item_kind"),
        t.case_kind.as_alias("t_case_kind"),
        t.promised_days.as_alias("t_promised_days"),
        t.agent_name.as_alias("agent_name"),
        t.agent_cert_type.as_alias("agent_cert_type"),
        t.agent_cert_no.as_alias("agent_cert_no"),
        item.code.as_alias("item_code"),
        item.name.as_alias("item_name"),
        item.item_kind.as_alias("item_kind"),
        item.case_kind.as_alias("case_kind"),
        item.promised_days.as_alias("promised_days"),
        item.promised_unit.as_alias("promised_unit"),
        item.legal_days.as_alias("legal_days"),
        item.legal_unit.as_alias("legal_unit"),
        t.department.code.as_alias("department_code"),  # type: ignore[union-attr]
        t.department.name.as_alias("department_name"),  # type: ignore[union-attr]
    ).where(ServiceRecord.id.is_in(record_ids))
    staff_numbers = sorted({r["staff_no"] for r in rows if r["staff_no"]})
    handlers = (
        {
            s["staff_no"]: s["name"]
            for s in await Staff.select(Staff.staff_no, Staff.name).where(
                Staff.staff_no.is_in(staff_numbers)
            )
        }
        if staff_numbers
        else {}
    )
    return {r["id"]: _record(r, handlers.get(r["staff_no"], "")) for r in rows}


def _record(r: dict[str, Any], handler_name: str) -> RecordToSend:
    case_kind = r["t_case_kind"] or r["case_kind"] or CaseKind.promised
    promised_days = r["t_promised_days"]
    if promised_days is None:
        promised_days = r["promised_days"] or 0
    return RecordToSend(
        record_id=r["id"],
        project_no=r["project_no"],
        service_number=r["service_number"],
        name=r["name"],
        occurred_at=as_utc(r["occurred_at"]),
        item_code=r["item_code"],
        item_name=r["item_name"],
        department_code=r["department_code"],
        department_name=r["department_name"],
        area_code=r["area_code"],
        applicant_type=r["applicant_type"],
        applicant_name=r["applicant_name"],
        applicant_cert_type=r["cert_type"],
        applicant_cert_no=r["cert_no"],
        applicant_phone=r["phone"],
        accepted_at=as_utc(r["accepted_at"]) if r["accepted_at"] else None,
        finished_at=as_utc(r["finished_at"]) if r["finished_at"] else None,
        window_no=r["window_no"],
        staff_no=r["staff_no"],
        project_name=r["project_name"] or "",
        item_kind=r["t_item_kind"] or r["item_kind"] or "",
        case_kind=CaseKind(case_kind),
        promised_days=int(promised_days),
        promised_unit=TimeUnit(r["promised_unit"] or TimeUnit.working_day),
        legal_days=int(r["legal_days"] or 0),
        legal_unit=TimeUnit(r["legal_unit"] or TimeUnit.working_day),
        online=bool(r["online"]),
        handler_name=handler_name,
        agent_name=r["agent_name"] or "",
        agent_cert_type=r["agent_cert_type"] or "",
        agent_cert_no=r["agent_cert_no"] or "",
    )


async def _load_ratings(evaluation_ids: list[int]) -> dict[int, RatingToSend]:
    if not evaluation_ids:
        return {}
    rows = await Evaluation.select(
        Evaluation.id,
        Evaluation.service_record,
        Evaluation.assess_number,
        Evaluation.channel,
        Evaluation.level,
        Evaluation.tags,
        Evaluation.comment,
        Evaluation.is_default,
        Evaluation.real_name,
        Evaluation.client_time,
        Evaluation.received_at,
        Evaluation.request_id,
    ).where(Evaluation.id.is_in(evaluation_ids))
    records = await _load_records(sorted({r["service_record"] for r in rows}))
    return {
        r["id"]: _rating(r, records[r["service_record"]])
        for r in rows
        if r["service_record"] in records
    }


def _rating(r: dict[str, Any], record: RecordToSend) -> RatingToSend:
    return RatingToSend(
        evaluation_id=r["id"],
        record=record,
        assess_number=r["assess_number"],
        channel=r["channel"],
        level=r["level"],
        # The indicator codes stored with a rating are the province's national codes (the
        # dictionary comes from its norm interface), so they go out as they are.
        tags=tuple(code for code in (r["tags"] or "").split(",") if code),
        comment=r["comment"],
        is_default=bool(r["is_default"]),
        rated_at=rated_at(r["client_time"], r["received_at"]),
        # Only a real-name rating names its evaluator: the applicant identified at the contact.
        evaluator_name=record.applicant_name if r["real_name"] else "",
        request_id=r["request_id"] or "",
    )


def rated_at(client_time: Any, received_at: Any) -> datetime:
    """When the person rated: the device clock for ratings buffered offline, else arrival."""
    return as_utc(client_time) if client_time else as_utc(received_at)
