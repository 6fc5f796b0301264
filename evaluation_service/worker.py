"""Which broker background work runs on, and whether it answers (dramatiq actors come with forwarding)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

CHECK_SECONDS = 5.0


class Broker:
    """`amqp://` is RabbitMQ, `redis://` is Redis, `embedded` is the in-process worker."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = urlsplit(url).scheme
        self.kind = {"amqp": "rabbitmq", "amqps": "rabbitmq", "redis": "redis"}.get(scheme, "embedded")
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
