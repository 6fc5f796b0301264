"""Staff page of forwarding: rows the province refused or that failed past the retry period, and
re-driving one. Supervisors and admins only (the route guard); the frame is identity's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from connectors.service import Forwarding
from evaluation_service.identity.api import requires
from evaluation_service.identity.model import Role
from evaluation_service.identity.web import VIEWER, Viewer, staff_error_page, staff_page
from evaluation_service.kernel.errors import DomainError, Forbidden
from evaluation_service.kernel.schemas import RowId
from evaluation_service.kernel.vocabulary import OutboxKind

TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"

OUTBOX_KIND_TEXT = {
    OutboxKind.service_record: "服务记录",
    OutboxKind.evaluation: "评价",
    OutboxKind.ticket_result: "整改结果",
}
# The console's pages: a deputy is told where to go instead (tickets carry personal data).
OPERATOR_PAGES = requires(
    Role.supervisor,
    Role.admin,
    refusals={
        Role.deputy: Forbidden(
            "pages_forbidden",
            "您的角色（人大代表、政协委员、媒体观察员）只能查看月度统计报告，"
            "不能查看整改工单（工单含个人信息）。请前往“月度报告”。",
            "deputies read reports only",
        )
    },
)


async def _forwarding_page(
    request: Request[Any, Any, Any],
    forwarding: NamedDependency[Forwarding],
    viewer: NamedDependency[Viewer],
    retried: int | None = None,
    error: DomainError | None = None,
) -> Template:
    rows = await forwarding.failed(200, 0)
    stats = await forwarding.stats(datetime.now(UTC))
    for row in rows:
        row["kind_text"] = OUTBOX_KIND_TEXT.get(row["kind"], row["kind"])
        row["queued"] = datetime.fromisoformat(row["queued_at"])
        row["failed"] = datetime.fromisoformat(row["failed_at"])
    return staff_page(
        request,
        "console_forwarding.html",
        viewer,
        status_code=error.status if error else 200,
        tab="forwarding",
        rows=rows,
        stats=stats,
        retried=retried,
        error=error.zh if error else "",
    )


@get("/console/forwarding", guards=[OPERATOR_PAGES])
async def console_forwarding(
    request: Request[Any, Any, Any],
    forwarding: NamedDependency[Forwarding],
    viewer: NamedDependency[Viewer],
    retried: FromQuery[int | None] = None,
) -> Template:
    return await _forwarding_page(request, forwarding, viewer, retried=retried)


@post("/console/forwarding/{outbox_id:int}/retry", guards=[OPERATOR_PAGES])
async def console_forwarding_retry(
    request: Request[Any, Any, Any],
    forwarding: NamedDependency[Forwarding],
    viewer: NamedDependency[Viewer],
    outbox_id: RowId,
) -> Response[Any]:
    try:
        await forwarding.retry(outbox_id, datetime.now(UTC))
    except DomainError as error:
        return await _forwarding_page(request, forwarding, viewer, error=error)
    return Redirect(f"/console/forwarding?retried={outbox_id}", status_code=303)


FORWARDING_PAGES = Router(
    path="/",
    route_handlers=[console_forwarding, console_forwarding_retry],
    dependencies=VIEWER,
    exception_handlers={DomainError: staff_error_page},
    include_in_schema=False,
)
