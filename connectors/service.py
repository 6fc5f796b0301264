"""Forwarding use cases for operators: health figures, the failed list, re-driving a failed row."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import Conflict, NotFound
from evaluation_service.kernel.tables import Outbox
from evaluation_service.kernel.vocabulary import OutboxState


@dataclass(frozen=True)
class ForwardingStats:
    pending: int
    delivered: int
    failed: int
    oldest_pending_age_seconds: float | None
    # Follow-ups the province answered 评价数据不可重复: not delivered, shown to supervisors.
    followup_refused: int = 0
    # Self-built items (code with 00000000): kept and counted, never pushed.
    not_forwardable: int = 0
    # Why pending rows are waiting, when the province said why (e.g. 密钥或应用标识错误).
    pending_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "delivered": self.delivered,
            "failed": self.failed,
            "followup_refused": self.followup_refused,
            "not_forwardable": self.not_forwardable,
            "oldest_pending_age_seconds": self.oldest_pending_age_seconds,
            "pending_reason": self.pending_reason,
        }


# Rows a supervisor sees on the console and may send again.
NEEDS_ATTENTION = (OutboxState.failed, OutboxState.followup_refused)


class Forwarding:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cached: tuple[float, ForwardingStats] | None = None
        self._refreshing = asyncio.Lock()

    async def recent_stats(self, now: datetime, max_age_seconds: float = 2.0) -> ForwardingStats:
        """For /health, which is polled often: counting a large outbox each time is not free, so
        the figures are at most `max_age_seconds` old and one request at a time refreshes them
        (the others answer with the figures they have)."""
        clock = time.monotonic()
        fresh = self._cached is not None and clock - self._cached[0] <= max_age_seconds
        if fresh or (self._cached is not None and self._refreshing.locked()):
            assert self._cached is not None
            return self._cached[1]
        async with self._refreshing:
            if self._cached is None or time.monotonic() - self._cached[0] > max_age_seconds:
                self._cached = (time.monotonic(), await self.stats(now))
        return self._cached[1]

    async def stats(self, now: datetime) -> ForwardingStats:
        counts = {state.value: 0 for state in OutboxState}
        # One pass over the outbox, not one per state.
        for row in await Outbox.raw("SELECT state, count(*) AS n FROM outbox GROUP BY state"):
            counts[row["state"]] = int(row["n"])
        oldest = (
            await Outbox.select(Outbox.created_at)
            .where(Outbox.state == OutboxState.pending)
            .order_by(Outbox.id)
            .first()
        )
        age = None
        if oldest is not None:
            age = round(max(0.0, (now - as_utc(oldest["created_at"])).total_seconds()), 3)
        waiting = (
            await Outbox.select(Outbox.last_error)
            .where((Outbox.state == OutboxState.pending) & (Outbox.last_error != ""))
            .order_by(Outbox.id, ascending=False)
            .first()
        )
        return ForwardingStats(
            pending=counts["pending"],
            delivered=counts["delivered"],
            failed=counts["failed"],
            oldest_pending_age_seconds=age,
            followup_refused=counts["followup_refused"],
            not_forwardable=counts["not_forwardable"],
            pending_reason=waiting["last_error"] if waiting else "",
        )

    async def failed_count(self) -> int:
        """What needs a supervisor's eye: refused or expired rows and refused follow-ups."""
        return int(await Outbox.count().where(Outbox.state.is_in(list(NEEDS_ATTENTION))))

    async def failed(self, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = (
            await Outbox.select(
                Outbox.id,
                Outbox.kind,
                Outbox.ref_id,
                Outbox.attempts,
                Outbox.last_error,
                Outbox.created_at,
                Outbox.next_attempt_at,
                Outbox.state,
            )
            .where(Outbox.state.is_in(list(NEEDS_ATTENTION)))
            .order_by(Outbox.id)
            .limit(limit)
            .offset(offset)
        )
        return [
            {
                "id": r["id"],
                "kind": r["kind"],
                "ref_id": r["ref_id"],
                "attempts": r["attempts"],
                "state": r["state"],
                "last_error": r["last_error"],
                "queued_at": as_utc(r["created_at"]).isoformat(),
                "failed_at": as_utc(r["next_attempt_at"]).isoformat(),
            }
            for r in rows
        ]

    async def retry(self, outbox_id: int, now: datetime) -> dict[str, Any]:
        """Re-drive a failed row: pending and due now. Its age clock (queued_at) restarts, so the
        fail-after period applies afresh; the rating's own time is kept on the rating."""
        async with self.db.write():
            changed = (
                await Outbox.update(
                    {
                        Outbox.state: OutboxState.pending,
                        Outbox.attempts: 0,
                        Outbox.next_attempt_at: now,
                        Outbox.created_at: now,
                        Outbox.last_error: "",
                    }
                )
                .where((Outbox.id == outbox_id) & Outbox.state.is_in(list(NEEDS_ATTENTION)))
                .returning(Outbox.id)
            )
            if changed:
                return {"id": outbox_id, "state": OutboxState.pending.value}
            row = await Outbox.select(Outbox.state).where(Outbox.id == outbox_id).first()
        if row is None:
            raise NotFound(
                "unknown_outbox_row", f"转发记录 {outbox_id} 不存在。", f"no outbox row {outbox_id}"
            )
        raise Conflict(
            "outbox_row_not_failed",
            f"转发记录 {outbox_id} 当前状态为“{row['state']}”，只有发送失败的记录可以重新发送。",
            f"outbox row {outbox_id} is {row['state']}; only failed rows can be retried",
        )
