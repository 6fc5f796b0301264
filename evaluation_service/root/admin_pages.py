"""The admin's pages beside Piccolo Admin: device keys and business-system tokens (issued,
rotated, revoked; each secret shown once), staff photo upload, and the public staff photo.

Secrets are made on the server, so these are our own forms (CSRF, staff frame) rather than Piccolo
Admin rows; the use cases and their audit are `evaluations.administration`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response import Redirect, Template

from evaluation_service.evaluations import administration as adm
from evaluation_service.evaluations.service import Intake
from evaluation_service.identity.api import requires
from evaluation_service.identity.model import Role
from evaluation_service.identity.web import VIEWER, Viewer, staff_error_page, staff_page
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import DomainError, Forbidden, InvalidInput, NotFound
from evaluation_service.kernel.inputs import form_text
from evaluation_service.kernel.schemas import refusals
from evaluation_service.kernel.settings import STAFF_PHOTO_LIMIT_BYTES, Settings
from evaluation_service.kernel.tables import Device, IntegrationClient, Staff, Window
from evaluation_service.root.admin import ADMIN_PATH, KEYS_PAGE

TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"
PHOTO_PATH = adm.PHOTO_PATH

ADMIN_ONLY = requires(
    Role.admin,
    refusal=Forbidden("admin_only", "此页面只向系统管理员开放。", "admins only"),
)

Key = Annotated[str, Parameter(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f/]+$")]


def _editor(viewer: Viewer) -> adm.Editor:
    return adm.Editor(viewer.actor.username, viewer.actor.role)


async def _field(request: Request[Any, Any, Any], name: str, label: str) -> str:
    form = await request.form()
    value = form.get(name)
    return (
        form_text(str(value or "").strip(), name, label)
        if not isinstance(value, UploadFile)
        else ""
    )


async def _overview(request: Request[Any, Any, Any], viewer: Viewer, **extra: Any) -> Template:
    devices = await Device.select(
        Device.device_id,
        Device.kind,
        Device.name,
        Device.active,
        Device.window.window_no.as_alias("window_no"),
    ).order_by(Device.device_id)
    clients = await IntegrationClient.select(
        IntegrationClient.name, IntegrationClient.active, IntegrationClient.created_at
    ).order_by(IntegrationClient.name)
    staff = await Staff.select(Staff.staff_no, Staff.name, Staff.photo_sha256).order_by(
        Staff.staff_no
    )
    windows = await Window.select(Window.window_no, Window.name).order_by(Window.window_no)
    return staff_page(
        request,
        "admin_keys.html",
        viewer,
        status_code=extra.pop("status_code", 200),
        devices=devices,
        clients=clients,
        staff=staff,
        windows=windows,
        admin_path=ADMIN_PATH,
        photo_path=PHOTO_PATH,
        **extra,
    )


async def _refused(request: Request[Any, Any, Any], viewer: Viewer, error: DomainError) -> Template:
    return await _overview(request, viewer, error=error.zh, status_code=error.status)


def _shown_once(
    request: Request[Any, Any, Any], viewer: Viewer, what: str, secret: str
) -> Template:
    # Never cached, never in a URL: the page carrying the secret is the answer to the POST.
    page = staff_page(request, "admin_secret.html", viewer, what=what, secret=secret)
    page.headers["Cache-Control"] = "no-store"
    return page


@get(KEYS_PAGE, guards=[ADMIN_ONLY])
async def keys_page(request: Request[Any, Any, Any], viewer: NamedDependency[Viewer]) -> Template:
    done = request.query_params.get("done", "")
    return await _overview(request, viewer, done=done[:100])


@post(f"{KEYS_PAGE}/devices", guards=[ADMIN_ONLY])
async def device_issue(
    request: Request[Any, Any, Any], viewer: NamedDependency[Viewer], db: NamedDependency[Database]
) -> Template:
    try:
        device_id = await _field(request, "device_id", "设备编号")
        key = await adm.issue_device(
            db,
            _editor(viewer),
            device_id,
            await _field(request, "kind", "设备类型"),
            await _field(request, "window_no", "窗口编号"),
            await _field(request, "name", "设备名称"),
        )
    except DomainError as error:
        return await _refused(request, viewer, error)
    return _shown_once(request, viewer, f"评价设备“{device_id}”的密钥", key)


@post(f"{KEYS_PAGE}/devices/{{device_id:str}}/rotate", guards=[ADMIN_ONLY])
async def device_rotate(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Viewer],
    db: NamedDependency[Database],
    device_id: Key,
) -> Template:
    try:
        key = await adm.rotate_device_key(db, _editor(viewer), device_id)
    except DomainError as error:
        return await _refused(request, viewer, error)
    return _shown_once(request, viewer, f"评价设备“{device_id}”的新密钥（旧密钥已立即失效）", key)


@post(f"{KEYS_PAGE}/devices/{{device_id:str}}/revoke", guards=[ADMIN_ONLY])
async def device_revoke(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Viewer],
    db: NamedDependency[Database],
    device_id: Key,
) -> Response[Any]:
    try:
        await adm.revoke_device(db, _editor(viewer), device_id)
    except DomainError as error:
        return await _refused(request, viewer, error)
    return Redirect(f"{KEYS_PAGE}?done=revoked", status_code=303)


@post(f"{KEYS_PAGE}/clients", guards=[ADMIN_ONLY])
async def client_issue(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Viewer],
    db: NamedDependency[Database],
) -> Template:
    try:
        name = await _field(request, "name", "接入系统名称")
        token = await adm.issue_client(db, _editor(viewer), name)
    except DomainError as error:
        return await _refused(request, viewer, error)
    return _shown_once(request, viewer, f"接入系统“{name}”的令牌", token)


@post(f"{KEYS_PAGE}/clients/{{name:str}}/rotate", guards=[ADMIN_ONLY])
async def client_rotate(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Viewer],
    db: NamedDependency[Database],
    intake: NamedDependency[Intake],
    name: Key,
) -> Template:
    try:
        token = await adm.rotate_client_token(db, _editor(viewer), name)
    except DomainError as error:
        return await _refused(request, viewer, error)
    intake.forget_client_tokens()
    return _shown_once(request, viewer, f"接入系统“{name}”的新令牌（旧令牌已失效）", token)


@post(f"{KEYS_PAGE}/clients/{{name:str}}/revoke", guards=[ADMIN_ONLY])
async def client_revoke(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Viewer],
    db: NamedDependency[Database],
    intake: NamedDependency[Intake],
    name: Key,
) -> Response[Any]:
    try:
        await adm.revoke_client(db, _editor(viewer), name)
    except DomainError as error:
        return await _refused(request, viewer, error)
    intake.forget_client_tokens()
    return Redirect(f"{KEYS_PAGE}?done=revoked", status_code=303)


@post(
    f"{KEYS_PAGE}/staff/{{staff_no:str}}/photo",
    guards=[ADMIN_ONLY],
    request_max_body_size=STAFF_PHOTO_LIMIT_BYTES + 100_000,  # the form around the file
)
async def staff_photo_upload(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Viewer],
    db: NamedDependency[Database],
    settings: NamedDependency[Settings],
    staff_no: Key,
) -> Response[Any]:
    try:
        form = await request.form()
        upload = form.get("photo")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("photo_missing", "请选择照片文件（JPG或PNG）。", "no photo", "photo")
        data = await upload.read(settings.staff_photo_max_bytes + 1)
        await adm.store_staff_photo(
            db, _editor(viewer), staff_no, data, settings.var_dir, settings.staff_photo_max_bytes
        )
    except DomainError as error:
        return await _refused(request, viewer, error)
    return Redirect(f"{KEYS_PAGE}?done=photo", status_code=303)


ADMIN_PAGES = Router(
    path="/",
    route_handlers=[
        keys_page,
        device_issue,
        device_rotate,
        device_revoke,
        client_issue,
        client_rotate,
        client_revoke,
        staff_photo_upload,
    ],
    dependencies=VIEWER,
    exception_handlers={DomainError: staff_error_page},
    include_in_schema=False,
)


# --- the public photo ----------------------------------------------------------------------------


@get(
    f"{PHOTO_PATH}/{{staff_no:str}}",
    tags=["device"],
    summary="A staff member's work photo, at most 256 px, for the counter evaluator",
    media_type="image/jpeg",
    responses={
        **refusals(404),
        304: ResponseSpec(None, description="Not modified (If-None-Match matched the ETag)"),
    },
)
async def staff_photo(
    request: Request[Any, Any, Any], settings: NamedDependency[Settings], staff_no: Key
) -> Response[bytes]:
    """Public like the photo on the counter: no login, one staff number in, one image out; it
    lists nothing. The ETag is the photo's SHA-256, so a new photo shows at once."""
    sha = await adm.staff_photo_sha(staff_no)
    if sha is None:
        raise NotFound("no_photo", "该工作人员没有照片。", "this staff member has no photo")
    etag = f'"{sha[:32]}-{adm.PHOTO_SIZE}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    # Pillow and file reads off the event loop: the first request for a photo resizes it.
    data = await asyncio.to_thread(adm.resized_photo, settings.var_dir, sha)
    return Response(data, media_type="image/jpeg", headers=headers)
