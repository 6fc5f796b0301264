"""Forwarding endpoints for operators: health figures, the failed list, re-driving a failed row and
the last reconciliation. Supervisors and admins only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from connectors.reconcile import load_last
from connectors.service import Forwarding
from evaluation_service.identity.api import requires
from evaluation_service.identity.model import Role
from evaluation_service.kernel.errors import Forbidden, NotFound
from evaluation_service.kernel.inputs import INT32_MAX
from evaluation_service.kernel.schemas import RowId, refusals
from evaluation_service.kernel.settings import Settings

FORWARDING_OPERATORS = requires(
    Role.supervisor,
    Role.admin,
    refusal=Forbidden(
        "forwarding_forbidden",
        "省平台推送情况仅向监督员和系统管理员开放。",
        "forwarding is for supervisors and admins only",
    ),
)


class ForwardingController(Controller):
    path = "/api/v1/forwarding"
    tags = ["forwarding"]  # noqa: RUF012 (Litestar reads it as a class attribute)
    guards = [FORWARDING_OPERATORS]  # noqa: RUF012 (as above)

    @get(
        "/stats",
        summary="Outbox rows pending, delivered and failed; age of the oldest pending",
        responses=refusals(401, 403),
    )
    async def stats(self, forwarding: NamedDependency[Forwarding]) -> dict[str, Any]:
        return (await forwarding.stats(datetime.now(UTC))).as_dict()

    @get(
        "/failed",
        summary="Rows the province refused or that failed past the retry period",
        responses=refusals(401, 403),
    )
    async def failed(
        self,
        forwarding: NamedDependency[Forwarding],
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=INT32_MAX),
    ) -> list[dict[str, Any]]:
        return await forwarding.failed(limit, offset)

    @post(
        "/{outbox_id:int}/retry",
        status_code=202,
        summary="Send a failed row again",
        responses=refusals(401, 403, 404, 409),
    )
    async def retry(
        self,
        forwarding: NamedDependency[Forwarding],
        outbox_id: RowId,
    ) -> dict[str, Any]:
        return await forwarding.retry(outbox_id, datetime.now(UTC))

    @get(
        "/reconciliation",
        summary="The last daily reconciliation with the province",
        responses=refusals(401, 403, 404),
    )
    async def reconciliation(self, settings: NamedDependency[Settings]) -> dict[str, Any]:
        last = load_last(settings.var_dir)
        if last is None:
            raise NotFound(
                "no_reconciliation",
                "尚未进行过与省平台的对账。",
                "no reconciliation has run yet",
            )
        return last
