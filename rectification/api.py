"""HTTP controllers of tickets and notifications: parse, call one use case, answer."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from evaluation_service.identity.api import ACTOR, logged_in, requires
from evaluation_service.identity.model import Actor, Role
from evaluation_service.kernel.errors import Forbidden
from evaluation_service.kernel.schemas import (
    Limit,
    Offset,
    QueryText,
    RowId,
    StateFilter,
    refusals,
)
from rectification.schemas import ActionIn, NotificationOut, TicketDetail, TicketPage
from rectification.service import Rectification, TicketFilter

# Deputies read reports only: tickets carry personal data (DESIGN §3 rule 8).
TICKET_READERS = requires(
    Role.liaison,
    Role.supervisor,
    Role.admin,
    refusal=Forbidden(
        "no_ticket_access",
        "您的角色只能查看统计报表，不能查看整改工单（工单含个人信息）。",
        "this role reads reports only, not tickets",
    ),
)


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]  # noqa: RUF012 (Litestar declares it a list attribute)
    dependencies = ACTOR
    guards = [TICKET_READERS]  # noqa: RUF012 (as above)

    @get("", summary="Tickets the caller may see; contacts masked", responses=refusals(401, 403))
    async def list_tickets(
        self,
        rectification: NamedDependency[Rectification],
        actor: NamedDependency[Actor],
        ticket_state: StateFilter = None,
        department: QueryText = None,
        overdue: FromQuery[bool | None] = None,
        month: QueryText = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> TicketPage:
        filters = TicketFilter(
            state=ticket_state,
            department_code=department,
            overdue=overdue,
            month=month,
            limit=limit,
            offset=offset,
        )
        return await rectification.list_tickets(actor, filters, datetime.now(UTC))

    @get(
        "/{ticket_id:int}",
        summary="One ticket with its full history",
        responses=refusals(401, 403, 404),
    )
    async def get_ticket(
        self,
        rectification: NamedDependency[Rectification],
        actor: NamedDependency[Actor],
        ticket_id: RowId,
    ) -> TicketDetail:
        return await rectification.get_ticket(ticket_id, actor, datetime.now(UTC))

    @post(
        "/{ticket_id:int}/actions/{action:str}",
        status_code=200,
        summary="Apply one workflow action (accept, confirm, appeal, … see DESIGN.md §4)",
        responses=refusals(401, 403, 404, 409, 413),
    )
    async def act(
        self,
        rectification: NamedDependency[Rectification],
        actor: NamedDependency[Actor],
        ticket_id: RowId,
        action: FromPath[str],
        data: JSONBody[ActionIn | None] = None,
    ) -> TicketDetail:
        return await rectification.act(
            ticket_id, action, actor, data or ActionIn(), datetime.now(UTC)
        )


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["staff"]  # noqa: RUF012 (Litestar declares it a list attribute)
    dependencies = ACTOR
    guards = [logged_in()]  # noqa: RUF012 (as above)

    @get("", summary="The caller's notifications, newest first", responses=refusals(401))
    async def list_notifications(
        self,
        rectification: NamedDependency[Rectification],
        actor: NamedDependency[Actor],
        unread: FromQuery[bool] = False,
    ) -> list[NotificationOut]:
        return await rectification.notifications(actor, unread_only=unread)

    @post(
        "/{notification_id:int}/read",
        status_code=204,
        summary="Mark a notification read",
        responses=refusals(401, 404),
    )
    async def mark_read(
        self,
        rectification: NamedDependency[Rectification],
        actor: NamedDependency[Actor],
        notification_id: RowId,
    ) -> None:
        await rectification.mark_read(actor, notification_id, datetime.now(UTC))


CONTROLLERS = [TicketController, NotificationController]
