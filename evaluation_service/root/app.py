"""The Litestar application: wiring, health, and the one place domain errors become HTTP answers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template import TemplateConfig

from connectors.api import ForwardingController
from connectors.service import Forwarding
from connectors.web import FORWARDING_PAGES
from connectors.web import TEMPLATE_DIRECTORY as FORWARDING_TEMPLATES
from evaluation_service.evaluations.api import intake_controllers
from evaluation_service.evaluations.fleet_web import DEVICE_ROUTES, FLEET_PAGE_ROUTER
from evaluation_service.evaluations.web import PAGE_ROUTES
from evaluation_service.evaluations.web import TEMPLATE_DIRECTORY as EVALUATION_TEMPLATES
from evaluation_service.identity.api import (
    IDENTITY_STATE_KEY,
    AuthController,
    session_authentication,
)
from evaluation_service.identity.web import FRAME_ROUTER, Inbox, staff_error_page
from evaluation_service.identity.web import TEMPLATE_DIRECTORY as IDENTITY_TEMPLATES
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import DomainError, Forbidden, InvalidInput
from evaluation_service.kernel.settings import Settings
from evaluation_service.root.admin import admin_mount
from evaluation_service.root.admin_pages import ADMIN_PAGES, staff_photo
from evaluation_service.root.admin_pages import TEMPLATE_DIRECTORY as ADMIN_TEMPLATES
from evaluation_service.root.bootstrap import (
    Services,
    build_services,
    embedded_schedule,
    forwarder,
    outbound_of,
)
from evaluation_service.root.boundary import BoundedRequest, data_error
from evaluation_service.root.headers import security_headers
from evaluation_service.root.observability import (
    ObservedFleet,
    ObservedIntake,
    ObservedLitestar,
    ObservedReports,
    metrics,
    stamp_request_ids,
)
from evaluation_service.root.worker import Broker, InProcessWorker
from rectification.api import CONTROLLERS as RECTIFICATION_CONTROLLERS
from rectification.notify import OutboundLoop
from rectification.web import CASE_ROUTES, STAFF_ROUTER, ForwardingFailures
from rectification.web import TEMPLATE_DIRECTORY as RECTIFICATION_TEMPLATES
from reports.api import CONTROLLERS as REPORT_CONTROLLERS

KERNEL_TEMPLATES = Path(__file__).resolve().parents[1] / "kernel" / "templates"

log = logging.getLogger("haochaping")

_STATUS_TEXT = {
    400: ("bad_request", "请求格式不正确，请检查后重试。"),
    401: ("unauthenticated", "缺少或无效的凭证。"),
    403: ("forbidden", "没有权限执行此操作。"),
    404: ("not_found", "请求的地址或资源不存在。"),
    405: ("method_not_allowed", "不支持该请求方法。"),
    413: ("too_large", "提交的内容过大。"),
    415: ("unsupported_media_type", "请以 JSON 格式提交（Content-Type: application/json）。"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试。"),
}

FIELD_NAMES = {
    "level": "满意度",
    "channel": "评价渠道",
    "tags": "评价指标",
    "comment": "评价内容",
    "assess_number": "评价次数",
    "idempotency_key": "幂等键",
    "client_time": "设备时间",
    "rating_token": "评价凭证",
    "project_no": "办件编号",
    "service_number": "服务记录序号",
    "records": "服务记录",
    "applicant": "申请人",
    "item_code": "事项编码",
    "department_code": "部门编码",
    "area_code": "行政区划代码",
}


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    problems = exc.extra if isinstance(exc.extra, list) else []
    first = problems[0] if problems else {}
    key = str(first.get("key", "")) if isinstance(first, dict) else ""
    detail = str(first.get("message", exc.detail)) if isinstance(first, dict) else exc.detail
    top = key.split(".")[0].split("[")[0]
    # Litestar names the whole request body "data".
    label = FIELD_NAMES.get(top, "请求内容" if key in ("", "data") else key)
    reason = _reason_zh(detail)
    zh = f"“{label}”（{key}）填写不正确：{reason}" if key else f"请求内容不正确：{reason}"
    if not key and ("decode" in str(exc.detail).lower() or "json" in detail.lower()):
        zh = "请求内容不是有效的 JSON，请检查格式。"
    body = {"error": "invalid_input", "message": zh, "message_en": f"{key}: {detail}".strip(": ")}
    if key:
        body["field"] = key
    if _wants_html(request):
        return staff_error_page(request, InvalidInput("invalid_input", zh, body["message_en"], key))
    return Response(body, status_code=422, media_type=MediaType.JSON)


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
        "/api/"
    )


def _reason_zh(detail: str) -> str:
    """msgspec's reasons that the input boundary (kernel/inputs.py) produces, in Chinese."""
    if "matching regex" in detail:
        return "含有不允许的控制字符（如 NUL）或换行，请删除后重试。"
    if "<=" in detail or ">=" in detail:
        return f"数值超出允许范围（{detail}）。"
    if "between 2000 and 2100" in detail:
        return "时间应在2000年至2100年之间。"
    return detail


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if _wants_html(request):
        # A page outside the staff routers (the report pages): the staff frame's refusal page, or
        # the login page for a browser without a session.
        return staff_error_page(request, exc)
    return Response(exc.to_dict(), status_code=exc.status, media_type=MediaType.JSON)


def _data_error(request: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[Any]:
    refusal = data_error(exc)
    if _wants_html(request):
        return staff_error_page(request, refusal)
    return _domain_error(request, refusal)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code, zh = _STATUS_TEXT.get(exc.status_code, ("error", "请求无法处理。"))
    if exc.status_code == 403 and "csrf" in str(exc.detail).lower():
        code, zh = "csrf_failed", "页面已过期或来自其他网站，操作未执行。请刷新页面后重试。"
        if "text/html" in request.headers.get("accept", ""):
            return staff_error_page(request, Forbidden(code, zh, str(exc.detail)))
    return Response(
        {"error": code, "message": zh, "message_en": exc.detail},
        status_code=exc.status_code,
        media_type=MediaType.JSON,
        headers=exc.headers,
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A 500 says only what is true everywhere: nothing about what was or was not stored."""
    log.exception("unexpected error", exc_info=exc)
    if _wants_html(request):
        return Template(
            "staff/error.html",
            context={
                "title": "服务暂时出现问题",
                "message": "服务暂时出现问题，请稍后重试；如仍不成功，请联系管理员。",
                "status": 500,
            },
            status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return Response(
        {
            "error": "internal_error",
            "message": "服务暂时出现问题，请稍后重试。",
            "message_en": "internal error; please retry",
        },
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


def health_route(db: Database, broker: Broker, forwarding: Forwarding) -> Any:
    """GET /health with its three collaborators bound by the root: it is polled often, and
    resolving three dependencies per request (an anyio task group) halved its rate."""

    @get("/health", tags=["ops"], summary="State of the database and the broker")
    async def health() -> Response[dict[str, Any]]:
        database_ok = await db.ping()
        broker_state = await broker.state()
        ok = database_ok and broker_state["ok"]
        forwarding_state = None
        if database_ok:
            forwarding_state = (await forwarding.recent_stats(datetime.now(UTC))).as_dict()
        return Response(
            {
                "status": "ok" if ok else "degraded",
                "database": {
                    "ok": database_ok,
                    "backend": "sqlite" if db.is_sqlite else "postgresql",
                },
                "broker": broker_state,
                "forwarding": forwarding_state,
            },
            status_code=200 if ok else 503,
        )

    return health


def _provide(value: Any) -> Provide:
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def _dependencies(services: Services, broker: Broker) -> dict[str, Provide]:
    """What handlers may name as parameters: the services built once by the root."""
    inbox: Inbox = services.rectification
    failures: ForwardingFailures = services.forwarding.failed_count
    return {
        "settings": _provide(services.settings),
        "db": _provide(services.db),
        "broker": _provide(broker),
        "identity": _provide(services.identity),
        "intake": _provide(services.intake),
        "rectification": _provide(services.rectification),
        "forwarding": _provide(services.forwarding),
        "reports": _provide(services.reports),
        "fleet": _provide(services.fleet),
        "inbox": _provide(inbox),
        "cases": _provide(services.cases),
        "evidence": _provide(services.evidence),
        "forwarding_failures": _provide(failures),
        "cookie_secure": _provide(services.settings.session_cookie_secure),
    }


def csrf_config(settings: Settings) -> CSRFConfig:
    """Every staff form and cookie-authenticated write carries the token (form field, or the
    X-CSRF-Token header read from the hcp_csrf cookie). The JSON login is exempt: there is no
    session yet, and it takes only application/json, which a cross-site form cannot send."""
    return CSRFConfig(
        secret=settings.token_secret,
        cookie_name="hcp_csrf",
        header_name="x-csrf-token",
        cookie_secure=settings.session_cookie_secure,
        cookie_samesite="strict",
        exclude=["^/api/v1/auth/login$"],
    )


def _staff_side(services: Services) -> Router:
    """Everything a staff member reaches with the session cookie, behind Litestar's session
    authentication and CSRF middleware. The citizen pages, devices and the business systems'
    API (no cookie: URL tokens, device keys, Bearer tokens) stay outside, off the hot path."""
    return Router(
        path="/",
        route_handlers=[
            AuthController,
            ForwardingController,
            *RECTIFICATION_CONTROLLERS,
            *REPORT_CONTROLLERS,
            FRAME_ROUTER,
            STAFF_ROUTER,
            FORWARDING_PAGES,
            FLEET_PAGE_ROUTER,
            ADMIN_PAGES,
        ],
        middleware=[
            DefineMiddleware(CSRFMiddleware, config=csrf_config(services.settings)),
            session_authentication(),
        ],
    )


def _catalog_admin(services: Services) -> Router:
    """Piccolo Admin at /admin (root/admin.py): our session and the admin guard in front; its own
    CSRF middleware guards its API (its single-page app sends its own token, not ours)."""
    return Router(
        path="/",
        route_handlers=[
            admin_mount(
                services.db,
                services.identity,
                services.intake.forget_client_tokens,
                services.settings.public_base_url,
                https=services.settings.session_cookie_secure,
            )
        ],
        middleware=[session_authentication()],
        include_in_schema=False,
    )


def observed(services: Services) -> Services:
    """Intake that counts and logs every stored rating, Fleet that counts heartbeats, Reports that
    times each generation (root/observability.py)."""
    stamp_request_ids()
    return replace(
        services,
        intake=ObservedIntake(services.intake),
        fleet=ObservedFleet(services.fleet),
        reports=ObservedReports(services.reports),
    )


def create_app(settings: Settings) -> Litestar:
    services = observed(build_services(settings))
    db = services.db
    broker = Broker(settings.broker_url)
    embedded = broker.kind == "embedded"

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start()
        # Everything built so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise show up as p99 latency spikes.
        gc.collect()
        gc.freeze()
        worker = None
        if embedded and settings.forwarding_enabled:
            worker = InProcessWorker(forwarder(db, settings), settings)
            worker.start()
        # The outbound channel (SMS / 政务微信) on the embedded worker: the outbox row is the
        # record, so stopping mid-delivery only delays a message.
        outbound = outbound_of(services) if embedded else None
        outbound_task = None
        if outbound is not None:
            loop = OutboundLoop(
                outbound, lambda: datetime.now(UTC), settings.notify_interval_seconds
            )
            outbound_task = asyncio.create_task(loop.run(), name="outbound-messages")
        try:
            yield
        finally:
            if outbound_task is not None and outbound is not None:
                outbound_task.cancel()
                await asyncio.gather(outbound_task, return_exceptions=True)
                await outbound.sender.close()
            if worker is not None:
                await worker.stop()
            await db.close()
            broker.close()

    return ObservedLitestar(
        route_handlers=[
            # The rating hot path and the devices' small JSON answers: no compression middleware
            # at all (measured: compressing everything cost ~14 % of intake throughput, and even
            # an excluded path pays for the middleware's check).
            health_route(db, broker, services.forwarding),
            *intake_controllers(services.intake),
            *DEVICE_ROUTES,
            # Pages, reports, static files, the admin and /metrics: gzip.
            Router(
                path="/",
                route_handlers=[
                    metrics,
                    *PAGE_ROUTES,
                    *CASE_ROUTES,
                    _staff_side(services),
                    _catalog_admin(services),
                    staff_photo,
                ],
                middleware=[
                    DefineMiddleware(
                        CompressionMiddleware,
                        config=CompressionConfig(backend="gzip", gzip_compress_level=6),
                    )
                ],
            ),
        ],
        dependencies=_dependencies(services, broker),
        template_config=TemplateConfig(
            directory=[
                KERNEL_TEMPLATES,
                EVALUATION_TEMPLATES,
                IDENTITY_TEMPLATES,
                RECTIFICATION_TEMPLATES,
                FORWARDING_TEMPLATES,
                ADMIN_TEMPLATES,
            ],
            engine=JinjaTemplateEngine,
        ),
        lifespan=[
            lifespan,
            embedded_schedule(services, enabled=embedded and settings.scheduler_enabled),
        ],
        # `services` is for operators and tests that reach past HTTP; handlers get theirs injected.
        state=State(
            {
                "zone": ZoneInfo(settings.timezone),
                IDENTITY_STATE_KEY: services.identity,  # for the session middleware
                "services": services,
            }
        ),
        exception_handlers={
            ValidationException: _validation_error,
            DomainError: _domain_error,
            HTTPException: _http_error,
            asyncpg.DataError: _data_error,
            Exception: _unexpected,
        },
        openapi_config=OpenAPIConfig(
            title="haochaping 好差评 intake API",
            version="1.0.0",
            description="Transactions, ratings and indicators of the county's 好差评 service.",
            path="/schema",
        ),
        request_max_body_size=1_000_000,
        request_class=BoundedRequest,
        before_send=[security_headers(settings.session_cookie_secure)],
        logging_config=None,  # the process's own (root/observability.py logging_config)
    )
