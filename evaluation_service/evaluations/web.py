"""Web edge of the people's pages: the citizen rating page, its QR code, and the device page.

Page handlers render HTML for every expected refusal (a person reads them); the JSON endpoints for
the window system and the device page leave domain errors to the app's one JSON error handler.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

import msgspec
import segno
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromHeader, FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from evaluation_service.evaluations.administration import photo_url
from evaluation_service.evaluations.model import LEVEL_TEXT, TOKEN_CHANNELS, Channel, is_bad
from evaluation_service.evaluations.pages import DeviceView, Pages, RecordView, StaffView
from evaluation_service.evaluations.schemas import EvaluationIn, IndicatorOut, Short
from evaluation_service.evaluations.service import DeviceIdentity, Intake
from evaluation_service.kernel.errors import DomainError, InvalidInput, Unauthenticated
from evaluation_service.kernel.inputs import form_text
from evaluation_service.kernel.schemas import QueryText, refusals

HERE = Path(__file__).parent
TEMPLATE_DIRECTORY = HERE / "templates"
STATIC_ROUTER = create_static_files_router(path="/static", directories=[HERE / "static"])

# Face colours pass WCAG AA (4.5:1) against white text, from green (5) to red (1).
LEVELS: tuple[dict[str, Any], ...] = (
    {"value": 5, "text": LEVEL_TEXT[5], "color": "#0a7a3d", "mouth": 16},
    {"value": 4, "text": LEVEL_TEXT[4], "color": "#2f7d32", "mouth": 9},
    {"value": 3, "text": LEVEL_TEXT[3], "color": "#8a5a00", "mouth": 2},
    {"value": 2, "text": LEVEL_TEXT[2], "color": "#c2410c", "mouth": -9},
    {"value": 1, "text": LEVEL_TEXT[1], "color": "#b91c1c", "mouth": -16},
)
WEEKDAYS = "一二三四五六日"


class CaseCard(Protocol):
    """A real-name bad review's case as the thank-you page shows it (rectification's, via root)."""

    @property
    def case_no(self) -> str: ...
    @property
    def step_text(self) -> str: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...


@runtime_checkable  # Litestar checks an injected value against its declared type
class CaseLinks(Protocol):
    """Where the citizen follows a ticket: the root hands in rectification's `Cases`."""

    async def for_evaluation(self, evaluation_id: int, now: datetime) -> CaseCard | None: ...

    async def for_record(self, record_id: int, now: datetime) -> CaseCard | None: ...


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


def when(value: datetime) -> str:
    return f"{value:%Y年%m月%d日} 周{WEEKDAYS[value.weekday()]} {value:%H:%M}"


def _channel(src: str | None, user_agent: str) -> str:
    """QR scans carry ?src=qr; otherwise a phone is `mobile` and anything else `pc`."""
    if src == "qr":
        return Channel.qr.value
    phone = any(word in user_agent for word in ("Mobile", "Android", "iPhone", "MicroMessenger"))
    return Channel.mobile.value if phone else Channel.pc.value


async def _tags_by_level(pages: Pages) -> dict[int, list[IndicatorOut]]:
    grouped: dict[int, list[IndicatorOut]] = {level: [] for level in LEVEL_TEXT}
    for indicator in await pages.intake.list_indicators(None):
        grouped[indicator.level].append(indicator)
    return grouped


def _record_context(view: RecordView) -> dict[str, Any]:
    return {
        "record": view,
        "occurred": when(view.occurred_at),
        "deadline": when(view.rating_deadline),
        "first_level_text": LEVEL_TEXT.get(view.first_level or 0, ""),
        "first_rated": when(view.first_rated_at) if view.first_rated_at else "",
    }


def _notice(kind: str, title: str, message: str, status: int, **extra: Any) -> Template:
    return Template(
        "notice.html",
        context={"kind": kind, "title": title, "message": message, **extra},
        status_code=status,
    )


def _refusal(error: DomainError, token: str, view: RecordView | None = None) -> Template:
    """A domain refusal as a page a citizen understands."""
    if error.status == 401:
        return _notice(
            "broken",
            "评价链接无法打开",
            "这个链接不完整或已被改动。请重新扫描窗口的评价二维码，或点开短信中的完整链接。",
            401,
        )
    if error.status == 410:
        return _notice(
            "expired",
            "评价期限已过",
            "本次服务的评价期限已经结束，无法再评价。感谢您的关注！"
            "如对办理结果有意见，请拨打政务服务便民热线 12345。",
            410,
        )
    if error.status == 409 and view is not None:
        return _already_rated(token, view)
    if error.status == 404:
        return _notice("broken", "找不到这次服务", error.zh, 404)
    return _notice("broken", "无法完成评价", error.zh, error.status)


def _already_rated(token: str, view: RecordView, case: CaseCard | None = None) -> Template:
    follow_up = view.next_assess_number == 2
    return _notice(
        "rated",
        "您已评价过这次服务",
        "每次服务只能评价一次。您可以在评价期限内追加评价一次，补充您的意见。"
        if follow_up
        else "这次服务的首次评价和追加评价都已完成，感谢您的参与！",
        409,
        follow_up_url=f"/r/{token}?follow_up=1" if follow_up else None,
        case=case,
        **_record_context(view),
    )


async def _rate_form(
    pages: Pages,
    token: str,
    view: RecordView,
    *,
    assess_number: int,
    channel: str,
    idempotency_key: str | None = None,
    level: int | None = None,
    tags: tuple[str, ...] = (),
    comment: str = "",
    error: DomainError | None = None,
) -> Template:
    return Template(
        "rate.html",
        context={
            **_record_context(view),
            "token": token,
            "levels": LEVELS,
            "tags_by_level": await _tags_by_level(pages),
            "assess_number": assess_number,
            "channel": channel,
            "idempotency_key": idempotency_key or f"web-{uuid.uuid4().hex}",
            "chosen_level": level,
            "chosen_tags": set(tags),
            "comment": comment,
            "comment_max": pages.intake.settings.comment_max_chars,
            "error": error,
        },
        status_code=error.status if error else 200,
    )


@get("/r/{token:str}", include_in_schema=False)
async def rating_page(
    request: Request[Any, Any, Any],
    intake: NamedDependency[Intake],
    cases: NamedDependency[CaseLinks],
    token: FromPath[str],
    follow_up: FromQuery[bool] = False,
    src: FromQuery[str | None] = None,
) -> Response[Any]:
    pages = Pages(intake)
    now = datetime.now(UTC)
    try:
        view = await pages.record_for_token(token, now)
    except DomainError as error:
        return _refusal(error, token)
    assess = view.next_assess_number
    if assess is None or (assess == 2 and not follow_up):
        # Once rated, a real-name bad review's link leads to its case (issue 10): straight there
        # when nothing is left to rate, else with the case beside the one follow-up rating.
        case = await cases.for_record(view.record_id, now)
        if case is not None and assess is None:
            return Redirect(case.path, status_code=303)
        return _already_rated(token, view, case)
    channel = _channel(src, request.headers.get("user-agent", ""))
    return await _rate_form(pages, token, view, assess_number=assess, channel=channel)


_FORM_KEY = re.compile(r"^[0-9A-Za-z_\-]{8,64}$")


def _form_level(raw: str | None) -> int | None:
    return int(raw) if raw in {"1", "2", "3", "4", "5"} else None


@post("/r/{token:str}", include_in_schema=False)
async def submit_rating_form(
    request: Request[Any, Any, Any],
    intake: NamedDependency[Intake],
    cases: NamedDependency[CaseLinks],
    token: FromPath[str],
) -> Template:
    """The plain form POST, which works without JavaScript: the thank-you page or the form again."""
    pages = Pages(intake)
    now = datetime.now(UTC)
    try:
        view = await pages.record_for_token(token, now)
    except DomainError as error:
        return _refusal(error, token)
    form = await request.form()
    level = _form_level(form.get("level"))
    assess_number = 2 if form.get("assess_number") == "2" else 1
    channel = form.get("channel") or Channel.mobile.value
    if channel not in {c.value for c in TOKEN_CHANNELS}:
        channel = Channel.mobile.value
    key = form.get("idempotency_key") or ""
    if not _FORM_KEY.match(key):
        key = f"web-{uuid.uuid4().hex}"
    comment = str(form.get("comment") or "")
    # Tags of other levels may still be ticked in hidden sections: keep the chosen level's only.
    tags_offered = await _tags_by_level(pages)
    offered = {t.code for t in tags_offered.get(level or 0, [])}
    tags = tuple(tag for tag in form.getall("tags", []) if tag in offered)

    def again(error: DomainError) -> Any:
        return _rate_form(
            pages,
            token,
            view,
            assess_number=assess_number,
            channel=channel,
            idempotency_key=key,
            level=level,
            tags=tags,
            comment=comment,
            error=error,
        )

    try:
        form_text(comment, "comment", "评价内容", free_text=True)
    except InvalidInput as error:
        return await again(error)
    if level is None:
        return await again(
            InvalidInput("missing_level", "请先选择您的满意程度。", "choose a level", "level")
        )
    data = EvaluationIn(
        channel=channel,
        level=level,
        idempotency_key=key,
        tags=list(tags),
        comment=comment,
        assess_number=assess_number,
        rating_token=token,
    )
    try:
        stored = await pages.intake.submit_evaluation(data, None, now)
    except DomainError as error:
        if error.status == 422:
            return await again(error)
        if error.status == 409 and error.code != "idempotency_key_reused":
            return _refusal(error, token, await pages.record_for_token(token, now))
        return _refusal(error, token, view)
    case = None
    if stored.ticket_id is not None:
        # A follow-up that joins the record's open ticket has no ticket of its own: the record's.
        case = await cases.for_evaluation(stored.id, now) or await cases.for_record(
            view.record_id, now
        )
    return Template(
        "thanks.html",
        context={
            **_record_context(view),
            "case": case,
            "case_due": when(case.due_at.astimezone(pages.zone)) if case and case.due_at else "",
            "level_text": LEVEL_TEXT[stored.level],
            "bad": is_bad(stored.level),
            "real_name": stored.real_name,
            "follow_up": stored.assess_number == 2,
        },
    )


def _svg(url: str) -> Response[bytes]:
    qr = segno.make(url, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=8, border=2, xmldecl=False, title="扫码评价本次服务")
    return Response(
        buffer.getvalue(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=300"},
    )


def _qr_url(intake: Intake, token: str) -> str:
    return f"{intake.settings.public_base_url}/r/{token}?src=qr"


@get("/r/{token:str}/qr.svg", include_in_schema=False)
async def rating_qr(
    request: Request[Any, Any, Any], intake: NamedDependency[Intake], token: FromPath[str]
) -> Response[bytes]:
    # Checked first so a window never prints a code that leads to an error page.
    await Pages(intake).record_for_token(token, datetime.now(UTC))
    return _svg(_qr_url(intake, token))


@get(
    "/api/v1/records/qr.svg",
    tags=["window system"],
    summary="QR code (SVG) of a service record's rating link, for the window system to show",
    responses=refusals(401, 403, 404, 410),
)
async def record_qr(
    request: Request[Any, Any, Any],
    intake: NamedDependency[Intake],
    project_no: FromQuery[str],
    service_number: FromQuery[int],
    authorization: FromHeader[str | None] = None,
) -> Response[bytes]:
    token = await Pages(intake).token_for_record(_bearer(authorization), project_no, service_number)
    return _svg(_qr_url(intake, token))


# --- the window evaluator and kiosk ---------------------------------------------------------------


class AnnounceIn(msgspec.Struct):
    project_no: Short
    service_number: int
    # Names the device when the window system authenticates with its integration token.
    device_id: Short | None = None


class CurrentRecordOut(msgspec.Struct):
    project_no: str
    service_number: int
    record_name: str
    item_name: str
    department_name: str
    window_no: str
    occurred_at: datetime
    occurred_text: str


class StaffOut(msgspec.Struct):
    """Who served the citizen: shown beside the faces. `photo_url` is empty without a photo (the
    page then shows the name's first character)."""

    staff_no: str
    name: str
    star_level: int  # 0: none shown; 1-5 stars
    photo_url: str = ""


class DeviceCurrentOut(msgspec.Struct):
    device_id: str
    kind: str
    name: str
    window_no: str
    window_name: str
    hall: str
    state: str  # "ready": a record waits to be rated; "idle": nothing to rate
    record: CurrentRecordOut | None = None
    service_promise: str = ""  # the window's 服务承诺, on the idle screen
    complaint_phone: str = "12345"
    voice_prompts: bool = False  # speak the invitation to rate on this device
    # When the record was announced: the page tells a re-announcement from the same announcement.
    announced_at: datetime | None = None
    staff: StaffOut | None = None


def _staff_out(view: StaffView | None) -> StaffOut | None:
    if view is None:
        return None
    # Served by the catalog's admin side; the page shows it only when the staff member has one.
    photo = (photo_url(view.staff_no, view.photo_sha256) if view.has_photo else None) or ""
    return StaffOut(
        staff_no=view.staff_no, name=view.name, star_level=view.star_level, photo_url=photo
    )


def device_out(view: DeviceView) -> DeviceCurrentOut:
    record = None
    if view.current is not None:
        c = view.current
        record = CurrentRecordOut(
            project_no=c.project_no,
            service_number=c.service_number,
            record_name=c.record_name,
            item_name=c.item_name,
            department_name=c.department_name,
            window_no=c.window_no,
            occurred_at=c.occurred_at,
            occurred_text=when(c.occurred_at),
        )
    return DeviceCurrentOut(
        device_id=view.device_id,
        kind=view.kind.value,
        name=view.name,
        window_no=view.window_no,
        window_name=view.window_name,
        hall=view.hall,
        state="ready" if record else "idle",
        record=record,
        service_promise=view.service_promise,
        complaint_phone=view.complaint_phone,
        voice_prompts=view.voice_prompts,
        announced_at=view.announced_at,
        staff=_staff_out(view.staff) if record else None,
    )


DeviceKey = Annotated[str | None, HeaderParameter(name="X-Device-Key")]


async def _speaking_device(
    pages: Pages, device_key: str | None, authorization: str | None, device_id: str | None
) -> DeviceIdentity:
    if device_key:
        return await pages.intake.authenticate_device(device_key)
    if authorization:
        return await pages.device_by_id(_bearer(authorization), device_id)
    raise Unauthenticated(
        "missing_credentials",
        "缺少凭证：评价设备请提供 X-Device-Key，窗口业务系统请提供 Bearer 令牌和 device_id。",
        "provide X-Device-Key, or an integration Bearer token with device_id",
    )


@get(
    "/api/v1/devices/current",
    tags=["devices"],
    summary="The record waiting to be rated at this device (the device page polls this)",
    responses=refusals(401, 403, 404),
)
async def device_current(
    request: Request[Any, Any, Any], intake: NamedDependency[Intake], device_key: DeviceKey = None
) -> DeviceCurrentOut:
    pages = Pages(intake)
    device = await _speaking_device(pages, device_key, None, None)
    return device_out(await pages.current(device, datetime.now(UTC)))


@post(
    "/api/v1/devices/current",
    status_code=200,
    tags=["devices"],
    summary="Announce the service record just finished at a window, to be rated on its device",
    responses=refusals(401, 403, 404, 409, 410, 413),
)
async def announce_current(
    request: Request[Any, Any, Any],
    intake: NamedDependency[Intake],
    data: JSONBody[AnnounceIn],
    device_key: DeviceKey = None,
    authorization: FromHeader[str | None] = None,
) -> DeviceCurrentOut:
    pages = Pages(intake)
    device = await _speaking_device(pages, device_key, authorization, data.device_id)
    client_id = None
    if not device_key:
        client_id = await intake.authenticate_client(_bearer(authorization))
    now = datetime.now(UTC)
    view = await pages.announce(device, data.project_no, data.service_number, now, client_id)
    return device_out(view)


@delete(
    "/api/v1/devices/current",
    status_code=200,
    tags=["devices"],
    summary="Withdraw the record offered at a device (the citizen left without rating)",
    responses=refusals(401, 403, 404),
)
async def clear_current(
    request: Request[Any, Any, Any],
    intake: NamedDependency[Intake],
    device_key: DeviceKey = None,
    authorization: FromHeader[str | None] = None,
    device_id: QueryText = None,
) -> DeviceCurrentOut:
    pages = Pages(intake)
    device = await _speaking_device(pages, device_key, authorization, device_id)
    return device_out(await pages.clear(device, datetime.now(UTC)))


@get("/device", include_in_schema=False)
async def device_page(
    request: Request[Any, Any, Any],
    intake: NamedDependency[Intake],
    idle_after: FromQuery[int] = 8,
    timeout: FromQuery[int | None] = None,
) -> Template:
    """The touch page of a window evaluator or kiosk; which device it is lives in localStorage.

    `idle_after` is how long the thank-you screen stays; `timeout` overrides the rating screen's
    inactivity timeout (DEVICE_IDLE_TIMEOUT_SECONDS) for this page, e.g. for a demonstration."""
    pages = Pages(intake)
    settings = intake.settings
    timeout_seconds = settings.device_idle_timeout_seconds if timeout is None else timeout
    tags = {
        level: [{"code": t.code, "text": t.text} for t in items]
        for level, items in (await _tags_by_level(pages)).items()
    }
    return Template(
        "device.html",
        context={
            "levels": LEVELS,
            "config": {
                "tags": tags,
                "idleAfterMs": max(1, min(idle_after, 120)) * 1000,
                "timeoutMs": max(2, min(timeout_seconds, 600)) * 1000,
                "heartbeatMs": settings.device_heartbeat_seconds * 1000,
                "pollMs": 2000,
            },
        },
    )


PAGE_ROUTES: list[Any] = [
    rating_page,
    submit_rating_form,
    rating_qr,
    record_qr,
    device_current,
    announce_current,
    clear_current,
    device_page,
    STATIC_ROUTER,
]

__all__ = ["PAGE_ROUTES", "TEMPLATE_DIRECTORY"]
