"""Staff pages: login, the liaison desk, the supervisor console, tickets, notifications and `/`.

Every page calls the same use cases as the JSON API (rectification.service, connectors.service), so
access checks, masking and the workflow stay in one place. The forms of a ticket page are derived
from `model.TRANSITIONS`; expected refusals become Chinese pages, a missing or expired session sends
the person to /login. Forms rely on the session cookie's SameSite=Strict against cross-site posts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig

from connectors.service import Forwarding
from evaluation_service.errors import DomainError, Forbidden, InvalidInput, Unauthenticated
from evaluation_service.model import LEVEL_TEXT, OutboxKind
from evaluation_service.schemas import RowId
from evaluation_service.service import Intake
from evaluation_service.tables import Department
from rectification import model
from rectification.api import SESSION_COOKIE
from rectification.model import (
    ACTION_TEXT,
    ENUM_FIELDS,
    FIELD_TEXT,
    ROLE_TEXT,
    STATE_TEXT,
    Action,
    Actor,
    Role,
    State,
)
from rectification.schemas import ActionIn, TicketDetail, TicketSummary
from rectification.service import Rectification, TicketFilter
from reports.model import CHANNEL_TEXT

TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"

DESK_ROLES = frozenset({Role.liaison})
CONSOLE_ROLES = frozenset({Role.supervisor, Role.admin})
TICKET_ROLES = DESK_ROLES | CONSOLE_ROLES
HOME = {
    Role.liaison: "/desk",
    Role.supervisor: "/console",
    Role.admin: "/console",
    Role.deputy: "/reports",
}
TEXT_FIELDS = frozenset({"note", "reason", "legal_basis", "measures"})
# The supervisor's queues: each state waits for a decision only a supervisor can take.
QUEUES: tuple[tuple[State, str], ...] = (
    (State.appeal_review, "申诉待审核"),
    (State.explanation_review, "情况说明待审核"),
    (State.extension_review, "延期申请待审核"),
    (State.supervision, "待办结审核"),
)
OUTBOX_KIND_TEXT = {
    OutboxKind.service_record: "服务记录",
    OutboxKind.evaluation: "评价",
    OutboxKind.ticket_result: "整改结果",
}
PAGE_SIZE = 50
WEEKDAYS = "一二三四五六日"


def with_staff_templates(config: TemplateConfig[Any]) -> TemplateConfig[Any]:
    """The app's template config with this package's templates added to its search path."""
    directory = config.directory
    directories = list(directory) if isinstance(directory, list) else [directory]
    return TemplateConfig(
        directory=[*directories, TEMPLATE_DIRECTORY],
        engine=config.engine,
    )


# --- collaborators and formatting ----------------------------------------------------------------


def _service(request: Request[Any, Any, Any]) -> Rectification:
    service: Rectification = request.app.state.rectification
    return service


def _zone(request: Request[Any, Any, Any]) -> ZoneInfo:
    return _service(request).clock.zone


def _formatter(zone: ZoneInfo) -> Callable[..., str]:
    def when(value: datetime | None, with_time: bool = True) -> str:
        if value is None:
            return "—"
        local = value.astimezone(zone)
        day = f"{local:%Y-%m-%d} 周{WEEKDAYS[local.weekday()]}"
        return f"{day} {local:%H:%M}" if with_time else day

    return when


def _safe_next(target: str | None) -> str | None:
    """Only paths of this site: no scheme, no host, no protocol-relative `//`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path = f"{path}?{request.url.query}"
    return Redirect(f"/login?{urlencode({'next': path})}", status_code=303)


def _error_page(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    """The one place a refusal on a staff page becomes HTML (the app's JSON handler is for APIs)."""
    if isinstance(error, Unauthenticated):
        return _login_redirect(request)
    titles = {403: "没有权限访问", 404: "找不到该页面或工单", 409: "操作未能完成"}
    return Template(
        "staff/error.html",
        context={
            "title": titles.get(error.status, "请求未能完成"),
            "message": error.zh,
            "status": error.status,
        },
        status_code=error.status,
    )


# --- who is looking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The logged-in person and what the page frame shows of them."""

    actor: Actor
    display_name: str
    department_name: str
    unread: int
    nav: list[tuple[str, str]] = field(default_factory=list)

    @property
    def role_text(self) -> str:
        return ROLE_TEXT[self.actor.role]


async def _viewer(request: Request[Any, Any, Any], roles: frozenset[Role]) -> Viewer:
    service = _service(request)
    actor = await service.authenticate(request.cookies.get(SESSION_COOKIE), datetime.now(UTC))
    if actor.role not in roles:
        if actor.role == Role.deputy:
            raise Forbidden(
                "pages_forbidden",
                "您的角色（人大代表、政协委员、媒体观察员）只能查看月度统计报告，"
                "不能查看整改工单（工单含个人信息）。请前往“月度报告”。",
                "deputies read reports only",
            )
        raise Forbidden(
            "pages_forbidden",
            f"此页面不向{ROLE_TEXT[actor.role]}开放。",
            f"this page is not for role {actor.role}",
        )
    me = await service.me(actor)
    department_name = ""
    if actor.department_id is not None:
        row = (
            await Department.select(Department.name)
            .where(Department.id == actor.department_id)
            .first()
        )
        department_name = row["name"] if row else ""
    unread = len(await service.notifications(actor, unread_only=True))
    nav: list[tuple[str, str]] = []
    if actor.role == Role.liaison:
        nav.append(("/desk", "工单台"))
    if actor.role in CONSOLE_ROLES:
        nav.append(("/console", "监督台"))
    nav.append(("/notifications", "通知"))
    if actor.role == Role.supervisor:
        nav.append(("/reports", "月度报告"))
    return Viewer(actor, me.display_name, department_name, unread, nav)


def _page(
    request: Request[Any, Any, Any],
    name: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    return Template(
        f"staff/{name}",
        context={
            "viewer": viewer,
            "when": _formatter(_zone(request)),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


# --- list rows -----------------------------------------------------------------------------------


def mark_of(ticket: TicketSummary | TicketDetail) -> str:
    """Red when overdue (or marked red by the sweep), yellow when the sweep warned, else none."""
    if ticket.overdue or ticket.alert == "red":
        return "red"
    return "yellow" if ticket.alert == "yellow" else ""


def _by_due_date(tickets: list[TicketSummary]) -> list[TicketSummary]:
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tickets, key=lambda t: (t.due_at or far, t.id))


# --- login ---------------------------------------------------------------------------------------


@get("/login")
async def login_page(
    request: Request[Any, Any, Any],
    target: Annotated[str | None, QueryParameter(name="next")] = None,
) -> Template:
    return _page(request, "login.html", None, next=_safe_next(target) or "", username="")


@post("/login")
async def login_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    try:
        if not username or not password:
            raise Unauthenticated(
                "missing_credentials", "请输入用户名和密码。", "username and password required"
            )
        session = await _service(request).login(username, password, datetime.now(UTC))
    except DomainError as error:
        return _page(
            request,
            "login.html",
            None,
            status_code=error.status,
            next=target or "",
            username=username,
            error=error.zh,
        )
    secure: bool = request.app.state.settings.session_cookie_secure
    return Redirect(
        target or HOME[Role(session.user.role)],
        status_code=303,
        cookies=[
            Cookie(
                key=SESSION_COOKIE,
                value=session.token,
                expires=int(session.expires_at.timestamp()),
                httponly=True,
                samesite="strict",
                secure=secure,
                path="/",
            )
        ],
    )


@post("/logout")
async def logout_submit(request: Request[Any, Any, Any]) -> Redirect:
    await _service(request).logout(request.cookies.get(SESSION_COOKIE))
    return Redirect(
        "/login?bye=1",
        status_code=303,
        cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")],
    )


# --- `/`: where people start ---------------------------------------------------------------------


@get("/")
async def home(request: Request[Any, Any, Any]) -> Template:
    viewer = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            actor = await _service(request).authenticate(token, datetime.now(UTC))
            viewer = await _viewer(request, frozenset({actor.role}))
        except DomainError:
            viewer = None
    return _page(request, "home.html", viewer)


# --- the liaison desk ----------------------------------------------------------------------------


@get("/desk")
async def desk(request: Request[Any, Any, Any], view: FromQuery[str] = "open") -> Response[Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        # Supervisors who type /desk land on their own console rather than on a refusal.
        actor = await _service(request).authenticate(token, datetime.now(UTC))
        if actor.role in CONSOLE_ROLES:
            return Redirect("/console", status_code=303)
    viewer = await _viewer(request, DESK_ROLES)
    closed = view == "closed"
    page = await _service(request).list_tickets(
        viewer.actor,
        TicketFilter(state="closed" if closed else "open", limit=200),
        datetime.now(UTC),
    )
    tickets = page.items if closed else _by_due_date(page.items)
    return _page(
        request,
        "desk.html",
        viewer,
        tickets=tickets,
        total=page.total,
        closed=closed,
        red=sum(1 for t in tickets if mark_of(t) == "red"),
        yellow=sum(1 for t in tickets if mark_of(t) == "yellow"),
        mark_of=mark_of,
        level_text=LEVEL_TEXT,
    )


# --- a ticket and its forms ----------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # "text", "date" or "choice"
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ActionForm:
    action: str
    title: str
    fields: list[FormField]
    leads_to: str  # where the ticket goes, or "" when a field's value decides


def _label(name: str) -> str:
    return FIELD_TEXT[name].split("（", 1)[0]


def _choices(name: str) -> list[tuple[str, str]]:
    """The enum's values with the Chinese words model.FIELD_TEXT gives each of them."""
    text = FIELD_TEXT[name]
    options = []
    for member in ENUM_FIELDS[name]:
        found = re.search(rf"(?<![A-Za-z_]){re.escape(member.value)} ([^/）]+)", text)
        options.append((member.value, found.group(1).strip() if found else member.value))
    return options


def _field(name: str, required: bool) -> FormField:
    if name in ENUM_FIELDS:
        return FormField(name, _label(name), "choice", required, _choices(name))
    if name == "requested_due_date":
        return FormField(name, _label(name), "date", required)
    return FormField(name, _label(name), "text", required)


def action_forms(state: State, actor: Actor) -> list[ActionForm]:
    """One form per action this person may take now, straight from the workflow table."""
    forms = []
    for action in model.allowed_actions(state):
        transition = model.TRANSITIONS[(state, action)]
        if transition.role != actor.role:
            continue
        fields = [_field(name, True) for name in transition.required]
        if "note" not in transition.required:
            fields.append(_field("note", False))
        leads_to = "" if transition.branch else STATE_TEXT[transition.to]
        forms.append(ActionForm(action.value, ACTION_TEXT[action], fields, leads_to))
    return forms


def _history(detail: TicketDetail) -> list[dict[str, Any]]:
    rows = []
    for event in detail.history:
        try:
            action_text = ACTION_TEXT[Action(event.action)]
        except ValueError:
            action_text = "立案" if event.action == model.SYSTEM_OPEN else event.action
        roles = {r.value for r in Role}
        role_text = ROLE_TEXT[Role(event.role)] if event.role in roles else "系统"
        details = []
        for name, value in event.details.items():
            if name == "redo":
                details.append(("重办", "群众不满意，重新整改"))
            elif name in FIELD_TEXT:
                shown = dict(_choices(name)).get(value, value) if name in ENUM_FIELDS else value
                details.append((_label(name), shown))
        rows.append(
            {
                "at": event.at,
                "action": action_text,
                "actor": event.actor,
                "role": role_text,
                "from": STATE_TEXT.get(State(event.from_state)) if event.from_state else "",
                "to": STATE_TEXT[State(event.to_state)],
                "note": event.note,
                "details": details,
                "attachments": event.attachments,
            }
        )
    return rows


async def _ticket_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    ticket_id: int,
    *,
    done: str | None = None,
    error: DomainError | None = None,
    failed_action: str | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    detail = await _service(request).get_ticket(ticket_id, viewer.actor, datetime.now(UTC))
    intake: Intake = request.app.state.intake
    tag_text = {i.code: i.text for i in await intake.list_indicators(None)}
    forms = action_forms(State(detail.state), viewer.actor)
    zone = _zone(request)
    due_min = due_max = ""
    if detail.due_at is not None and detail.rectify_cap_at is not None:
        due_min = (detail.due_at.astimezone(zone).date() + timedelta(days=1)).isoformat()
        due_max = detail.rectify_cap_at.astimezone(zone).date().isoformat()
    done_text = ""
    if done in {a.value for a in Action}:
        done_text = f"已完成“{ACTION_TEXT[Action(done)]}”，工单当前状态：{detail.state_text}。"
    return _page(
        request,
        "ticket.html",
        viewer,
        status_code=error.status if error else 200,
        t=detail,
        mark=mark_of(detail),
        level_text=LEVEL_TEXT[detail.level],
        tags=[tag_text.get(code, code) for code in detail.tags],
        channel_text=CHANNEL_TEXT.get(detail.channel, detail.channel),
        history=_history(detail),
        forms=forms,
        form_actions={f.action for f in forms},
        done=done_text,
        error=error.zh if error else "",
        failed_action=failed_action or "",
        values=values or {},
        due_min=due_min,
        due_max=due_max,
        back="/desk" if viewer.actor.role == Role.liaison else "/console",
        feedback_text=dict(_choices("satisfaction")),
        contact_text=dict(_choices("contact_method")),
        appeal_text=dict(_choices("appeal_kind")),
    )


@get("/desk/tickets/{ticket_id:int}")
async def ticket_page(
    request: Request[Any, Any, Any], ticket_id: RowId, done: FromQuery[str | None] = None
) -> Template:
    viewer = await _viewer(request, TICKET_ROLES)
    return await _ticket_page(request, viewer, ticket_id, done=done)


def _action_in(form: Any) -> ActionIn:
    raw_date = str(form.get("requested_due_date") or "").strip()
    try:
        requested = date.fromisoformat(raw_date) if raw_date else None
    except ValueError:
        raise InvalidInput(
            "bad_requested_due_date",
            "“申请的新整改期限”应为日期，例如 2026-12-01。",
            "requested_due_date must be YYYY-MM-DD",
            "requested_due_date",
        ) from None
    return ActionIn(
        note=str(form.get("note") or ""),
        appeal_kind=str(form.get("appeal_kind") or ""),
        reason=str(form.get("reason") or ""),
        decision=str(form.get("decision") or ""),
        legal_basis=str(form.get("legal_basis") or ""),
        measures=str(form.get("measures") or ""),
        requested_due_date=requested,
        contact_method=str(form.get("contact_method") or ""),
        satisfaction=str(form.get("satisfaction") or ""),
    )


@post("/desk/tickets/{ticket_id:int}/actions/{action:str}")
async def ticket_action(
    request: Request[Any, Any, Any], ticket_id: RowId, action: FromPath[str]
) -> Response[Any]:
    """The same use case as POST /api/v1/tickets/{id}/actions/{action}, from a plain form."""
    viewer = await _viewer(request, TICKET_ROLES)
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in FIELD_TEXT}
    try:
        await _service(request).act(
            ticket_id, action, viewer.actor, _action_in(form), datetime.now(UTC)
        )
    except DomainError as error:
        if error.status in (401, 404) and error.code != "unknown_action":
            raise
        return await _ticket_page(
            request, viewer, ticket_id, error=error, failed_action=action, values=values
        )
    return Redirect(f"/desk/tickets/{ticket_id}?done={quote(action)}", status_code=303)


# --- notifications -------------------------------------------------------------------------------


@get("/notifications")
async def notifications_page(request: Request[Any, Any, Any]) -> Template:
    viewer = await _viewer(request, TICKET_ROLES)
    items = await _service(request).notifications(viewer.actor)
    return _page(request, "notifications.html", viewer, items=items)


@post("/notifications/{notification_id:int}/read")
async def notification_read(request: Request[Any, Any, Any], notification_id: RowId) -> Redirect:
    viewer = await _viewer(request, TICKET_ROLES)
    await _service(request).mark_read(viewer.actor, notification_id, datetime.now(UTC))
    return Redirect("/notifications", status_code=303)


@post("/notifications/read-all")
async def notifications_read_all(request: Request[Any, Any, Any]) -> Redirect:
    viewer = await _viewer(request, TICKET_ROLES)
    service = _service(request)
    now = datetime.now(UTC)
    for item in await service.notifications(viewer.actor, unread_only=True):
        await service.mark_read(viewer.actor, item.id, now)
    return Redirect("/notifications", status_code=303)


# --- the supervisor console ----------------------------------------------------------------------


async def _count(service: Rectification, actor: Actor, filters: TicketFilter) -> int:
    page = await service.list_tickets(actor, filters, datetime.now(UTC))
    return page.total


@get("/console")
async def console(request: Request[Any, Any, Any]) -> Template:
    viewer = await _viewer(request, CONSOLE_ROLES)
    service = _service(request)
    now = datetime.now(UTC)
    queues = []
    for state, title in QUEUES:
        page = await service.list_tickets(viewer.actor, TicketFilter(state=state, limit=200), now)
        queues.append(
            {
                "state": state.value,
                "title": title,
                "total": page.total,
                "tickets": _by_due_date(page.items),
            }
        )
    overdue = await service.list_tickets(
        viewer.actor, TicketFilter(state="open", overdue=True, limit=200), now
    )
    forwarding: Forwarding = request.app.state.forwarding
    failed = len(await forwarding.failed(1000, 0))
    return _page(
        request,
        "console.html",
        viewer,
        tab="queues",
        queues=queues,
        overdue=_by_due_date(overdue.items),
        overdue_total=overdue.total,
        open_total=await _count(service, viewer.actor, TicketFilter(state="open", limit=1)),
        failed_total=failed,
        mark_of=mark_of,
        level_text=LEVEL_TEXT,
    )


@get("/console/tickets")
async def console_tickets(
    request: Request[Any, Any, Any],
    ticket_state: Annotated[str | None, QueryParameter(name="state")] = None,
    department: FromQuery[str | None] = None,
    overdue: FromQuery[str | None] = None,
    month: FromQuery[str | None] = None,
    page: FromQuery[int] = 1,
) -> Template:
    viewer = await _viewer(request, CONSOLE_ROLES)
    page = max(1, page)
    filters = TicketFilter(
        state=ticket_state or None,
        department_code=department or None,
        overdue=True if overdue == "1" else None,
        month=month or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    departments = await Department.select(Department.code, Department.name).order_by(
        Department.name
    )
    error = ""
    tickets: list[TicketSummary] = []
    total = 0
    try:
        found = await _service(request).list_tickets(viewer.actor, filters, datetime.now(UTC))
        tickets, total = found.items, found.total
    except InvalidInput as refusal:
        error = refusal.zh
    chosen = {
        "ticket_state": ticket_state or "",
        "department": department or "",
        "overdue": overdue == "1",
        "month": month or "",
    }
    query = {
        "state": ticket_state or "",
        "department": department or "",
        "month": month or "",
        "overdue": "1" if overdue == "1" else "",
    }
    return _page(
        request,
        "console_tickets.html",
        viewer,
        status_code=422 if error else 200,
        tab="tickets",
        tickets=tickets,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=urlencode({k: v for k, v in query.items() if v}),
        chosen=chosen,
        states=[("open", "全部未办结"), ("closed", "全部已办结")]
        + [(s.value, STATE_TEXT[s]) for s in State],
        departments=departments,
        error=error,
        mark_of=mark_of,
        level_text=LEVEL_TEXT,
    )


async def _forwarding_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    retried: int | None = None,
    error: DomainError | None = None,
) -> Template:
    forwarding: Forwarding = request.app.state.forwarding
    rows = await forwarding.failed(200, 0)
    for row in rows:
        row["kind_text"] = OUTBOX_KIND_TEXT.get(row["kind"], row["kind"])
        row["queued"] = datetime.fromisoformat(row["queued_at"])
        row["failed"] = datetime.fromisoformat(row["failed_at"])
    return _page(
        request,
        "console_forwarding.html",
        viewer,
        status_code=error.status if error else 200,
        tab="forwarding",
        rows=rows,
        retried=retried,
        error=error.zh if error else "",
    )


@get("/console/forwarding")
async def console_forwarding(
    request: Request[Any, Any, Any], retried: FromQuery[int | None] = None
) -> Template:
    viewer = await _viewer(request, CONSOLE_ROLES)
    return await _forwarding_page(request, viewer, retried=retried)


@post("/console/forwarding/{outbox_id:int}/retry")
async def console_forwarding_retry(
    request: Request[Any, Any, Any], outbox_id: RowId
) -> Response[Any]:
    viewer = await _viewer(request, CONSOLE_ROLES)
    forwarding: Forwarding = request.app.state.forwarding
    try:
        await forwarding.retry(outbox_id, datetime.now(UTC))
    except DomainError as error:
        return await _forwarding_page(request, viewer, error=error)
    return Redirect(f"/console/forwarding?retried={outbox_id}", status_code=303)


STAFF_ROUTER = Router(
    path="/",
    route_handlers=[
        home,
        login_page,
        login_submit,
        logout_submit,
        desk,
        ticket_page,
        ticket_action,
        notifications_page,
        notification_read,
        notifications_read_all,
        console,
        console_tickets,
        console_forwarding,
        console_forwarding_retry,
    ],
    exception_handlers={DomainError: _error_page},
    include_in_schema=False,
)

__all__ = ["STAFF_ROUTER", "TEMPLATE_DIRECTORY", "action_forms", "with_staff_templates"]
