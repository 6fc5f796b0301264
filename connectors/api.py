"""Forwarding endpoints: health figures, the failed list, and re-driving a failed row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from connectors.service import Forwarding


def _forwarding(request: Request[Any, Any, Any]) -> Forwarding:
    forwarding: Forwarding = request.app.state.forwarding
    return forwarding


class ForwardingController(Controller):
    path = "/api/v1/forwarding"
    tags = ["forwarding"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get("/stats", summary="Outbox rows pending, delivered and failed; age of the oldest pending")
    async def stats(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return (await _forwarding(request).stats(datetime.now(UTC))).as_dict()

    @get("/failed", summary="Rows the province refused or that failed past the retry period")
    async def failed(
        self,
        request: Request[Any, Any, Any],
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0),
    ) -> list[dict[str, Any]]:
        return await _forwarding(request).failed(limit, offset)

    @post("/{outbox_id:int}/retry", status_code=202, summary="Send a failed row again")
    async def retry(self, request: Request[Any, Any, Any], outbox_id: int) -> dict[str, Any]:
        return await _forwarding(request).retry(outbox_id, datetime.now(UTC))
