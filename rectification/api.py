"""HTTP controllers of tickets, staff login and notifications: parse, call one use case, answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from evaluation_service.schemas import RowId
from rectification.model import Actor
from rectification.schemas import (
    ActionIn,
    LoginIn,
    NotificationOut,
    TicketDetail,
    TicketPage,
    UserOut,
)
from rectification.service import Rectification, TicketFilter

SESSION_COOKIE = "hcp_session"


def _service(request: Request[Any, Any, Any]) -> Rectification:
    service: Rectification = request.app.state.rectification
    return service


async def current_actor(request: Request[Any, Any, Any]) -> Actor:
    """The logged-in staff member, from the session cookie; 401 when there is none."""
    return await _service(request).authenticate(
        request.cookies.get(SESSION_COOKIE), datetime.now(UTC)
    )


_ACTOR = {"actor": Provide(current_actor)}


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["staff"]  # noqa: RUF012 (Litestar declares it a list attribute)

    @post("/login", status_code=200, summary="Staff login; sets the session cookie")
    async def login(
        self, request: Request[Any, Any, Any], data: JSONBody[LoginIn]
    ) -> Response[UserOut]:
        service = _service(request)
        session = await service.login(data.username, data.password, datetime.now(UTC))
        secure: bool = request.app.state.settings.session_cookie_secure
        return Response(
            session.user,
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

    @post("/logout", status_code=204, summary="End the session")
    async def logout(self, request: Request[Any, Any, Any]) -> Response[None]:
        await _service(request).logout(request.cookies.get(SESSION_COOKIE))
        return Response(
            None,
            status_code=204,
            cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")],
        )

    @get("/me", dependencies=_ACTOR, summary="The logged-in staff member")
    async def me(self, request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> UserOut:
        return await _service(request).me(actor)


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]  # noqa: RUF012 (Litestar declares it a list attribute)
    dependencies = _ACTOR

    @get("", summary="Tickets the caller may see; contacts masked")
    async def list_tickets(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        ticket_state: Annotated[str | None, QueryParameter(name="state")] = None,
        department: FromQuery[str | None] = None,
        overdue: FromQuery[bool | None] = None,
        month: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
        offset: FromQuery[int] = 0,
    ) -> TicketPage:
        filters = TicketFilter(
            state=ticket_state,
            department_code=department,
            overdue=overdue,
            month=month,
            limit=limit,
            offset=offset,
        )
        return await _service(request).list_tickets(actor, filters, datetime.now(UTC))

    @get("/{ticket_id:int}", summary="One ticket with its full history")
    async def get_ticket(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        ticket_id: RowId,
    ) -> TicketDetail:
        return await _service(request).get_ticket(ticket_id, actor, datetime.now(UTC))

    @post(
        "/{ticket_id:int}/actions/{action:str}",
        status_code=200,
        summary="Apply one workflow action (accept, confirm, appeal, … see DESIGN.md §4)",
    )
    async def act(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        ticket_id: RowId,
        action: FromPath[str],
        data: JSONBody[ActionIn | None] = None,
    ) -> TicketDetail:
        return await _service(request).act(
            ticket_id, action, actor, data or ActionIn(), datetime.now(UTC)
        )


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["staff"]  # noqa: RUF012 (Litestar declares it a list attribute)
    dependencies = _ACTOR

    @get("", summary="The caller's notifications, newest first")
    async def list_notifications(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        unread: FromQuery[bool] = False,
    ) -> list[NotificationOut]:
        return await _service(request).notifications(actor, unread_only=unread)

    @post("/{notification_id:int}/read", status_code=204, summary="Mark a notification read")
    async def mark_read(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        notification_id: RowId,
    ) -> None:
        await _service(request).mark_read(actor, notification_id, datetime.now(UTC))


CONTROLLERS = [AuthController, TicketController, NotificationController]
