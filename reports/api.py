"""HTTP edge of the reports: the archive list, a month's metrics (JSON) and its page (HTML).

Supervisors and deputies only; what they read is the archived version, byte for byte.
"""

from __future__ import annotations

from html import escape
from typing import Any

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from evaluation_service.identity.api import requires
from evaluation_service.identity.model import Role
from evaluation_service.kernel.errors import Forbidden
from evaluation_service.kernel.schemas import Version, refusals
from reports.model import ReportMonth
from reports.service import Reports, VersionInfo

# Monthly reports carry no personal data; liaisons and admins have other pages.
REPORT_READERS = requires(
    Role.supervisor,
    Role.deputy,
    refusal=Forbidden(
        "reports_forbidden",
        "月度报告仅向监督员和人大代表、政协委员、媒体观察员开放。",
        "monthly reports are for supervisors and deputies only",
    ),
)


class VersionOut(msgspec.Struct):
    month: str
    version: int
    created_at: str
    as_of: str
    content_hash: str
    metrics_url: str
    page_url: str


def _out(info: VersionInfo) -> VersionOut:
    return VersionOut(
        month=info.month,
        version=info.version,
        created_at=info.created_at.isoformat(),
        as_of=info.as_of.isoformat(),
        content_hash=info.content_hash,
        metrics_url=f"/api/v1/reports/{info.month}?version={info.version}",
        page_url=f"/reports/{info.month}?version={info.version}",
    )


class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]  # noqa: RUF012 (Litestar declares it a list attribute)
    guards = [REPORT_READERS]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        summary="Every archived report version, newest month and version first",
        responses=refusals(401, 403),
    )
    async def list_reports(self, reports: NamedDependency[Reports]) -> list[VersionOut]:
        return [_out(info) for info in await reports.list_versions()]

    @get(
        "/{month:str}",
        summary="A month's metrics as archived (latest version unless asked)",
        responses=refusals(401, 403, 404),
    )
    async def month_metrics(
        self,
        reports: NamedDependency[Reports],
        month: FromPath[str],
        version: Version = None,
    ) -> dict[str, Any]:
        return await reports.metrics(ReportMonth.parse(month), version)


class ReportPageController(Controller):
    path = "/reports"
    tags = ["reports"]  # noqa: RUF012 (Litestar declares it a list attribute)
    guards = [REPORT_READERS]  # noqa: RUF012 (Litestar reads it as a class attribute)
    include_in_schema = False

    @get("/", media_type=MediaType.HTML, summary="All archived months and versions")
    async def index(self, reports: NamedDependency[Reports]) -> str:
        rows = "".join(
            f'<tr><td><a href="/reports/{escape(v.month)}?version={v.version}">{escape(v.month)}'
            f"</a></td><td>第{v.version}版</td><td>{escape(v.created_at.isoformat())}</td>"
            f"<td><code>{escape(v.content_hash)}</code></td></tr>"
            for v in await reports.list_versions()
        )
        return (
            '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            "<title>月度报告存档</title></head><body><h1>月度报告存档</h1>"
            "<table><thead><tr><th>月份</th><th>版本</th><th>生成时间</th>"
            f"<th>内容摘要（SHA-256）</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
        )

    @get("/{month:str}", media_type=MediaType.HTML, summary="A month's page, exactly as archived")
    async def page(
        self,
        reports: NamedDependency[Reports],
        month: FromPath[str],
        version: Version = None,
    ) -> Response[str]:
        html, number, digest = await reports.page(ReportMonth.parse(month), version)
        return Response(
            html,
            media_type=MediaType.HTML,
            headers={
                "X-Report-Version": str(number),
                "X-Content-SHA256": digest,
                "Cache-Control": "private, no-store",
            },
        )


CONTROLLERS: list[type[Controller]] = [ReportController, ReportPageController]
