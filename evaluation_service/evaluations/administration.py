"""Catalog changes made in the browser: the audit of every change, device keys and business-system
tokens issued, rotated and revoked (each secret shown once), and staff photos.

The browser admin (root/admin.py) and the key and photo pages call these; the row rules are the CSV
loader's (`catalog.ROW_RULES`), so a row the loader refuses is refused here too.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from piccolo.table import Table
from PIL import Image, UnidentifiedImageError

from evaluation_service.evaluations.catalog import ROW_RULES, References, RowProblem
from evaluation_service.evaluations.tokens import hash_key, new_secret_key
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import Conflict, InvalidInput, NotFound
from evaluation_service.kernel.tables import (
    CatalogChange,
    Department,
    Device,
    IntegrationClient,
    Staff,
    Window,
)

# Columns that hold a secret's hash: never shown, never written by hand, never in the audit log.
SECRET_COLUMNS = frozenset({"key_hash", "token_hash", "password_hash"})


@dataclass(frozen=True)
class Editor:
    """Who makes a change, as the audit log records them."""

    username: str
    role: str


# --- audit --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def snapshot(row: Mapping[str, Any] | None) -> str:
    """A row as the audit log keeps it: JSON, secret hashes left out; empty for no row."""
    if row is None:
        return ""
    plain = {k: _plain(v) for k, v in row.items() if k not in SECRET_COLUMNS}
    return json.dumps(plain, ensure_ascii=False, sort_keys=True, default=str)


async def record_change(
    editor: Editor,
    table: type[Table],
    row_id: int | None,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """One audit row; call it inside the change's own write transaction."""
    await CatalogChange.insert(
        CatalogChange(
            username=editor.username[:64],
            role=editor.role[:12],
            table_name=table._meta.tablename,
            row_id=row_id,
            action=action,
            before=snapshot(before),
            after=snapshot(after),
        )
    )


async def row_of(table: type[Table], row_id: Any) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await table.select().where(table._meta.primary_key == row_id).first()
    )
    return row


# --- the shared row rules, on stored rows --------------------------------------------------------

# Which CSV file's rule checks which table, and how a stored row reads as that file's row.
RULE_OF_TABLE: dict[str, str] = {
    "department": "departments",
    "service_item": "items",
    "window": "windows",
    "staff": "staff",
    "device": "devices",
    "integration_client": "clients",
}


async def references() -> References:
    departments = await Department.select(Department.code)
    windows = await Window.select(Window.window_no)
    return References(
        frozenset(r["code"] for r in departments), frozenset(r["window_no"] for r in windows)
    )


async def _code_of(table: type[Table], column: str, row_id: Any) -> str:
    if row_id in (None, ""):
        return ""
    row = (
        await table.select(table._meta.get_column_by_name(column))
        .where(table._meta.primary_key == row_id)
        .first()
    )
    return str(row[column]) if row else f"#{row_id}"


async def as_csv_row(tablename: str, row: Mapping[str, Any]) -> dict[str, str]:
    """A stored (or about to be stored) row in the CSV's spelling: strings, and references by
    natural key (a department id becomes its code, a window id its number)."""
    values: dict[str, str] = {}
    for column, value in row.items():
        if column in SECRET_COLUMNS or column == "id":
            continue
        if column == "department":
            values["department_code"] = await _code_of(Department, "code", value)
        elif column == "window":
            values["window_no"] = await _code_of(Window, "window_no", value)
        elif isinstance(value, bool) or value is None:
            continue
        else:
            values[column] = str(value.value if hasattr(value, "value") else value)
    return values


async def check_row(tablename: str, row: Mapping[str, Any]) -> list[RowProblem]:
    """The CSV loader's rule for this table, on a row as the admin is about to store it."""
    rule = RULE_OF_TABLE.get(tablename)
    if rule is None:
        return []
    return ROW_RULES[rule](await as_csv_row(tablename, row), await references())


def refusal(problems: list[RowProblem]) -> InvalidInput:
    text = "；".join(message.rstrip("。") for _, message in problems) + "。"
    return InvalidInput("catalog_rule", text, "; ".join(c for c, _ in problems), problems[0][0])


# --- device keys ---------------------------------------------------------------------------------


async def _device(device_id: str) -> dict[str, Any]:
    row: dict[str, Any] | None = await Device.select().where(Device.device_id == device_id).first()
    if row is None:
        raise NotFound("device_not_found", f"设备“{device_id}”不存在。", "no such device")
    return row


async def issue_device(
    db: Database, editor: Editor, device_id: str, kind: str, window_no: str, name: str
) -> str:
    """Register a device with a new key; returns the key (shown once, only its hash is kept)."""
    values = {"device_id": device_id, "kind": kind, "window_no": window_no, "name": name}
    key = new_secret_key()
    async with db.write():
        problems = ROW_RULES["devices"](values, await references())
        if problems:
            raise refusal(problems)
        if await Device.exists().where(Device.device_id == device_id):
            raise Conflict(
                "device_exists",
                f"设备“{device_id}”已存在；如需新密钥，请使用“轮换密钥”。",
                "device exists",
                "device_id",
            )
        window = await Window.select(Window.id).where(Window.window_no == window_no).first()
        device = Device(
            device_id=device_id,
            kind=kind,
            name=name,
            window=window["id"] if window else None,
            key_hash=hash_key(key),
        )
        await Device.insert(device)
        stored = await _device(device_id)
        await record_change(editor, Device, stored["id"], "issue_key", None, stored)
    return key


async def rotate_device_key(db: Database, editor: Editor, device_id: str) -> str:
    """A new key for the device (and back in service if it was revoked); the old key stops at
    once, because the rating path looks the key up in the database on every request."""
    key = new_secret_key()
    async with db.write():
        before = await _device(device_id)
        await Device.update({Device.key_hash: hash_key(key), Device.active: True}).where(
            Device.id == before["id"]
        )
        await record_change(
            editor, Device, before["id"], "rotate_key", before, await _device(device_id)
        )
    return key


async def revoke_device(db: Database, editor: Editor, device_id: str) -> None:
    """Out of service at once: inactive, and its key replaced by one nobody holds."""
    async with db.write():
        before = await _device(device_id)
        await Device.update(
            {Device.key_hash: hash_key(secrets.token_urlsafe(32)), Device.active: False}
        ).where(Device.id == before["id"])
        await record_change(
            editor, Device, before["id"], "revoke_key", before, await _device(device_id)
        )


# --- business-system tokens ----------------------------------------------------------------------


async def _client(name: str) -> dict[str, Any]:
    row: dict[str, Any] | None = (
        await IntegrationClient.select().where(IntegrationClient.name == name).first()
    )
    if row is None:
        raise NotFound("client_not_found", f"接入系统“{name}”不存在。", "no such client")
    return row


async def issue_client(db: Database, editor: Editor, name: str) -> str:
    name = name.strip()
    problems = ROW_RULES["clients"]({"name": name}, References((), ()))
    if problems:
        raise refusal(problems)
    token = new_secret_key()
    async with db.write():
        if await IntegrationClient.exists().where(IntegrationClient.name == name):
            raise Conflict(
                "client_exists",
                f"接入系统“{name}”已存在；如需新令牌，请使用“轮换令牌”。",
                "client exists",
                "name",
            )
        await IntegrationClient.insert(IntegrationClient(name=name, token_hash=hash_key(token)))
        stored = await _client(name)
        await record_change(editor, IntegrationClient, stored["id"], "issue_key", None, stored)
    return token


async def rotate_client_token(db: Database, editor: Editor, name: str) -> str:
    token = new_secret_key()
    async with db.write():
        before = await _client(name)
        await IntegrationClient.update(
            {IntegrationClient.token_hash: hash_key(token), IntegrationClient.active: True}
        ).where(IntegrationClient.id == before["id"])
        await record_change(
            editor, IntegrationClient, before["id"], "rotate_key", before, await _client(name)
        )
    return token


async def revoke_client(db: Database, editor: Editor, name: str) -> None:
    async with db.write():
        before = await _client(name)
        await IntegrationClient.update(
            {
                IntegrationClient.token_hash: hash_key(secrets.token_urlsafe(32)),
                IntegrationClient.active: False,
            }
        ).where(IntegrationClient.id == before["id"])
        await record_change(
            editor, IntegrationClient, before["id"], "revoke_key", before, await _client(name)
        )


# --- staff photos --------------------------------------------------------------------------------

# The stable address of a staff member's photo, public like the photo on the counter; what the
# device announcement's `photo_url` carries (docs/operations.md, "Staff photos").
PHOTO_PATH = "/device/staff-photo"
PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


def photo_url(staff_no: str, photo_sha256: str) -> str | None:
    """`/device/staff-photo/{staff_no}?v=<hash prefix>`, or None without a photo. The `v`
    parameter changes with the photo, so a new photo is fetched at once despite caching; the
    endpoint itself ignores it."""
    if not staff_no or not photo_sha256:
        return None
    return f"{PHOTO_PATH}/{quote(staff_no, safe='')}?v={photo_sha256[:12]}"


PHOTO_MAX_PIXELS = 40_000_000  # far above any camera photo; refuses decompression bombs early
PHOTO_SIZE = 256  # the longer side of the served copy, in pixels


def photo_dir(var_dir: Path) -> Path:
    return var_dir / "staff_photos"


def check_photo(data: bytes, max_bytes: int) -> str:
    """A JPEG or PNG that Pillow can read, within the size limit; returns its SHA-256."""
    if not data:
        raise InvalidInput("photo_missing", "请选择照片文件（JPG或PNG）。", "no photo", "photo")
    if len(data) > max_bytes:
        raise InvalidInput(
            "photo_too_large",
            f"照片过大：最大{max_bytes // 1024}KB，当前{len(data) // 1024}KB。",
            "photo too large",
            "photo",
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in PHOTO_FORMATS:
                raise InvalidInput(
                    "photo_format",
                    "照片只能是JPG或PNG格式。",
                    f"photo format {image.format} not allowed",
                    "photo",
                )
            if image.width * image.height > PHOTO_MAX_PIXELS:
                raise InvalidInput(
                    "photo_pixels", "照片像素过多，请缩小后再上传。", "too many pixels", "photo"
                )
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(
            "photo_unreadable",
            "无法识别该照片：请上传完整的JPG或PNG图片。",
            "photo unreadable",
            "photo",
        ) from None
    return hashlib.sha256(data).hexdigest()


async def store_staff_photo(
    db: Database, editor: Editor, staff_no: str, data: bytes, var_dir: Path, max_bytes: int
) -> str:
    """Keep the photo under var/staff_photos/<sha256> and point the staff member at it."""
    sha = check_photo(data, max_bytes)
    if not await Staff.exists().where(Staff.staff_no == staff_no):
        raise NotFound("staff_not_found", f"工号“{staff_no}”不存在。", "no such staff")
    folder = photo_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / sha
    if not path.exists():
        partial = folder / f".{sha}.part"
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a file
    async with db.write():
        before = await Staff.select().where(Staff.staff_no == staff_no).first()
        if before is None:
            raise NotFound("staff_not_found", f"工号“{staff_no}”不存在。", "no such staff")
        await Staff.update({Staff.photo_sha256: sha}).where(Staff.id == before["id"])
        after = {**before, "photo_sha256": sha}
        await record_change(editor, Staff, before["id"], "photo", before, after)
    return sha


async def staff_photo_sha(staff_no: str) -> str | None:
    row = (
        await Staff.select(Staff.photo_sha256).where(Staff.staff_no == staff_no).first()
        if len(staff_no) <= 32
        else None
    )
    return row["photo_sha256"] if row and row["photo_sha256"] else None


def resized_photo(var_dir: Path, sha: str) -> bytes:
    """The served copy: at most PHOTO_SIZE px on the longer side, JPEG, made once and kept."""
    folder = photo_dir(var_dir)
    cached = folder / f"{sha}-{PHOTO_SIZE}.jpg"
    if cached.exists():
        return cached.read_bytes()
    original = folder / sha
    if not original.exists():
        raise NotFound("photo_missing", "照片文件不存在，请重新上传。", "photo file missing")
    with Image.open(original) as image:
        image.thumbnail((PHOTO_SIZE, PHOTO_SIZE))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=85)
    data = out.getvalue()
    partial = folder / f".{sha}-{PHOTO_SIZE}.part"
    partial.write_bytes(data)
    partial.replace(cached)
    return data
