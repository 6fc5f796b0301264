"""Dramatiq actors of forwarding and reconciliation, and how a
process builds its connector. Actors are thin: delivery takes outbox ids and calls the Forwarder,
which skips rows already settled; reconciliation takes a day and only reads. A repeated message is
harmless either way."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import dramatiq

from connectors.delivery import DeliveryPolicy, Forwarder
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
