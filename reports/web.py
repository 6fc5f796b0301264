"""Staff pages of reports inside the staff frame: the archive, the month picker, generation.

Generation runs as a background task of the web process (the same `Reports.generate` the schedule
and the command line use); its progress is written to the database (`GenerationJobs`), so the
page's poll is answered by whichever web process it reaches.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from evaluation_service.identity.api import requires
from evaluation_service.identity.model import Role
from evaluation_service.identity.web import VIEWER, Viewer, staff_error_page, staff_page
from evaluation_service.kernel.errors import DomainError, Forbidden
from evaluation_service.kernel.schemas import Version
from reports import render
from reports.model import ReportMonth, previous_month
from reports.service import Reports

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = (TEMPLATES / "staff_reports.html").read_text(encoding="utf-8")
INTEGRITY_TEMPLATE = (TEMPLATES / "staff_integrity.html").read_text(encoding="utf-8")
MONTH_TEMPLATE = (TEMPLATES / "staff_month.html").read_text(encoding="utf-8")

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
GENERATORS = requires(
    Role.supervisor,
    refusal=Forbidden(
        "generate_forbidden", "只有监督员可以生成月度报告。", "only supervisors generate reports"
    ),
)
# Integrity evidence names devices, times and rating ids, and themes quote citizens' comments.
SUPERVISORS_ONLY = requires(
    Role.supervisor,
    refusal=Forbidden(
        "integrity_forbidden",
        "评价真实性核查的证据明细和差评原文仅向监督员开放；月度报告中可查看各类标记的数量和差评主题。",
        "integrity evidence and comments are for supervisors only",
    ),
)
_TASKS: set[asyncio.Task[Any]] = set()  # held so a running generation is not collected


def _nav(viewer: Viewer) -> Viewer:
    """A deputy's frame links only to what a deputy may open: the reports."""
    if viewer.actor.role == Role.deputy:
        return replace(viewer, nav=[("/reports", "月度报告")])
    return viewer


@get("/reports", guards=[REPORT_READERS], dependencies=VIEWER)
async def reports_index(
    request: Request[Any, Any, Any],
    reports: NamedDependency[Reports],
    viewer: NamedDependency[Viewer],
) -> Template:
    versions = await reports.list_versions()
    jobs = (
        await reports.jobs.recent(datetime.now(UTC)) if viewer.actor.role == Role.supervisor else []
    )
    page = staff_page(
        request,
        "staff/_layout.html",
        _nav(viewer),
        versions=versions,
        latest=versions[0].month if versions else None,
        can_generate=viewer.actor.role == Role.supervisor,
        default_month=str(previous_month(datetime.now(reports.zone).date())),
        jobs=jobs,
        running=any(job.state == "running" for job in jobs),
    )
    return Template(template_str=TEMPLATE, context=page.context)


@get("/reports/open", guards=[REPORT_READERS])
async def open_month(month: FromQuery[str]) -> Redirect:
    return Redirect(f"/reports/{ReportMonth.parse(month)}", status_code=303)


@post("/reports/generate", guards=[GENERATORS])
async def generate(request: Request[Any, Any, Any], reports: NamedDependency[Reports]) -> Redirect:
    form = await request.form()
    month = ReportMonth.parse(str(form.get("month") or ""))
    job_id, counter = await reports.jobs.start(str(month), reports.step_count())
    task = asyncio.create_task(
        reports.jobs.run(
            job_id, counter, reports.generate(month, datetime.now(UTC), progress=counter.step)
        )
    )
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    # No fragment: Chromium treats a refresh of a URL with a fragment as a move within the page
    # and never reloads it, so the progress froze at its first figure (the reported stall).
    return Redirect("/reports", status_code=303)


@get("/reports/{month:str}", guards=[REPORT_READERS], dependencies=VIEWER)
async def month_page(
    request: Request[Any, Any, Any],
    reports: NamedDependency[Reports],
    viewer: NamedDependency[Viewer],
    month: FromPath[str],
    version: Version = None,
) -> Template:
    """A generated month inside the staff frame (header, who is logged in, logout): the archived
    page's content as it is, with links to the archived document and its checksum."""
    parsed = ReportMonth.parse(month)
    html, number, digest = await reports.page(parsed, version)
    page = staff_page(
        request,
        "staff/_layout.html",
        _nav(viewer),
        month=str(parsed),
        version=number,
        content_hash=digest,
        report=render.framed(html),
        supervisor=viewer.actor.role == Role.supervisor,
    )
    return Template(
        template_str=MONTH_TEMPLATE,
        context=page.context,
        headers={
            "X-Report-Version": str(number),
            "X-Content-SHA256": digest,
            "Cache-Control": "private, no-store",
        },
    )


@get("/reports/{month:str}/integrity", guards=[SUPERVISORS_ONLY], dependencies=VIEWER)
async def integrity_page(
    request: Request[Any, Any, Any],
    reports: NamedDependency[Reports],
    viewer: NamedDependency[Viewer],
    month: FromPath[str],
    version: Version = None,
) -> Template:
    parsed = ReportMonth.parse(month)
    data = await reports.restricted(parsed, version)
    page = staff_page(
        request,
        "staff/_layout.html",
        viewer,
        month=str(parsed),
        month_text=parsed.text,
        data=data,
    )
    return Template(template_str=INTEGRITY_TEMPLATE, context=page.context)


REPORT_PAGES = Router(
    path="/",
    route_handlers=[reports_index, open_month, generate, month_page, integrity_page],
    exception_handlers={DomainError: staff_error_page},
    include_in_schema=False,
)
