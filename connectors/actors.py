"""Dramatiq actors of forwarding, and how a process builds its connector. Actors are thin: they take
outbox ids and call the Forwarder, which skips rows already settled, so a repeated message is
harmless."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import dramatiq

from connectors.delivery import DeliveryPolicy, Forwarder
from connectors.province.client import ProvinceClient
from connectors.province.signing import Signer
from evaluation_service.database import Database
from evaluation_service.settings import Settings

QUEUE = "forwarding"
DELIVER_ACTOR = "deliver_outbox"


def province_client(settings: Settings) -> ProvinceClient:
    return ProvinceClient(
        settings.province_url,
        tenancy_id=settings.province_tenancy_id,
        signer=Signer(
            settings.province_private_key,
            settings.province_public_key,
            settings.province_app_mark,
            settings.province_app_word,
        ),
        zone=ZoneInfo(settings.timezone),
        timeout_seconds=settings.province_timeout_seconds,
    )


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        batch_size=settings.forward_batch_size,
        retry_base_seconds=settings.forward_retry_base_seconds,
        retry_max_seconds=settings.forward_retry_max_seconds,
        fail_after_seconds=settings.forward_fail_after_seconds,
        lease_seconds=settings.forward_lease_seconds,
    )


def forwarder_for(db: Database, settings: Settings) -> Forwarder:
    return Forwarder(db, province_client(settings), delivery_policy(settings))


def declare_deliver(
    broker: dramatiq.Broker, forwarder: Callable[[], Awaitable[Forwarder]]
) -> dramatiq.Actor:  # type: ignore[type-arg]
    """The delivery actor on `broker`. Retries belong to the outbox (back-off, lease, relay), not to
    dramatiq: a message is a hint to deliver these ids now, and the outbox decides what is left."""

    async def deliver_outbox(ids: list[int]) -> None:
        await (await forwarder()).deliver(ids)

    return dramatiq.actor(
        deliver_outbox,
        broker=broker,
        actor_name=DELIVER_ACTOR,
        queue_name=QUEUE,
        max_retries=0,
        time_limit=300_000,
    )
