"""Staff pages of rectification: the liaison desk, the supervisor console, tickets, notifications.

Every page calls the same use cases as the JSON API (rectification.service), so access checks,
masking and the workflow stay in one place; who may open a page is the route's guard. The forms of
a ticket page are derived from `model.TRANSITIONS`; the frame, login and refusal pages are
identity's (`identity.web`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import File, Redirect, Template

from evaluation_service.identity.api import requires
from evaluation_service.identity.model import ROLE_TEXT, Actor, Role
from evaluation_service.identity.web import VIEWER, Viewer, staff_error_page, staff_page
from evaluation_service.kernel import rates
from evaluation_service.kernel.errors import DomainError, Forbidden, InvalidInput
from evaluation_service.kernel.inputs import INT32_MAX, form_text
from evaluation_service.kernel.schemas import QueryText, RowId, StateFilter
from evaluation_service.kernel.tables import Department, Indicator
from evaluation_service.kernel.vocabulary import CHANNEL_TEXT, LEVEL_TEXT
from rectification import model
from rectification.case import SATISFACTION_TEXT, Cases, TimeLeft, step_bar, time_left
from rectification.evidence import ATTACH_ACTION, Evidence
from rectification.exports import tickets_xlsx
from rectification.model import (
    ACTION_TEXT,
    ENUM_FIELDS,
    FIELD_TEXT,
    STATE_TEXT,
    Action,
    State,
)
from rectification.notify import next_role
from rectification.schemas import ActionIn, TicketDetail, TicketSummary
from rectification.service import LIST_LIMIT_MAX, Rectification, TicketFilter

TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"

DEPUTY_REFUSAL = Forbidden(
    "pages_forbidden",
    "您的角色（人大代表、政协委员、媒体观察员）只能查看月度统计报告，"
    "不能查看整改工单（工单含个人信息）。请前往“月度报告”。",
    "deputies read reports only",
)
CONSOLE_ROLES = (Role.supervisor, Role.admin)
# Who may open which page (the deputy is told where to go instead).
TICKET_PAGES = requires(Role.liaison, *CONSOLE_ROLES, refusal=DEPUTY_REFUSAL)
CONSOLE_PAGES = requires(*CONSOLE_ROLES, refusals={Role.deputy: DEPUTY_REFUSAL})

# The console's count of failed forwards, handed in by the root (connectors' figure).
ForwardingFailures = Callable[[], Awaitable[int]]
TEXT_FIELDS = frozenset({"note", "reason", "legal_basis", "measures"})
# The supervisor's queues: each state waits for a decision only a supervisor can take.
QUEUES: tuple[tuple[State, str], ...] = (
    (State.appeal_review, "申诉待审核"),
    (State.explanation_review, "情况说明待审核"),
    (State.extension_review, "延期申请待审核"),
    (State.contact_review, "回访复核（联系不上/拒绝回访）"),
    (State.supervision, "待办结审核"),
)
PAGE_SIZE = 50


# --- list rows -----------------------------------------------------------------------------------


def mark_of(ticket: TicketSummary | TicketDetail) -> str:
    """Red when overdue (or marked red by the sweep), yellow when the sweep warned, else none."""
    if ticket.overdue or ticket.alert == "red":
        return "red"
    return "yellow" if ticket.alert == "yellow" else ""


def left_for(service: Rectification, now: datetime) -> Callable[[Any], TimeLeft | None]:
    """剩 N 个工作日 / 超期 N 个工作日 of an open ticket (working days: kernel/workdays.py)."""

    def left(ticket: TicketSummary | TicketDetail) -> TimeLeft | None:
        if ticket.state in ("closed", "closed_invalid"):
            return None
        return time_left(service.clock, ticket.due_at, now)

    return left


def waits_on_supervisor(ticket: TicketSummary) -> bool:
    return next_role(State(ticket.state)) == Role.supervisor


def _by_due_date(tickets: list[TicketSummary]) -> list[TicketSummary]:
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tickets, key=lambda t: (t.due_at or far, t.id))


# --- the liaison desk ----------------------------------------------------------------------------


@get("/desk", guards=[TICKET_PAGES])
async def desk(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    view: FromQuery[str] = "open",
) -> Response[Any]:
    if viewer.actor.role in CONSOLE_ROLES:
        # Supervisors who type /desk land on their own console rather than on a refusal.
        return Redirect("/console", status_code=303)
    closed = view == "closed"
    now = datetime.now(UTC)
    page = await rectification.list_tickets(
        viewer.actor, TicketFilter(state="closed" if closed else "open", limit=200), now
    )
    tickets = page.items if closed else _by_due_date(page.items)
    # 待我办理 and 等待审核 apart: a ticket waiting on a supervisor is not the liaison's to do.
    waiting = [] if closed else [t for t in tickets if waits_on_supervisor(t)]
    mine = tickets if closed else [t for t in tickets if not waits_on_supervisor(t)]
    return staff_page(
        request,
        "desk.html",
        viewer,
        tickets=mine,
        waiting=waiting,
        left_of=left_for(rectification, now),
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
    kind: str  # "text", "date", "datetime" or "choice"
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


# Values only the system sets: "online" is the citizen's own answer on the case page.
NOT_OFFERED = {"contact_method": {"online"}}
# The form to open first in a state (the usual next step), rather than the table's first action:
# after 退回 the result is to be resubmitted, not an explanation.
PREFERRED_FORM: dict[State, Action] = {
    State.verifying: Action.confirm,
    State.rectifying: Action.submit_result,
    State.feedback: Action.record_feedback,
    State.supervision: Action.close,
}
# Supervisor decisions whose note the liaison must read before acting again.
SENT_BACK_ACTIONS = {
    Action.send_back.value,
    Action.reject_explanation.value,
    Action.reject_extension.value,
    Action.decide_appeal.value,
}


def _field(name: str, required: bool) -> FormField:
    if name in ENUM_FIELDS:
        options = [o for o in _choices(name) if o[0] not in NOT_OFFERED.get(name, set())]
        return FormField(name, _label(name), "choice", required, options)
    if name == "requested_due_date":
        return FormField(name, _label(name), "date", required)
    if name == "contacted_at":
        return FormField(name, _label(name), "datetime", required)
    return FormField(name, _label(name), "text", required)


def action_forms(state: State, actor: Actor) -> list[ActionForm]:
    """One form per action this person may take now, straight from the workflow table."""
    forms = []
    for action in model.allowed_actions(state):
        transition = model.TRANSITIONS[(state, action)]
        if transition.role != actor.role:
            continue
        fields = [_field(name, True) for name in transition.required]
        fields += [_field(name, False) for name in model.OPTIONAL_FIELDS.get(action, ())]
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
            action_text = {**model.SYSTEM_TEXT, ATTACH_ACTION: "上传证明材料"}.get(
                event.action, event.action
            )
        roles = {r.value for r in Role}
        role_text = (
            ROLE_TEXT[Role(event.role)]
            if event.role in roles
            else "群众本人"
            if event.role == "citizen"
            else "系统"
        )
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


def _latest_reason(detail: TicketDetail) -> dict[str, Any] | None:
    """The supervisor's (or the citizen's) word that sent the ticket back to the liaison, when it
    is the last thing that happened: shown at the top of the page."""
    # The last change of state: an evidence upload since then does not hide the reason.
    changes = [e for e in detail.history if e.action != ATTACH_ACTION]
    if not changes or detail.state in ("closed", "closed_invalid"):
        return None
    last = changes[-1]
    sent_back = last.action in SENT_BACK_ACTIONS and last.to_state == State.rectifying
    redo = last.details.get("redo") == "true"
    if not (sent_back or redo) or not last.note:
        return None
    who = "群众仍不满意（重办）" if redo else f"监督员{ACTION_TEXT[Action(last.action)]}"
    return {"who": who, "note": last.note, "at": last.at}


def _open_form(state: State, forms: list[ActionForm], failed_action: str | None) -> str:
    names = [f.action for f in forms]
    if failed_action in names:
        return failed_action or ""
    preferred = PREFERRED_FORM.get(state)
    if preferred is not None and preferred.value in names:
        return preferred.value
    return names[0] if names else ""


async def _ticket_page(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    ticket_id: int,
    *,
    evidence: Evidence | None = None,
    done: str | None = None,
    error: DomainError | None = None,
    failed_action: str | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    detail = await rectification.get_ticket(ticket_id, viewer.actor, datetime.now(UTC))
    # The words the citizen was offered (the county's label when set); where versions differ, the
    # current dictionary's wording wins: active rows come last.
    tag_text = {
        row["code"]: row["label"] or row["text"]
        for row in await Indicator.select(Indicator.code, Indicator.text, Indicator.label)
        .order_by(Indicator.active)
        .order_by(Indicator.id)
    }
    forms = action_forms(State(detail.state), viewer.actor)
    now = datetime.now(UTC)
    files = await evidence.files(ticket_id, viewer.actor) if evidence is not None else []
    zone = rectification.clock.zone
    due_min = due_max = ""
    if detail.due_at is not None and detail.rectify_cap_at is not None:
        due_min = (detail.due_at.astimezone(zone).date() + timedelta(days=1)).isoformat()
        due_max = detail.rectify_cap_at.astimezone(zone).date().isoformat()
    done_text = ""
    if done in {a.value for a in Action}:
        done_text = f"已完成“{ACTION_TEXT[Action(done)]}”，工单当前状态：{detail.state_text}。"
    elif done == "evidence":
        done_text = "证明材料已上传。"
    return staff_page(
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
        steps=step_bar(State(detail.state), {**detail.state_times}),
        left=left_for(rectification, now)(detail),
        reason=_latest_reason(detail),
        open_form=_open_form(State(detail.state), forms, failed_action),
        files=files,
        can_upload=evidence is not None
        and detail.state not in ("closed", "closed_invalid")
        and viewer.actor.role in (Role.liaison, Role.supervisor),
        evidence_max_mb=(evidence.max_bytes / 1024 / 1024) if evidence is not None else 0,
        feedback_text=dict(_choices("satisfaction")),
        contact_text=dict(_choices("contact_method")),
        outcome_text=dict(_choices("contact_outcome")),
        rate_definitions=rates.DEFINITIONS,
        appeal_text=dict(_choices("appeal_kind")),
    )


@get("/desk/tickets/{ticket_id:int}", guards=[TICKET_PAGES])
async def ticket_page(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    evidence: NamedDependency[Evidence],
    ticket_id: RowId,
    done: FromQuery[str | None] = None,
) -> Template:
    return await _ticket_page(
        request, rectification, viewer, ticket_id, done=done, evidence=evidence
    )


def _form_instant(form: Any, name: str, parse: Callable[[str], Any], zh: str, en: str) -> Any:
    """A date or datetime-local field of a form (None when empty), refused in Chinese when
    unreadable.
    A datetime-local field is county time without a zone; the service reads it so."""
    raw = str(form.get(name) or "").strip()
    try:
        return parse(raw) if raw else None
    except ValueError:
        raise InvalidInput(f"bad_{name}", zh, en, name) from None


def _action_in(form: Any) -> ActionIn:
    requested = _form_instant(
        form,
        "requested_due_date",
        date.fromisoformat,
        "“申请的新整改期限”应为日期，例如 2026-12-01。",
        "requested_due_date must be YYYY-MM-DD",
    )
    contacted_at = _form_instant(
        form,
        "contacted_at",
        datetime.fromisoformat,
        "“联系时间”应为日期和时间，例如 2026-12-01 09:30。",
        "contacted_at must be YYYY-MM-DDTHH:MM",
    )
    text = {
        name: form_text(
            str(form.get(name) or ""), name, _label(name), free_text=name in TEXT_FIELDS
        )
        for name in FIELD_TEXT
        if name not in ("requested_due_date", "contacted_at")
    }
    try:
        # Through msgspec, so a form meets the same lengths as the JSON API.
        return msgspec.convert(
            {**text, "requested_due_date": requested, "contacted_at": contacted_at}, ActionIn
        )
    except msgspec.ValidationError as error:
        raise InvalidInput(
            "bad_form", f"表单填写不正确：{error}", f"invalid form: {error}", None
        ) from None


@post("/desk/tickets/{ticket_id:int}/actions/{action:str}", guards=[TICKET_PAGES])
async def ticket_action(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    evidence: NamedDependency[Evidence],
    ticket_id: RowId,
    action: FromPath[str],
) -> Response[Any]:
    """The same use case as POST /api/v1/tickets/{id}/actions/{action}, from a plain form."""
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in FIELD_TEXT}
    try:
        await rectification.act(
            ticket_id, action, viewer.actor, _action_in(form), datetime.now(UTC)
        )
    except DomainError as error:
        if error.status in (401, 404) and error.code != "unknown_action":
            raise
        return await _ticket_page(
            request,
            rectification,
            viewer,
            ticket_id,
            error=error,
            failed_action=action,
            values=values,
            evidence=evidence,
        )
    return Redirect(f"/desk/tickets/{ticket_id}?done={quote(action)}", status_code=303)


# --- evidence (photos, PDF) ---------------------------------------------------------------------

# The route's own ceiling on a request body; EVIDENCE_MAX_BYTES (at most this) is the rule.
EVIDENCE_BODY_MAX = 50 * 1024 * 1024 + 64 * 1024


@post(
    "/desk/tickets/{ticket_id:int}/evidence",
    guards=[TICKET_PAGES],
    request_max_body_size=EVIDENCE_BODY_MAX,
)
async def evidence_upload(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    evidence: NamedDependency[Evidence],
    ticket_id: RowId,
) -> Response[Any]:
    form = await request.form()
    upload = form.get("file")
    try:
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise InvalidInput("missing_file", "请选择要上传的文件。", "no file was sent", "file")
        data = await upload.read()
        await evidence.add(ticket_id, viewer.actor, upload.filename, data, datetime.now(UTC))
    except DomainError as error:
        if error.status == 404:
            raise
        return await _ticket_page(
            request,
            rectification,
            viewer,
            ticket_id,
            error=error,
            failed_action="evidence",
            evidence=evidence,
        )
    return Redirect(f"/desk/tickets/{ticket_id}?done=evidence#evidence", status_code=303)


@get("/desk/tickets/{ticket_id:int}/evidence/{evidence_id:int}", guards=[TICKET_PAGES])
async def evidence_file(
    viewer: NamedDependency[Viewer],
    evidence: NamedDependency[Evidence],
    ticket_id: RowId,
    evidence_id: RowId,
) -> File:
    item, path = await evidence.open(ticket_id, evidence_id, viewer.actor)
    return File(
        path=path,
        filename=item.file_name,
        media_type=item.content_type,
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


# --- notifications -------------------------------------------------------------------------------


@get("/notifications", guards=[TICKET_PAGES])
async def notifications_page(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
) -> Template:
    items = await rectification.notifications(viewer.actor)
    return staff_page(request, "notifications.html", viewer, items=items)


@post("/notifications/{notification_id:int}/read", guards=[TICKET_PAGES])
async def notification_read(
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    notification_id: RowId,
) -> Redirect:
    await rectification.mark_read(viewer.actor, notification_id, datetime.now(UTC))
    return Redirect("/notifications", status_code=303)


@post("/notifications/read-all", guards=[TICKET_PAGES])
async def notifications_read_all(
    rectification: NamedDependency[Rectification], viewer: NamedDependency[Viewer]
) -> Redirect:
    service = rectification
    now = datetime.now(UTC)
    for item in await service.notifications(viewer.actor, unread_only=True):
        await service.mark_read(viewer.actor, item.id, now)
    return Redirect("/notifications", status_code=303)


# --- the supervisor console ----------------------------------------------------------------------


async def _count(service: Rectification, actor: Actor, filters: TicketFilter) -> int:
    page = await service.list_tickets(actor, filters, datetime.now(UTC))
    return page.total


@get("/console", guards=[CONSOLE_PAGES])
async def console(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    forwarding_failures: NamedDependency[ForwardingFailures],
) -> Template:
    service = rectification
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
    failed = await forwarding_failures()
    return staff_page(
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
        left_of=left_for(service, now),
        level_text=LEVEL_TEXT,
    )


@get("/console/tickets", guards=[CONSOLE_PAGES])
async def console_tickets(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    ticket_state: StateFilter = None,
    department: QueryText = None,
    overdue: QueryText = None,
    month: QueryText = None,
    page: Annotated[int, QueryParameter(ge=1, le=INT32_MAX // PAGE_SIZE)] = 1,
) -> Template:
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
        found = await rectification.list_tickets(viewer.actor, filters, datetime.now(UTC))
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
    return staff_page(
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
        left_of=left_for(rectification, datetime.now(UTC)),
        level_text=LEVEL_TEXT,
    )


EXPORT_MAX = 50_000  # rows in one Excel download; a wider filter is refused with a reason


@get("/console/tickets.xlsx", guards=[CONSOLE_PAGES])
async def console_tickets_xlsx(
    request: Request[Any, Any, Any],
    rectification: NamedDependency[Rectification],
    viewer: NamedDependency[Viewer],
    ticket_state: StateFilter = None,
    department: QueryText = None,
    overdue: QueryText = None,
    month: QueryText = None,
) -> Response[bytes]:
    """Exactly the list `/console/tickets` shows for the same filters, every page, as Excel."""
    filters = TicketFilter(
        state=ticket_state or None,
        department_code=department or None,
        overdue=True if overdue == "1" else None,
        month=month or None,
        limit=LIST_LIMIT_MAX,
    )
    now = datetime.now(UTC)
    found = await rectification.list_tickets(viewer.actor, filters, now)
    if found.total > EXPORT_MAX:
        raise InvalidInput(
            "export_too_large",
            f"符合条件的工单有{found.total}件，超过一次导出的上限{EXPORT_MAX}件，请缩小筛选范围。",
            f"{found.total} tickets exceed the export limit of {EXPORT_MAX}",
        )
    tickets = list(found.items)
    while len(tickets) < found.total:
        more = await rectification.list_tickets(
            viewer.actor, replace(filters, offset=len(tickets)), now
        )
        if not more.items:
            break
        tickets.extend(more.items)
    body = tickets_xlsx(tickets, request.app.state.zone, "工单")
    stamp = now.astimezone(request.app.state.zone).strftime("%Y%m%d-%H%M")
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="tickets-{stamp}.xlsx"',
            "Cache-Control": "private, no-store",
        },
    )


STAFF_ROUTER = Router(
    path="/",
    route_handlers=[
        desk,
        ticket_page,
        ticket_action,
        evidence_upload,
        evidence_file,
        notifications_page,
        notification_read,
        notifications_read_all,
        console,
        console_tickets,
        console_tickets_xlsx,
    ],
    dependencies=VIEWER,
    exception_handlers={DomainError: staff_error_page},
    include_in_schema=False,
)

# --- the citizen's case page (no login: the signed link is the key) -------------------------------

WEEKDAYS = "一二三四五六日"


def _case_context(cases: Cases) -> dict[str, Any]:
    zone = cases.clock.zone

    def when(value: datetime) -> str:
        local = value.astimezone(zone)
        return f"{local:%Y年%m月%d日} 周{WEEKDAYS[local.weekday()]} {local:%H:%M}"

    def day(value: datetime) -> str:
        return f"{value.astimezone(zone):%m-%d}"

    return {"when": when, "day": day, "choices": list(SATISFACTION_TEXT.items())}


def _case_refusal(cases: Cases, error: DomainError) -> Template:
    title = "案件链接已过期" if error.status == 410 else "无法打开案件"
    return Template(
        "case_error.html",
        context={**_case_context(cases), "title": title, "message": error.zh},
        status_code=error.status,
    )


async def _case_page(
    cases: Cases,
    token: str,
    *,
    done: str = "",
    error: DomainError | None = None,
    chosen: str = "",
    comment: str = "",
) -> Template:
    try:
        view = await cases.view(token, datetime.now(UTC))
    except DomainError as refusal:
        return _case_refusal(cases, refusal)
    return Template(
        "case.html",
        context={
            **_case_context(cases),
            "c": view,
            "done": done,
            "error": error.zh if error else "",
            "chosen": chosen,
            "comment": comment,
        },
        status_code=error.status if error else 200,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@get("/case/{token:str}", include_in_schema=False)
async def case_page(
    cases: NamedDependency[Cases], token: FromPath[str], done: FromQuery[str | None] = None
) -> Template:
    return await _case_page(cases, token, done="感谢您的答复，已记录。" if done == "1" else "")


@post("/case/{token:str}/feedback", include_in_schema=False)
async def case_feedback(
    request: Request[Any, Any, Any], cases: NamedDependency[Cases], token: FromPath[str]
) -> Response[Any]:
    """The citizen's 回访 answer from the case page; the token is the only credential."""
    form = await request.form()
    satisfaction = str(form.get("satisfaction") or "")
    comment = str(form.get("comment") or "")
    try:
        form_text(comment, "comment", "补充意见", free_text=True)
        if len(comment) > 500:
            raise InvalidInput(
                "comment_too_long", "补充意见最多500字。", "comment too long", "comment"
            )
        await cases.answer(token, satisfaction, comment, datetime.now(UTC))
    except DomainError as error:
        if error.status in (401, 410):
            return _case_refusal(cases, error)
        return await _case_page(cases, token, error=error, chosen=satisfaction, comment=comment)
    return Redirect(f"/case/{token}?done=1", status_code=303)


CASE_ROUTES: list[Any] = [case_page, case_feedback]

__all__ = ["CASE_ROUTES", "STAFF_ROUTER", "TEMPLATE_DIRECTORY", "action_forms"]
