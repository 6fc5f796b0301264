"""Which broker background work runs on, whether it answers, the workers that run it and the
scheduler that enqueues the scheduled jobs.

`amqp://` is RabbitMQ, `redis://` is Redis (dramatiq actors in `python -m evaluation_service
worker`, scheduled messages from `python -m evaluation_service scheduler`), `embedded` is an
in-process worker on the web process's own event loop. In every mode the outbox is the durable
record: a crash loses at most a lease's worth of time, never a row.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from connectors.delivery import Forwarder
from connectors.relay import Relay
from evaluation_service.kernel.settings import Settings
from evaluation_service.root.schedule import Sends, running, schedule_table

if TYPE_CHECKING:
    from connectors.province.client import ProvinceClient
    from rectification.notify import Outbound
    from rectification.service import Rectification
    from reports.service import Reports

CHECK_SECONDS = 5.0
log = logging.getLogger("haochaping.worker")


class Broker:
    """`amqp://` is RabbitMQ, `redis://` is Redis, `embedded` is the in-process worker."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = urlsplit(url).scheme
        self.kind = {"amqp": "rabbitmq", "amqps": "rabbitmq", "redis": "redis"}.get(
            scheme, "embedded"
        )
        self._checked_at = -CHECK_SECONDS
        self._ok = self.kind == "embedded"

    async def refresh(self) -> None:
        """Health is polled often; the broker is asked at most every few seconds."""
        if self.kind == "embedded" or time.monotonic() - self._checked_at < CHECK_SECONDS:
            return
        self._checked_at = time.monotonic()
        parts = urlsplit(self.url)
        port = parts.port or (5672 if self.kind == "rabbitmq" else 6379)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", port), timeout=0.5
            )
            writer.close()
            self._ok = True
        except (OSError, TimeoutError):
            self._ok = False

    async def state(self) -> dict[str, Any]:
        await self.refresh()
        return {"kind": self.kind, "ok": self._ok}

    def close(self) -> None:
        pass


def dramatiq_broker(url: str) -> Any:
    """RabbitMQ or Redis, with the AsyncIO middleware that runs async actors on an event loop
    thread."""
    from dramatiq.middleware import AsyncIO

    kind = Broker(url).kind
    if kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker: Any = RabbitmqBroker(url=url)
    elif kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)
    else:
        raise ValueError(f"no dramatiq broker for {url!r}: embedded mode uses InProcessWorker")
    broker.add_middleware(AsyncIO())
    return broker


class InProcessWorker:
    """The embedded default: the relay and a few consumers as tasks on the current event loop, with
    an in-memory queue as the broker. The queue is small so claimed rows do not outwait their
    lease."""

    def __init__(self, forwarder: Forwarder, settings: Settings) -> None:
        self.forwarder = forwarder
        self.concurrency = settings.forward_concurrency
        self.queue: asyncio.Queue[list[int]] = asyncio.Queue(maxsize=settings.forward_concurrency)
        self.relay = Relay(
            forwarder,
            self.queue.put,
            self._has_room,
            batch_size=settings.forward_batch_size,
            interval_seconds=settings.relay_interval_seconds,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def _has_room(self) -> bool:
        return not self.queue.full()

    async def _consume(self) -> None:
        while True:
            ids = await self.queue.get()
            try:
                await self.forwarder.deliver(ids)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The rows stay pending; their lease ends and the relay hands them out again.
                log.exception("delivery of %d outbox rows failed", len(ids))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.relay.run(), name="forwarding-relay")]
        self._tasks += [
            asyncio.create_task(self._consume(), name=f"forwarding-{n}")
            for n in range(self.concurrency)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # Claimed but never started: hand them back now rather than after their lease, so the
        # next process sends them at once (and nothing already sent is sent again early).
        queued: list[int] = []
        while not self.queue.empty():
            queued += self.queue.get_nowait()
        if queued:
            await self.forwarder.release(queued)
        await self.forwarder.client.close()


class WorkerResources:
    """What one worker process's actors share, built on first use on dramatiq's event loop thread:
    one database pool, one province client (in the Forwarder), the ticket and report services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = asyncio.Lock()
        self._ready: dict[str, Any] = {}

    async def _build(self) -> dict[str, Any]:
        from evaluation_service.root.bootstrap import build_services, forwarder

        async with self._lock:
            if not self._ready:
                services = build_services(self.settings)
                await services.db.start()
                from evaluation_service.root.bootstrap import outbound_of
                from evaluation_service.root.observability import ObservedReports

                self._ready = {
                    "outbound": outbound_of(services),
                    "forwarder": forwarder(services.db, self.settings),
                    "rectification": services.rectification,
                    "reports": ObservedReports(services.reports),
                    "intake": services.intake,
                }
        return self._ready

    async def forwarder(self) -> Forwarder:
        forwarder: Forwarder = (await self._build())["forwarder"]
        return forwarder

    async def outbound(self) -> Outbound:
        service: Outbound | None = (await self._build())["outbound"]
        if service is None:
            raise RuntimeError("NOTIFY_SENDER=none: no outbound messages are sent")
        return service

    async def province(self) -> ProvinceClient:
        return (await self.forwarder()).client

    async def rectification(self) -> Rectification:
        service: Rectification = (await self._build())["rectification"]
        return service

    async def reports(self) -> Reports:
        service: Reports = (await self._build())["reports"]
        return service

    async def sync_indicators(self) -> int:
        from evaluation_service.root.bootstrap import sync_indicators

        ready = await self._build()
        return await sync_indicators(ready["forwarder"].client, ready["intake"])


@dataclass(frozen=True)
class Actors:
    """Every actor of the service, declared on one broker: what a worker runs and a scheduler
    sends."""

    deliver: Any
    sweep: Any
    generate_report: Any
    reconcile: Any
    sync_indicators: Any
    outbound: Any


def declare_actors(broker: Any, settings: Settings, resources: WorkerResources) -> Actors:
    """All actors on `broker`, so any worker runs any message. Declaring opens nothing: resources
    are built when a message first needs them, so the scheduler declares the same actors to send."""
    from connectors.actors import declare_deliver, declare_reconcile
    from rectification.actors import declare_outbound, declare_sweep
    from reports.actors import declare_generate

    return Actors(
        deliver=declare_deliver(broker, resources.forwarder),
        sweep=declare_sweep(broker, resources.rectification, settings.ticket_webhook_url),
        generate_report=declare_generate(broker, resources.reports),
        reconcile=declare_reconcile(
            broker, resources.province, ZoneInfo(settings.timezone), settings.var_dir
        ),
        sync_indicators=_declare_indicator_sync(broker, resources),
        outbound=declare_outbound(broker, resources.outbound),
    )


INDICATOR_SYNC_ACTOR = "indicators.sync"


def _declare_indicator_sync(broker: Any, resources: WorkerResources) -> Any:
    """The national indicator dictionary from the province's norm interface into intake: it joins
    the connector and the evaluation domain, so it is the root's own actor."""
    import dramatiq

    async def sync_indicators() -> None:
        changed = await resources.sync_indicators()
        log.info("indicator sync: %d rows changed", changed)

    declare = dramatiq.actor(
        broker=broker,
        actor_name=INDICATOR_SYNC_ACTOR,
        queue_name="forwarding",
        max_retries=3,
        time_limit=5 * 60_000,
    )
    return declare(sync_indicators)


def scheduler_sends(actors: Actors) -> Sends:
    """The schedule table's sends as dramatiq messages (the `scheduler` process)."""

    async def sweep() -> None:
        await asyncio.to_thread(actors.sweep.send)

    async def report(month: str) -> None:
        await asyncio.to_thread(actors.generate_report.send, month)

    async def reconcile(day: str) -> None:
        await asyncio.to_thread(actors.reconcile.send, day)

    async def indicators() -> None:
        await asyncio.to_thread(actors.sync_indicators.send)

    return Sends(sweep=sweep, report=report, reconcile=reconcile, indicators=indicators)


def run_worker(settings: Settings) -> int:
    """`python -m evaluation_service worker`: dramatiq workers for every actor plus the outbox
    relay, until SIGTERM/SIGINT. Workers never schedule: with several of them, each would enqueue
    the same jobs; that is the one `scheduler` process's work."""
    if Broker(settings.broker_url).kind == "embedded":
        return asyncio.run(_run_embedded(settings))

    import dramatiq
    from dramatiq.asyncio import get_event_loop_thread

    broker = dramatiq_broker(settings.broker_url)
    resources = WorkerResources(settings)
    actors = declare_actors(broker, settings, resources)

    async def relay_main() -> None:
        forwarding = await resources.forwarder()
        ceiling = settings.forward_batch_size * settings.forward_concurrency * 4

        async def dispatch(ids: list[int]) -> None:
            await asyncio.to_thread(actors.deliver.send, ids)

        async def has_room() -> bool:
            return await forwarding.in_flight() < ceiling

        await Relay(
            forwarding,
            dispatch,
            has_room,
            batch_size=settings.forward_batch_size,
            interval_seconds=settings.relay_interval_seconds,
        ).run()

    async def outbound_relay() -> None:
        """Due outbound messages (SMS / 政务微信) to the outbound actor, claimed with a lease."""
        from rectification.notify import OutboundLoop

        outbound = await resources.outbound()

        class Dispatch(OutboundLoop):
            async def tick(self) -> int:
                ids = await self.outbound.claim_due(self.batch_size, datetime.now(UTC))
                if ids:
                    await asyncio.to_thread(actors.outbound.send, ids)
                return len(ids)

        await Dispatch(outbound, lambda: datetime.now(UTC), settings.notify_interval_seconds).run()

    worker = dramatiq.Worker(
        broker, worker_threads=settings.forward_concurrency, worker_timeout=200
    )
    worker.start()
    loop_thread = get_event_loop_thread()
    assert loop_thread is not None
    relay = asyncio.run_coroutine_threadsafe(relay_main(), loop_thread.loop)
    outbound_relay_future = None
    if settings.notify_sender != "none":
        outbound_relay_future = asyncio.run_coroutine_threadsafe(outbound_relay(), loop_thread.loop)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.warning("worker on %s: forwarding, sweeps, reports, reconciliation", broker_kind(settings))
    while not stop.wait(0.5):
        if relay.done():
            log.error("relay stopped: %r", relay.exception())
            break
    relay.cancel()
    if outbound_relay_future is not None:
        outbound_relay_future.cancel()
    worker.stop()
    broker.close()
    return 0


def broker_kind(settings: Settings) -> str:
    return Broker(settings.broker_url).kind


def run_scheduler(settings: Settings) -> int:
    """`python -m evaluation_service scheduler`: ONE process that sends the schedule table's jobs
    (`root/schedule.py`) as messages on the broker, each also once at start. Every job is
    idempotent, so a restart or a second scheduler costs work, never a duplicate."""
    if broker_kind(settings) == "embedded":
        log.error("BROKER_URL is embedded: the web process runs the schedule (SCHEDULER_ENABLED)")
        return 2
    broker = dramatiq_broker(settings.broker_url)
    actors = declare_actors(broker, settings, WorkerResources(settings))
    try:
        return asyncio.run(_schedule_forever(actors, settings))
    finally:
        broker.close()


async def _schedule_forever(actors: Actors, settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    jobs = schedule_table(settings, scheduler_sends(actors))
    async with running(jobs):
        log.warning("scheduler on %s: %d schedules", broker_kind(settings), len(jobs))
        await stop.wait()
    return 0


async def _run_embedded(settings: Settings) -> int:
    from evaluation_service.root.bootstrap import build_services, forwarder, outbound_of
    from rectification.notify import OutboundLoop

    services = build_services(settings)
    db = services.db
    await db.start()
    worker = InProcessWorker(forwarder(db, settings), settings)
    worker.start()
    outbound = outbound_of(services)
    outbound_task = None
    if outbound is not None:
        loop_ = OutboundLoop(outbound, lambda: datetime.now(UTC), settings.notify_interval_seconds)
        outbound_task = asyncio.create_task(loop_.run(), name="outbound-messages")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    if outbound_task is not None and outbound is not None:
        outbound_task.cancel()
        await asyncio.gather(outbound_task, return_exceptions=True)
        await outbound.sender.close()
    await worker.stop()
    await db.close()
    return 0
