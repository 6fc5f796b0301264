"""Dramatiq actors of forwarding and reconciliation, the daily reconciliation schedule, and how a
process builds its connector. Actors are thin: delivery takes outbox ids and calls the Forwarder,
which skips rows already settled; reconciliation takes a day and only reads. A repeated message is
harmless either way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq

from connectors.delivery import DeliveryPolicy, Forwarder
from connectors.model import ProvinceCallFailed
from connectors.province.client import ProvinceClient
from connectors.province.config import ProvinceConfig
from connectors.reconcile import reconcile_and_record
from evaluation_service.kernel.settings import Settings

log = logging.getLogger("haochaping.reconcile")

QUEUE = "forwarding"
DELIVER_ACTOR = "deliver_outbox"
RECONCILE_ACTOR = "connectors.reconcile_day"
RECONCILE_HOUR = 2  # 02:00 on the county's clock: yesterday is complete, the province is quiet


def province_config(settings: Settings) -> ProvinceConfig:
    """The connector's configuration from the settings the root read (raises ProvinceConfigError
    naming the setting that is missing or wrong)."""
    return ProvinceConfig.from_settings(
        {
            "PROVINCE_RECORDS_URL": settings.province_records_url,
            "PROVINCE_RATINGS_URL": settings.province_ratings_url,
            "PROVINCE_NORM_URL": settings.province_norm_url,
            "PROVINCE_TICKET_RESULTS_URL": settings.province_ticket_results_url,
            "PROVINCE_HOLDINGS_URL": settings.province_holdings_url,
            "PROVINCE_PUBLIC_KEY": settings.province_public_key,
            "PROVINCE_APP_MARK": settings.province_app_mark,
            "PROVINCE_APP_WORD": settings.province_app_word,
            "PROVINCE_DATA_SOURCE": settings.province_data_source,
            "PROVINCE_TENANCY_ID": settings.province_tenancy_id,
            "PROVINCE_CIPHER_MODE": settings.province_cipher_mode,
            "PROVINCE_CIPHER_ENCODING": settings.province_cipher_encoding,
            "PROVINCE_ITEMS_PER_CIPHERTEXT": str(settings.province_items_per_ciphertext),
            "PROVINCE_TIMEOUT_SECONDS": str(settings.province_timeout_seconds),
        }
    )


def province_client(settings: Settings) -> ProvinceClient:
    return ProvinceClient(province_config(settings), ZoneInfo(settings.timezone))


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        batch_size=settings.forward_batch_size,
        retry_base_seconds=settings.forward_retry_base_seconds,
        retry_max_seconds=settings.forward_retry_max_seconds,
        fail_after_seconds=settings.forward_fail_after_seconds,
        lease_seconds=settings.forward_lease_seconds,
    )


def declare_deliver(
    broker: dramatiq.Broker, forwarder: Callable[[], Awaitable[Forwarder]]
) -> dramatiq.Actor:  # type: ignore[type-arg]
    """The delivery actor on `broker`. Retries belong to the outbox (back-off, lease, relay), not to
    dramatiq: a message is a hint to deliver these ids now, and the outbox decides what is left."""

    async def deliver_outbox(ids: list[int]) -> None:
        await (await forwarder()).deliver(ids)

    return dramatiq.actor(  # type: ignore[call-overload]
        deliver_outbox,
        broker=broker,
        actor_name=DELIVER_ACTOR,
        queue_name=QUEUE,
        max_retries=0,
        time_limit=300_000,
    )


def declare_reconcile(
    broker: dramatiq.Broker,
    client: Callable[[], Awaitable[ProvinceClient]],
    zone: ZoneInfo,
    var_dir: Path,
) -> dramatiq.Actor:  # type: ignore[type-arg]
    """The reconciliation actor on `broker`; its message is one day, `YYYY-MM-DD`. A province that
    does not answer is retried by dramatiq with back-off; the day can always be run again."""

    async def reconcile_day(day: str) -> None:
        await reconcile_and_record(date.fromisoformat(day), await client(), zone, var_dir)

    declare = dramatiq.actor(
        broker=broker,
        actor_name=RECONCILE_ACTOR,
        queue_name=QUEUE,
        max_retries=3,
        time_limit=10 * 60_000,
    )
    return declare(reconcile_day)


def next_reconcile(after: datetime, zone: ZoneInfo) -> datetime:
    """The first 02:00 (county clock) strictly after `after`."""
    local = after.astimezone(zone)
    at = local.replace(hour=RECONCILE_HOUR, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)  # wall-clock arithmetic on the county's zone
    return at.astimezone(UTC)


def day_due(now: datetime, zone: ZoneInfo) -> date:
    """The day a run at `now` reconciles: the county's yesterday."""
    return now.astimezone(zone).date() - timedelta(days=1)


async def schedule(
    send: Callable[[str], Any],
    zone: ZoneInfo,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """The scheduler: enqueue yesterday now (catch-up after downtime; reading twice is harmless)
    and then every day at 02:00, until cancelled."""
    while True:
        try:
            await asyncio.to_thread(send, day_due(clock(), zone).isoformat())
        except Exception:
            log.exception("could not enqueue the daily reconciliation")
        wait = (next_reconcile(clock(), zone) - clock()).total_seconds()
        await sleep(max(wait, 1.0))


def embedded_reconciler(
    settings: Settings, enabled: bool
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan hook for the embedded default: the daily schedule as a task on the web process's
    loop, reconciling in-process instead of enqueueing."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        zone = ZoneInfo(settings.timezone)
        client = province_client(settings)

        async def run(day: str) -> None:
            try:
                await reconcile_and_record(date.fromisoformat(day), client, zone, settings.var_dir)
            except ProvinceCallFailed as exc:
                log.warning("reconciliation of %s: province unavailable: %s", day, exc)

        def send(day: str) -> None:
            future = asyncio.run_coroutine_threadsafe(run(day), loop)
            future.add_done_callback(_log_failure)

        task = asyncio.create_task(schedule(send, zone))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    @asynccontextmanager
    async def nothing(_: Any) -> AsyncIterator[None]:
        yield

    return lifespan if enabled else nothing


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("reconciliation failed: %r", future.exception())
