"""HTTP edge of the reports: the archive list, a month's metrics (JSON) and its page (HTML).

Supervisors and deputies only; what they read is the archived version, byte for byte.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from evaluation_service.kernel.errors import NotFound
from evaluation_service.kernel.schemas import Version, refusals
from reports import exports, render
from reports.model import ReportMonth
from reports.service import Reports, VersionInfo
from reports.web import REPORT_PAGES, REPORT_READERS

# The scripts of the live pages: versioned names, so a browser keeps them for a year.
ASSET_CACHE = "public, max-age=31536000, immutable"


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

    @get(
        "/{month:str}/archived",
        media_type=MediaType.HTML,
        summary="A month's page, exactly as archived (its checksum: X-Content-SHA256)",
    )
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

    @get(
        "/{month:str}/download",
        media_type=MediaType.HTML,
        summary="A month's page with its scripts inline: opens offline, to keep or send",
    )
    async def download(
        self,
        reports: NamedDependency[Reports],
        month: FromPath[str],
        version: Version = None,
    ) -> Response[str]:
        parsed = ReportMonth.parse(month)
        html, number, digest = await reports.page(parsed, version)
        return Response(
            render.self_contained(html),
            media_type=MediaType.HTML,
            headers={
                "Content-Disposition": f'attachment; filename="report-{parsed}-v{number}.html"',
                "X-Report-Version": str(number),
                # The archive's checksum: the archived page is served as stored by
                # /reports/{m}/archived.
                "X-Content-SHA256": digest,
                "Cache-Control": "private, no-store",
            },
        )

    @get("/{month:str}/tables.xlsx", summary="Every table of a month, one sheet each (Excel)")
    async def excel(
        self,
        reports: NamedDependency[Reports],
        month: FromPath[str],
        version: Version = None,
    ) -> Response[bytes]:
        parsed = ReportMonth.parse(month)
        data = await reports.metrics(parsed, version)
        return _file(
            exports.xlsx(exports.tables(data)),
            XLSX,
            f"report-{parsed}-v{data['version']}.xlsx",
            data,
        )

    @get("/{month:str}/tables/{file:str}", summary="One table of a month: NAME.csv (UTF-8)")
    async def table_csv(
        self,
        reports: NamedDependency[Reports],
        month: FromPath[str],
        file: FromPath[str],
        version: Version = None,
    ) -> Response[bytes]:
        parsed = ReportMonth.parse(month)
        data = await reports.metrics(parsed, version)
        named = exports.tables(data)
        name = file.removesuffix(".csv")
        if not file.endswith(".csv") or name not in named:
            raise NotFound("table_not_found", "没有这张表。", f"no table {file}", "file")
        return _file(
            exports.csv(named[name]),
            "text/csv; charset=utf-8",
            f"report-{parsed}-v{data['version']}-{name}.csv",
            data,
        )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _file(body: bytes, media_type: str, filename: str, data: dict[str, Any]) -> Response[bytes]:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Report-Version": str(data["version"]),
            "X-Content-SHA256": str(data["content_hash"]),
            "Cache-Control": "private, no-store",
        },
    )


@get(
    "/reports/assets/{name:str}",
    media_type="text/javascript",
    include_in_schema=False,
    summary="plotly.js and the drawing script, by versioned name (no personal data: no guard)",
)
async def report_asset(name: FromPath[str]) -> Response[str]:
    text = render.asset(name)
    if text is None:
        raise NotFound("asset_not_found", "找不到该文件。", f"no asset {name}")
    return Response(
        text, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": ASSET_CACHE}
    )


CONTROLLERS: list[Any] = [ReportController, ReportPageController, report_asset, REPORT_PAGES]
