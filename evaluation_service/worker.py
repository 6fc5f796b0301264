"""Which broker background work runs on, whether it answers, and the workers that run forwarding.

`amqp://` is RabbitMQ, `redis://` is Redis (dramatiq actors in `python -m evaluation_service
worker`),
`embedded` is an in-process worker on the web process's own event loop. In every mode the outbox is
the durable record: a crash loses at most a lease's worth of time, never a row.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from connectors.delivery import Forwarder
from connectors.relay import Relay
from evaluation_service.settings import Settings

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
        self.queue: asyncio.Queue[list[int]] = asyncio.Queue(
            maxsize=settings.forward_concurrency * 2
        )
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
        await self.forwarder.client.close()


def run_worker(settings: Settings) -> int:
    """`python -m evaluation_service worker`: dramatiq workers plus the relay, until
    SIGTERM/SIGINT."""
    from evaluation_service.database import Database, registered_tables

    if Broker(settings.broker_url).kind == "embedded":
        return asyncio.run(_run_embedded(settings))

    import dramatiq
    from dramatiq.asyncio import get_event_loop_thread

    from connectors.actors import declare_deliver, forwarder_for

    broker = dramatiq_broker(settings.broker_url)
    ready: dict[str, Forwarder] = {}
    lock = asyncio.Lock()

    async def forwarder() -> Forwarder:
        async with lock:
            if "forwarder" not in ready:
                db = Database(settings.database_url, settings.db_pool_size)
                db.bind(registered_tables())
                await db.start()
                ready["forwarder"] = forwarder_for(db, settings)
        return ready["forwarder"]

    actor = declare_deliver(broker, forwarder)

    async def relay_main() -> None:
        forwarding = await forwarder()
        ceiling = settings.forward_batch_size * settings.forward_concurrency * 4

        async def dispatch(ids: list[int]) -> None:
            await asyncio.to_thread(actor.send, ids)

        async def has_room() -> bool:
            return await forwarding.in_flight() < ceiling

        await Relay(
            forwarding,
            dispatch,
            has_room,
            batch_size=settings.forward_batch_size,
            interval_seconds=settings.relay_interval_seconds,
        ).run()

    worker = dramatiq.Worker(
        broker, worker_threads=settings.forward_concurrency, worker_timeout=200
    )
    worker.start()
    loop_thread = get_event_loop_thread()
    assert loop_thread is not None
    relay = asyncio.run_coroutine_threadsafe(relay_main(), loop_thread.loop)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.warning("forwarding worker on %s", Broker(settings.broker_url).kind)
    while not stop.wait(0.5):
        if relay.done():
            log.error("relay stopped: %r", relay.exception())
            break
    relay.cancel()
    worker.stop()
    broker.close()
    return 0


async def _run_embedded(settings: Settings) -> int:
    from connectors.actors import forwarder_for
    from evaluation_service.database import Database, registered_tables

    db = Database(settings.database_url, settings.db_pool_size)
    db.bind(registered_tables())
    await db.start()
    worker = InProcessWorker(forwarder_for(db, settings), settings)
    worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await worker.stop()
    await db.close()
    return 0
