"""The staff pages' frame and the pages every staff member shares: login, logout and `/`.

Each package's staff pages take a `viewer: Viewer` dependency (built here from the session, the
person's account and their unread count) and render through `staff_page`, so the frame, the
navigation and the refusal pages look the same everywhere. Expected refusals become Chinese pages;
a missing or expired session sends the person to /login.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from evaluation_service.identity.api import (
    CLEARED_COOKIE,
    SESSION_COOKIE,
    client_address,
    current_actor,
    session_cookie,
)
from evaluation_service.identity.model import ROLE_TEXT, Actor, Role
from evaluation_service.identity.service import Identity
from evaluation_service.kernel.clock import utcnow
from evaluation_service.kernel.errors import DomainError, Unauthenticated
from evaluation_service.kernel.inputs import form_text
from evaluation_service.kernel.tables import Department

TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"
WEEKDAYS = "一二三四五六日"

HOME = {
    Role.liaison: "/desk",
    Role.supervisor: "/console",
    Role.admin: "/console",
    Role.deputy: "/reports",
}
CONSOLE_ROLES = frozenset({Role.supervisor, Role.admin})


@runtime_checkable
class Inbox(Protocol):
    """Where the frame's unread count comes from (rectification's notifications, via the root)."""

    async def unread_count(self, actor: Actor) -> int: ...


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


def _nav(role: Role) -> list[tuple[str, str]]:
    nav: list[tuple[str, str]] = []
    if role == Role.liaison:
        nav.append(("/desk", "工单台"))
    if role in CONSOLE_ROLES:
        nav.append(("/console", "监督台"))
    if role == Role.admin:
        nav.append(("/admin/", "目录管理"))
        nav.append(("/catalog-keys", "设备与密钥"))
    nav.append(("/notifications", "通知"))
    if role == Role.supervisor:
        nav.append(("/reports", "月度报告"))
    return nav


async def viewer_of(
    actor: Actor, identity: NamedDependency[Identity], inbox: NamedDependency[Inbox]
) -> Viewer:
    me = await identity.me(actor)
    department_name = ""
    if actor.department_id is not None:
        row = (
            await Department.select(Department.name)
            .where(Department.id == actor.department_id)
            .first()
        )
        department_name = row["name"] if row else ""
    unread = await inbox.unread_count(actor)
    return Viewer(actor, me.display_name, department_name, unread, _nav(actor.role))


async def _provide_viewer(
    request: Request[Any, Any, Any],
    identity: NamedDependency[Identity],
    inbox: NamedDependency[Inbox],
) -> Viewer:
    actor = current_actor(request)
    if actor is None:  # the route's guard lets only logged-in people through
        raise Unauthenticated("not_logged_in", "请先登录。", "log in first")
    return await viewer_of(actor, identity, inbox)


# Staff pages name `viewer: Viewer`; their guard has already checked the role.
VIEWER = {"viewer": Provide(_provide_viewer)}


def formatter(zone: ZoneInfo) -> Callable[..., str]:
    def when(value: datetime | None, with_time: bool = True) -> str:
        if value is None:
            return "—"
        local = value.astimezone(zone)
        day = f"{local:%Y-%m-%d} 周{WEEKDAYS[local.weekday()]}"
        return f"{day} {local:%H:%M}" if with_time else day

    return when


def staff_page(
    request: Request[Any, Any, Any],
    name: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    zone: ZoneInfo = request.app.state.zone
    return Template(
        f"staff/{name}",
        context={"viewer": viewer, "when": formatter(zone), "path": request.url.path, **context},
        status_code=status_code,
    )


def safe_next(target: str | None) -> str | None:
    """Only paths of this site: no scheme, no host, no protocol-relative `//`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path = f"{path}?{request.url.query}"
    return Redirect(f"/login?{urlencode({'next': path})}", status_code=303)


def staff_error_page(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
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


# --- login ---------------------------------------------------------------------------------------


@get("/login")
async def login_page(
    request: Request[Any, Any, Any],
    target: Annotated[str | None, QueryParameter(name="next")] = None,
) -> Template:
    return staff_page(request, "login.html", None, next=safe_next(target) or "", username="")


@post("/login")
async def login_submit(
    request: Request[Any, Any, Any],
    identity: NamedDependency[Identity],
    cookie_secure: NamedDependency[bool],
) -> Response[Any]:
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    try:
        if not username or not password:
            raise Unauthenticated(
                "missing_credentials", "请输入用户名和密码。", "username and password required"
            )
        form_text(username, "username", "用户名")
        form_text(password, "password", "密码")
        session = await identity.login(username, password, utcnow(), client_address(request))
    except DomainError as error:
        return staff_page(
            request,
            "login.html",
            None,
            status_code=error.status,
            next=target or "",
            username=username,
            error=error.zh,
        )
    return Redirect(
        target or HOME[Role(session.user.role)],
        status_code=303,
        cookies=[session_cookie(session.token, session.lifetime, cookie_secure)],
    )


@post("/logout")
async def logout_submit(
    request: Request[Any, Any, Any], identity: NamedDependency[Identity]
) -> Redirect:
    await identity.logout(request.cookies.get(SESSION_COOKIE))
    return Redirect("/login?bye=1", status_code=303, cookies=[CLEARED_COOKIE])


# --- `/`: where people start ---------------------------------------------------------------------


@get("/")
async def home(
    request: Request[Any, Any, Any],
    identity: NamedDependency[Identity],
    inbox: NamedDependency[Inbox],
) -> Template:
    actor = current_actor(request)
    viewer = await viewer_of(actor, identity, inbox) if actor is not None else None
    return staff_page(request, "home.html", viewer)


FRAME_ROUTER = Router(
    path="/",
    route_handlers=[home, login_page, login_submit, logout_submit],
    exception_handlers={DomainError: staff_error_page},
    include_in_schema=False,
)
