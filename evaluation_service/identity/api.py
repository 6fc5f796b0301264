"""Staff identity on Litestar's own machinery: session authentication middleware, role guards, and
the login API.

The middleware turns the session cookie into `request.user` (an `Actor`, or None); every role check
of the web side is a route guard built by `requires`, so "who may open this" is read off the route.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.params import JSONBody, Parameter
from litestar.types import Guard

from evaluation_service.identity.model import ROLE_TEXT, Actor, Role
from evaluation_service.identity.schemas import LoginFailureOut, LoginIn, UserOut
from evaluation_service.identity.service import Identity
from evaluation_service.kernel.clock import utcnow
from evaluation_service.kernel.errors import DomainError, Forbidden, InvalidInput, Unauthenticated
from evaluation_service.kernel.schemas import refusals

SESSION_COOKIE = "hcp_session"


class SessionAuthentication(AbstractAuthenticationMiddleware):
    """`request.user` is the logged-in Actor, or None; `request.auth` the refusal, if any.

    Middleware gets no dependency injection; it finds the Identity the composition root built in
    the app's state under IDENTITY_STATE_KEY.
    """

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
        token = connection.cookies.get(SESSION_COOKIE)
        if not token:
            return AuthenticationResult(user=None, auth=None)
        identity: Identity = connection.app.state[IDENTITY_STATE_KEY]
        try:
            actor = await identity.authenticate(token, utcnow())
        except DomainError as refusal:  # expired or unknown session: anonymous, with the reason
            return AuthenticationResult(user=None, auth=refusal)
        return AuthenticationResult(user=actor, auth=token)


IDENTITY_STATE_KEY = "identity"


def session_authentication() -> DefineMiddleware:
    return DefineMiddleware(SessionAuthentication)


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Actor) else None


def _not_logged_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Unauthenticated:
    refusal = connection.scope.get("auth")
    if isinstance(refusal, Unauthenticated):
        return refusal
    return Unauthenticated("not_logged_in", "请先登录。", "log in first (session cookie missing)")


def requires(
    *roles: Role,
    refusal: Forbidden | None = None,
    refusals: Mapping[Role, Forbidden] | None = None,
) -> Guard:
    """A route guard: 401 without a session; 403 for other roles, with the refusal given for that
    role (`refusals`), or for every role (`refusal`), or a plain one naming the person's role."""
    allowed = frozenset(roles)
    by_role = dict(refusals or {})

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        actor = current_actor(connection)
        if actor is None:
            raise _not_logged_in(connection)
        if actor.role in allowed:
            return
        raise (
            by_role.get(actor.role)
            or refusal
            or Forbidden(
                "pages_forbidden",
                f"此页面不向{ROLE_TEXT[actor.role]}开放。",
                f"this page is not for role {actor.role}",
            )
        )

    return guard


def logged_in() -> Guard:
    return requires(*Role)


async def _actor(request: Request[Any, Any, Any]) -> Actor:
    actor = current_actor(request)
    if actor is None:  # a route without a guard asked for the actor
        raise _not_logged_in(request)
    return actor


# Handlers name `actor: NamedDependency[Actor]`; their guard has already let the person in.
ACTOR = {"actor": Provide(_actor)}


def session_cookie(token: str, lifetime: timedelta, secure: bool) -> Cookie:
    """The session cookie lives exactly as long as the session (Max-Age, in seconds)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The peer's address, the key of the per-address lockout. Behind a reverse proxy this is the
    proxy, unless the server is told to trust its forwarded-for header (uvicorn
    `--forwarded-allow-ips`), which rewrites the ASGI client."""
    return connection.client.host if connection.client else "unknown"


CLEARED_COOKIE = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["staff"]  # noqa: RUF012 (Litestar declares it a list attribute)

    @post(
        "/login",
        status_code=200,
        summary="Staff login; sets the session cookie",
        responses=refusals(401, 413),
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        cookie_secure: NamedDependency[bool],
        data: JSONBody[LoginIn],
    ) -> Response[UserOut]:
        # Exempt from the CSRF token (there is no session yet), so only what a cross-site form
        # cannot send is taken: a JSON body declared as such.
        if request.content_type[0] != "application/json":
            raise InvalidInput(
                "json_only",
                "请以 JSON 格式提交（Content-Type: application/json）。",
                "send the login as application/json",
            )
        session = await identity.login(
            data.username, data.password, utcnow(), client_address(request)
        )
        return Response(
            session.user,
            cookies=[session_cookie(session.token, session.lifetime, cookie_secure)],
        )

    @post("/logout", status_code=204, summary="End the session")
    async def logout(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity]
    ) -> Response[None]:
        await identity.logout(request.cookies.get(SESSION_COOKIE))
        return Response(None, status_code=204, cookies=[CLEARED_COOKIE])

    @get(
        "/failures",
        guards=[requires(Role.admin)],
        summary="The latest refused logins, newest first (admins)",
        responses=refusals(401, 403),
    )
    async def failures(
        self,
        identity: NamedDependency[Identity],
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[LoginFailureOut]:
        return await identity.failed_logins(limit)

    @get(
        "/me",
        guards=[logged_in()],
        dependencies=ACTOR,
        summary="The logged-in staff member",
        responses=refusals(401),
    )
    async def me(
        self, identity: NamedDependency[Identity], actor: NamedDependency[Actor]
    ) -> UserOut:
        return await identity.me(actor)
