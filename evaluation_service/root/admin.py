"""Piccolo Admin over the catalog at /admin, for the admin role only, with every change audited and
checked by the CSV loader's own row rules.

Who gets in (docs/operations.md, "Catalog administration in the browser"): our session, never
Piccolo's own user and session tables. The Litestar mount carries our session middleware and the
`requires(Role.admin)` guard, so a person without a session is sent to /login and any other role
gets a 403; inside, Piccolo Admin's authentication backend is replaced by one that reads the same
session again (its API is reachable only through the mount, but a second check costs one indexed
lookup). Piccolo Admin's own login, logout and password pages are closed.

Every write through its API (POST, PATCH, DELETE of one row) runs in one of our write transactions:
the row before, the change, the row after and the `catalog_change` audit row commit together, or
nothing does (an answer of 400 or more rolls back). Its PUT and bulk DELETE skip the hooks, so they
are refused. The hooks run `evaluations.catalog.ROW_RULES` on the row as it would be stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException  # its `detail` may be a list, as Piccolo Admin's page wants
from litestar import asgi
from litestar.types import Receive, Scope, Send
from piccolo.columns import Column
from piccolo.table import Table
from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_admin.translations.data import SIMPLIFIED_CHINESE
from piccolo_api.crud.hooks import Hook, HookType
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import Mount

from evaluation_service.evaluations.administration import (
    SECRET_COLUMNS,
    Editor,
    check_row,
    record_change,
    row_of,
)
from evaluation_service.identity.api import SESSION_COOKIE, requires
from evaluation_service.identity.model import Actor, Role
from evaluation_service.identity.service import Identity
from evaluation_service.identity.tables import StaffUser
from evaluation_service.kernel.clock import utcnow
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import DomainError, Forbidden
from evaluation_service.kernel.tables import (
    Department,
    Device,
    IntegrationClient,
    ServiceItem,
    Staff,
    Window,
)

ADMIN_PATH = "/admin"
# Not under /admin: Litestar's mount takes every path that starts with the mount's path.
KEYS_PAGE = "/catalog-keys"

# Rows these tables hold a secret for are created where the secret is made and shown once.
_CREATED_ELSEWHERE = {
    "device": (
        f"新增评价设备请到“设备与接入密钥”页面（{KEYS_PAGE}）：密钥由服务器生成，只显示一次。"
    ),
    "integration_client": (
        f"新增接入系统请到“设备与接入密钥”页面（{KEYS_PAGE}）：令牌由服务器生成，只显示一次。"
    ),
    "staff_user": (
        "新增员工账号请使用命令 python -m evaluation_service create-user（密码不经浏览器保存）。"
    ),
}
_MANAGED_ELSEWHERE = {
    "photo_sha256": f"工作人员照片请在“设备与接入密钥”页面（{KEYS_PAGE}）上传。",
}


def _refuse(message: str, column: str = "") -> HTTPException:
    """A 422 in the shape Piccolo Admin's page shows under the form ("<column> field - <msg>"),
    FastAPI's validation shape; `audited` adds the joined Chinese `message`."""
    return _refusals([(column, message)])


def _refusals(problems: list[tuple[str, str]]) -> HTTPException:
    detail = [
        {"loc": ["body", column or "row"], "msg": message, "type": "value_error"}
        for column, message in problems
    ]
    return HTTPException(status_code=422, detail=detail)


# Each table's natural key, checked before the database's unique index so the refusal is Chinese.
_NATURAL_KEY = {
    "department": ("code", "部门编码"),
    "service_item": ("code", "事项编码"),
    "window": ("window_no", "窗口编号"),
    "staff": ("staff_no", "工号"),
    "device": ("device_id", "设备编号"),
    "integration_client": ("name", "接入系统名称"),
    "staff_user": ("username", "用户名"),
}


async def _check_unique(table: type[Table], row: dict[str, Any], row_id: Any = None) -> None:
    column_name, label = _NATURAL_KEY[table._meta.tablename]
    value = row.get(column_name)
    query = table.exists().where(table._meta.get_column_by_name(column_name) == value)
    if row_id is not None:
        query = query.where(table._meta.primary_key != row_id)
    if value and await query:
        raise _refuse(f"{label}“{value}”已存在，未保存。", column_name)


async def _check(tablename: str, row: dict[str, Any]) -> None:
    problems = await check_row(tablename, row)
    if tablename == "staff_user":
        problems += _account_problems(row)
    if problems:
        raise _refusals(problems)


def _account_problems(row: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    role = str(getattr(row.get("role"), "value", row.get("role")) or "")
    if role not in set(Role):
        problems.append(("role", f"角色“{role}”不正确，可选：{'、'.join(Role)}。"))
    elif role == Role.liaison and not row.get("department"):
        problems.append(("department", "部门联络员必须指定所属部门。"))
    name = str(row.get("display_name") or "")
    if not name or len(name) > 50:
        problems.append(("display_name", "姓名不能为空，最长50字。"))
    return problems


def _hooks(table: type[Table]) -> list[Hook]:
    tablename = table._meta.tablename

    async def pre_save(row: Table) -> Table:
        if tablename in _CREATED_ELSEWHERE:
            raise _refuse(_CREATED_ELSEWHERE[tablename])
        # A field left out of the form arrives as None: a NOT NULL column takes its default.
        for column in table._meta.columns:
            name = column._meta.name
            if getattr(row, name, None) is None and not column._meta.null:
                setattr(row, name, column.get_default_value())
        values = row.to_dict()
        if values.get("photo_sha256"):
            raise _refuse(_MANAGED_ELSEWHERE["photo_sha256"], "photo_sha256")
        await _check(tablename, values)
        await _check_unique(table, values)
        return row

    async def pre_patch(row_id: Any, values: dict[Column | str, Any]) -> dict[Column | str, Any]:
        current = await row_of(table, row_id)
        if current is None:
            raise HTTPException(status_code=404, detail="该记录不存在或已被删除。")
        kept: dict[Column | str, Any] = {}
        for column, value in values.items():
            name = column._meta.name if isinstance(column, Column) else str(column)
            if name in SECRET_COLUMNS:
                # The form sends secret columns back empty: that leaves the secret alone.
                if value in (None, ""):
                    continue
                raise _refuse(
                    f"密钥、令牌和密码不能在此修改，请到“设备与接入密钥”页面（{KEYS_PAGE}）轮换。",
                    name,
                )
            if name in _MANAGED_ELSEWHERE and value != current.get(name):
                raise _refuse(_MANAGED_ELSEWHERE[name], name)
            kept[column] = value
        merged = {**current}
        for column, value in kept.items():
            merged[column._meta.name if isinstance(column, Column) else str(column)] = value
        await _check(tablename, merged)
        await _check_unique(table, merged, row_id)
        return kept

    return [
        Hook(hook_type=HookType.pre_save, callable=pre_save),
        Hook(hook_type=HookType.pre_patch, callable=pre_patch),
    ]


ADMIN_TABLES: list[type[Table]] = [
    Department,
    ServiceItem,
    Window,
    Staff,
    Device,
    IntegrationClient,
    StaffUser,
]
_GROUP = {
    "department": "目录",
    "service_item": "目录",
    "window": "目录",
    "staff": "目录",
    "device": "设备与接入",
    "integration_client": "设备与接入",
    "staff_user": "员工账号",
}


def _mark_secrets() -> None:
    """Piccolo's `secret` flag keeps a column out of every answer of Piccolo Admin's API (its CRUD
    leaves secrets out) and makes its form a password field. Our own queries never ask to leave
    secrets out, so nothing else changes; migrations are made from piccolo_conf, which does not
    import this module."""
    for table in ADMIN_TABLES:
        for column in table._meta.columns:
            if column._meta.name in SECRET_COLUMNS:
                column._meta.secret = True


# --- authentication: our session, inside Piccolo Admin too ---------------------------------------


class _AdminUser(BaseUser):
    """What Piccolo Admin reads of `request.user`: a display name and an id."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.actor.username

    @property
    def user_id(self) -> int:
        return self.actor.user_id


class _OurSession(AuthenticationBackend):
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        token = conn.cookies.get(SESSION_COOKIE)
        if not token:
            raise AuthenticationError("请先登录。")
        try:
            actor = await self.identity.authenticate(token, utcnow())
        except DomainError as error:
            raise AuthenticationError(error.zh) from None
        if actor.role != Role.admin:
            raise AuthenticationError("目录管理只向系统管理员开放。")
        return AuthCredentials(["authenticated"]), _AdminUser(actor)


# --- the audit: one transaction per write --------------------------------------------------------

_TABLE_PATH = re.compile(r"^/api/tables/(?P<table>[a-z_]+)/(?:(?P<row>[0-9]+)/)?$")
_CLOSED = ("/public/login", "/public/logout", "/api/change-password", "/api/mfa-setup")


class _Rollback(Exception):
    pass


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message, "message": message}, ensure_ascii=False).encode()
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json; charset=utf-8")],
    }
    await send(start)
    end: Any = {"type": "http.response.body", "body": body}
    await send(end)


def audited(
    admin: Callable[[Scope, Receive, Send], Awaitable[None]],
    db: Database,
    forget_client_tokens: Callable[[], None],
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    tables = {table._meta.tablename: table for table in ADMIN_TABLES}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http":
            await admin(scope, receive, send)
            return
        if path.startswith(_CLOSED):
            await _answer(send, 404, "请在 /login 登录或退出；目录管理不另设账号与密码。")
            return
        method = str(scope.get("method", ""))
        match = _TABLE_PATH.match(path)
        if method in ("GET", "HEAD", "OPTIONS") or match is None:
            await admin(scope, receive, send)
            return
        table = tables.get(match["table"])
        if table is None:
            await _answer(send, 404, "没有这张表。")
            return
        if method == "PUT" or (method == "DELETE" and match["row"] is None):
            await _answer(send, 405, "请逐条修改或删除，批量替换和批量删除不可用。")
            return
        actor = scope.get("user")  # set by our session middleware on the mount
        if not isinstance(actor, Actor):  # the mount's guard let only admins through; never reached
            await _answer(send, 401, "请先登录。")
            return
        editor = Editor(actor.username, actor.role)
        row_id = int(match["row"]) if match["row"] else None
        messages: list[Any] = []

        async def keep(message: Any) -> None:
            messages.append(message)

        try:
            async with db.write():
                before = await row_of(table, row_id) if row_id is not None else None
                await admin(scope, receive, keep)
                status = next(
                    (m["status"] for m in messages if m["type"] == "http.response.start"), 500
                )
                if status >= 400:
                    messages = _in_chinese(status, messages)
                    raise _Rollback
                if method == "POST":
                    body = b"".join(m.get("body", b"") for m in messages if "body" in m)
                    row_id = _inserted_id(body)
                after = await row_of(table, row_id) if row_id is not None else None
                action = {"POST": "insert", "PATCH": "update", "DELETE": "delete"}[method]
                await record_change(editor, table, row_id, action, before, after)
        except _Rollback:
            pass
        else:
            if table is IntegrationClient:  # deactivated here: the token cache must not keep it
                forget_client_tokens()
        for message in messages:
            await send(message)

    return app


_HAS_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _in_chinese(status: int, messages: list[Any]) -> list[Any]:
    """Every refused write answers with a Chinese `message`. Ours (the hooks) already say it in
    `detail`; Piccolo Admin's own (database constraint, pydantic, CSRF) are English: the answer
    becomes a Chinese 4xx, the original kept as `detail_en`. Its 500 for a value the database
    would not take is a refused input, hence 422. A 422's `detail` stays a list of {loc, msg},
    which is what Piccolo Admin's page shows under the form."""
    body = b"".join(m.get("body", b"") for m in messages if "body" in m)
    text = body.decode("utf-8", "replace")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    detail = answer.get("detail") if isinstance(answer, dict) else None
    if isinstance(detail, list) and _HAS_CHINESE.search(str(detail)):
        zh = "；".join(str(d.get("msg", "")).rstrip("。") for d in detail) + "。"
        out: dict[str, Any] = {"detail": detail, "message": zh}
    elif isinstance(detail, str) and _HAS_CHINESE.search(detail):
        out = {"detail": detail, "message": detail}
    else:
        if isinstance(answer, dict) and "db_error" in answer:
            status, zh = 422, "未保存：编号与已有记录重复，或引用的记录不存在、仍被其他记录引用。"
        elif status >= 500:
            status, zh = 422, "未保存：提交的数据不符合要求，请检查后重试。"
        elif status == 403:  # its CSRF middleware: token missing or not matching, or wrong origin
            zh = "页面已过期或来自其他网站，操作未执行。请刷新页面后重试。"
        elif status == 404:
            zh = "该记录不存在或已被删除。"
        else:
            zh = "提交的数据格式不正确，未保存。"
        shown: Any = [{"loc": ["body", "row"], "msg": zh, "type": "value_error"}]
        out = {"detail": shown if status == 422 else zh, "message": zh, "detail_en": text[:500]}
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json; charset=utf-8")],
    }
    encoded = json.dumps(out, ensure_ascii=False).encode()
    return [start, {"type": "http.response.body", "body": encoded}]


def _inserted_id(body: bytes) -> int | None:
    try:
        answer = json.loads(body)
        return int(answer[0]["id"])
    except (ValueError, LookupError, TypeError):
        return None


# --- the mount -----------------------------------------------------------------------------------


def admin_mount(
    db: Database,
    identity: Identity,
    forget_client_tokens: Callable[[], None],
    public_base_url: str,
    https: bool,
) -> Any:
    """The Litestar handler that mounts Piccolo Admin at /admin, for admins only."""
    _mark_secrets()
    admin = create_admin(
        tables=[
            TableConfig(
                table_class=table,
                hooks=_hooks(table),
                menu_group=_GROUP[table._meta.tablename],
                exclude_visible_columns=[
                    c for c in table._meta.columns if c._meta.name in SECRET_COLUMNS
                ],
            )
            for table in ADMIN_TABLES
        ],
        site_name="好差评 目录管理",
        default_language_code="zh-CN",
        translations=[SIMPLIFIED_CHINESE],
        auto_include_related=False,
        production=https,
        # Behind HTTPS its CSRF middleware also wants the Origin/Referer host to be one of these.
        allowed_hosts=[urlsplit(public_base_url).hostname or "localhost"],
        sidebar_links={"设备与接入密钥、员工照片": KEYS_PAGE, "返回监督台": "/console"},
    )
    api = [r for r in admin.routes if isinstance(r, Mount) and r.path == "/api"]
    if len(api) != 1 or not isinstance(api[0].app, AuthenticationMiddleware):
        # piccolo-admin is pinned; a version that builds its API otherwise must not start open.
        raise RuntimeError("piccolo-admin's /api mount changed: cannot put our session in front")
    api[0].app.backend = _OurSession(identity)
    app = audited(admin, db, forget_client_tokens)

    @asgi(
        ADMIN_PATH,
        is_mount=True,
        copy_scope=True,
        guards=[
            requires(
                Role.admin,
                refusal=Forbidden(
                    "admin_only", "目录管理只向系统管理员开放。", "catalog admin is for admins"
                ),
            )
        ],
        include_in_schema=False,
    )
    async def piccolo_admin(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path") == ADMIN_PATH.encode():
            # Its page loads ./assets/…: only from /admin/ do they resolve inside the mount.
            redirect: Any = {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", f"{ADMIN_PATH}/".encode()), (b"content-length", b"0")],
            }
            end: Any = {"type": "http.response.body", "body": b""}
            await send(redirect)
            await send(end)
            return
        await app(scope, receive, send)

    return piccolo_admin
