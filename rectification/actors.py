"""Background work of rectification: the scheduled deadline sweep and its escalation webhook.

Thin: the sweep itself is `Rectification.sweep`, a few set-based statements. A message carries no
arguments, and a sweep run twice changes nothing the second time, so the scheduler may enqueue it
from several processes and dramatiq may redeliver it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import dramatiq
import httpx

from rectification.notify import Outbound
from rectification.service import Rectification, SweepResult

log = logging.getLogger("haochaping.rectification")

SWEEP_ACTOR = "rectification.sweep_deadlines"
QUEUE = "rectification"
WEBHOOK_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


async def sweep_and_escalate(
    service: Rectification,
    now: datetime,
    webhook_url: str = "",
    client: httpx.AsyncClient | None = None,
) -> SweepResult:
    """One sweep; then, after its commit, the optional webhook about newly overdue tickets.

    The in-app notifications are already stored when the webhook is called, so a webhook that is
    down is logged and loses nothing.
    """
    result = await service.sweep(now)
    if webhook_url and result.escalated_ticket_ids:
        payload = {
            "event": "tickets_overdue",
            "at": now.isoformat(),
            "ticket_ids": result.escalated_ticket_ids,
            "message": f"{len(result.escalated_ticket_ids)} 件差评整改工单已超期，请督办。",
        }
        try:
            if client is None:
                async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT) as own:
                    response = await own.post(webhook_url, json=payload)
            else:
                response = await client.post(webhook_url, json=payload)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("escalation webhook failed: %s", exc)
    return result


def declare_sweep(
    broker: dramatiq.Broker,
    service: Callable[[], Awaitable[Rectification]],
    webhook_url: str = "",
) -> dramatiq.Actor:  # type: ignore[type-arg]
    """The sweep actor on `broker` (which needs dramatiq's AsyncIO middleware, as forwarding's)."""

    async def sweep_deadlines() -> None:
        result = await sweep_and_escalate(await service(), datetime.now(UTC), webhook_url)
        log.info("deadline sweep: %d yellow, %d red", result.yellow, result.red)

    return dramatiq.actor(  # type: ignore[call-overload, no-any-return]
        sweep_deadlines,
        broker=broker,
        actor_name=SWEEP_ACTOR,
        queue_name=QUEUE,
        max_retries=3,
        time_limit=120_000,
    )


OUTBOUND_ACTOR = "rectification.deliver_outbound"


def declare_outbound(
    broker: dramatiq.Broker, outbound: Callable[[], Awaitable[Outbound]]
) -> dramatiq.Actor:  # type: ignore[type-arg]
    """Delivers outbound messages (SMS / 政务微信) by id; the outbound_message row is the record,
    so a lost or repeated message costs a retry, never a notification."""

    async def deliver_outbound(ids: list[int]) -> None:
        service = await outbound()
        counts = await service.deliver(ids, lambda: datetime.now(UTC))
        log.info("outbound delivery: %s", counts)

    return dramatiq.actor(  # type: ignore[call-overload, no-any-return]
        deliver_outbound,
        broker=broker,
        actor_name=OUTBOUND_ACTOR,
        queue_name=QUEUE,
        max_retries=0,  # the row's own back-off retries, not the broker
        time_limit=120_000,
    )
