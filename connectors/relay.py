"""The relay: turns due outbox rows into delivery messages, after the claim has committed.

New rows, rows whose back-off ended and rows whose lease ran out (a lost message, a crashed worker)
all look the same to it — pending and due — which is why the outbox, not the broker, is the record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from connectors.delivery import Forwarder

log = logging.getLogger("haochaping.forwarding")


class Relay:
    def __init__(
        self,
        forwarder: Forwarder,
        dispatch: Callable[[list[int]], Awaitable[None]],
        has_room: Callable[[], Awaitable[bool]],
        *,
        batch_size: int,
        interval_seconds: float,
    ) -> None:
        self.forwarder = forwarder
        self.dispatch = dispatch
        self.has_room = has_room
        self.batch_size = batch_size
        self.interval = interval_seconds

    async def tick(self) -> int:
        """Claim and dispatch due rows while there is room; returns how many were dispatched."""
        sent = 0
        while await self.has_room():
            ids = await self.forwarder.claim_due(self.batch_size)
            if not ids:
                break
            await self.dispatch(ids)
            sent += len(ids)
            if len(ids) < self.batch_size:
                break
        return sent

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay tick failed; trying again")
            await asyncio.sleep(self.interval)
