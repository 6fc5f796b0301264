"""Forwarding endpoints for operators: health figures, the failed list, re-driving a failed row and
the last reconciliation. Supervisors and admins only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from connectors.reconcile import load_last
from connectors.service import Forwarding
from evaluation_service.errors import Forbidden, NotFound
from evaluation_service.schemas import RowId
from rectification.api import current_actor
from rectification.model import Actor, Role

OPERATORS = frozenset({Role.supervisor, Role.admin})


async def forwarding_operator(request: Request[Any, Any, Any]) -> Actor:
    """The logged-in supervisor or admin; 401 without a session, 403 for any other role."""
    actor = await current_actor(request)
    if actor.role not in OPERATORS:
        raise Forbidden(
            "forwarding_forbidden",
            "省平台推送情况仅向监督员和系统管理员开放。",
            "forwarding is for supervisors and admins only",
        )
    return actor


def _forwarding(request: Request[Any, Any, Any]) -> Forwarding:
    forwarding: Forwarding = request.app.state.forwarding
    return forwarding


class ForwardingController(Controller):
    path = "/api/v1/forwarding"
    tags = ["forwarding"]  # noqa: RUF012 (Litestar reads it as a class attribute)
    dependencies = {"operator": Provide(forwarding_operator)}  # noqa: RUF012 (as above)

    @get("/stats", summary="Outbox rows pending, delivered and failed; age of the oldest pending")
    async def stats(
        self, request: Request[Any, Any, Any], operator: NamedDependency[Actor]
    ) -> dict[str, Any]:
        return (await _forwarding(request).stats(datetime.now(UTC))).as_dict()

    @get("/failed", summary="Rows the province refused or that failed past the retry period")
    async def failed(
        self,
        request: Request[Any, Any, Any],
        operator: NamedDependency[Actor],
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0),
    ) -> list[dict[str, Any]]:
        return await _forwarding(request).failed(limit, offset)

    @post("/{outbox_id:int}/retry", status_code=202, summary="Send a failed row again")
    async def retry(
        self,
        request: Request[Any, Any, Any],
        operator: NamedDependency[Actor],
        outbox_id: RowId,
    ) -> dict[str, Any]:
        return await _forwarding(request).retry(outbox_id, datetime.now(UTC))

    @get("/reconciliation", summary="The last daily reconciliation with the province")
    async def reconciliation(
        self, request: Request[Any, Any, Any], operator: NamedDependency[Actor]
    ) -> dict[str, Any]:
        last = load_last(request.app.state.settings.var_dir)
        if last is None:
            raise NotFound(
                "no_reconciliation",
                "尚未进行过与省平台的对账。",
                "no reconciliation has run yet",
            )
        return last
