"""Loads the county catalog (departments … devices, indicators, clients) from CSV files."""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from piccolo.columns import Column
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

from evaluation_service.evaluations.model import (
    LEVEL_TEXT,
    MAX_LIMIT_DAYS,
    CaseKind,
    DeviceKind,
    ItemKind,
    TimeUnit,
    check_area_code,
    check_case_kind,
    check_code,
    check_department_code,
    check_indicator_version,
    check_item_code,
    check_item_kind,
    check_limit_days,
    check_time_unit,
)
from evaluation_service.evaluations.tokens import hash_key, new_secret_key
from evaluation_service.identity.service import create_user
from evaluation_service.identity.tables import StaffUser
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import Conflict, DomainError, InvalidInput
from evaluation_service.kernel.tables import (
    Department,
    Device,
    Indicator,
    IntegrationClient,
    ServiceItem,
    Staff,
    Window,
)

DEMO_DIR = Path(__file__).parent / "demo_data"

# Load order is dependency order: a row may only refer to files above it.
COLUMNS: dict[str, tuple[str, ...]] = {
    "departments": ("code", "name", "area_code"),
    "items": ("code", "name", "department_code"),
    "windows": ("window_no", "name", "hall", "department_code"),
    "staff": ("staff_no", "name", "department_code", "window_no"),
    "devices": ("device_id", "kind", "window_no", "name", "key"),
    "indicators": ("version", "level", "code", "text"),
    "clients": ("name", "token"),
}

# Columns a file may add after its required ones, in any order. A column the file leaves out
# leaves what is stored alone (a new row takes the table's default); an empty cell in a column the
# file has means the default. So an old items.csv reloads without wiping what a newer one set.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "items": (
        "item_kind",
        "case_kind",
        "promised_days",
        "promised_unit",
        "legal_days",
        "legal_unit",
    ),
    "windows": ("service_promise", "complaint_phone"),
    "staff": ("star_level", "phone"),
    "indicators": ("label",),
}

# What an empty optional cell stands for.
_DEFAULTS: dict[str, str | int] = {
    "item_kind": ItemKind.unknown.value,
    "case_kind": CaseKind.promised.value,
    "promised_days": 0,
    "promised_unit": TimeUnit.working_day.value,
    "legal_days": 0,
    "legal_unit": TimeUnit.working_day.value,
    "label": "",
    "service_promise": "",
    "complaint_phone": "12345",
    "star_level": 0,
    "phone": "",  # a staff member's own mobile: empty means none registered
}

TABLE_TEXT = {
    "departments": "部门",
    "items": "事项",
    "windows": "窗口",
    "staff": "工作人员",
    "devices": "评价设备",
    "indicators": "评价指标",
    "clients": "接入系统",
}

_SECRET_RE = re.compile(r"^[\x21-\x7e]{16,200}$")  # printable ASCII: it travels in an HTTP header
_DEVICE_ID_RE = re.compile(r"^[0-9A-Za-z_\-]{1,64}$")
_PHONE_RE = re.compile(r"^[0-9][0-9\-]{2,19}$")
_MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")  # a mainland mobile number, 11 digits
MAX_STAR_LEVEL = 5


# --- public results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProblem:
    file: str
    line: int  # 0 when the problem is with the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CatalogError(Exception):
    """The catalog was refused; `problems` lists every problem found, nothing was written."""

    def __init__(self, problems: list[CatalogProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the catalog; nothing was loaded")
        self.problems = problems


@dataclass
class TableCount:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class GeneratedSecret:
    """A device key or client token made by the loader: shown once, only its hash is stored."""

    kind: str  # "devices" or "clients"
    name: str  # device_id or client name
    secret: str


@dataclass
class LoadReport:
    counts: dict[str, TableCount] = field(default_factory=dict)  # keyed like COLUMNS
    secrets: list[GeneratedSecret] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(count.inserted or count.updated for count in self.counts.values())


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    file: str
    line: int
    values: dict[str, str]


def _csv_files(paths: Sequence[Path]) -> tuple[dict[str, Path], list[CatalogProblem]]:
    """Recognised files by table name; a folder contributes every recognised CSV in it."""
    found: dict[str, Path] = {}
    problems: list[CatalogProblem] = []

    def add(path: Path) -> None:
        name = path.name.removesuffix(".csv")
        if not path.name.endswith(".csv") or name not in COLUMNS:
            known = "、".join(f"{n}.csv" for n in COLUMNS)
            problems.append(
                CatalogProblem(str(path), 0, f"无法识别的文件名，可用的文件名：{known}。")
            )
        elif name in found:
            problems.append(
                CatalogProblem(
                    str(path), 0, f"与 {found[name]} 同名，一次只能加载一个 {path.name}。"
                )
            )
        else:
            found[name] = path

    for path in paths:
        if path.is_dir():
            recognised = [
                path / f"{name}.csv" for name in COLUMNS if (path / f"{name}.csv").is_file()
            ]
            if not recognised:
                problems.append(CatalogProblem(str(path), 0, "文件夹中没有可识别的CSV文件。"))
            for file in recognised:
                add(file)
        elif path.is_file():
            add(path)
        else:
            problems.append(CatalogProblem(str(path), 0, "文件或文件夹不存在。"))
    return found, problems


def _read_rows(name: str, path: Path, problems: list[CatalogProblem]) -> list[_Row]:
    file = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(CatalogProblem(file, line, "文件不是UTF-8编码，请另存为UTF-8后重试。"))
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    required, optional = COLUMNS[name], OPTIONAL_COLUMNS.get(name, ())
    wanted = f"表头应为“{','.join(required)}”"
    if optional:
        wanted += f"，其后可加可选列（任意几列、任意顺序）：{','.join(optional)}"
    header = next(reader, None)
    if header is None:
        problems.append(CatalogProblem(file, 1, f"缺少{wanted.removeprefix('表头')}。"))
        return []
    header = [cell.strip() for cell in header]
    extra = header[len(required) :]
    if (
        tuple(header[: len(required)]) != required
        or not set(extra) <= set(optional)
        or len(set(extra)) != len(extra)
    ):
        problems.append(CatalogProblem(file, 1, f"{wanted}；实际为“{','.join(header)}”。"))
        return []
    expected = tuple(header)
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(expected):
                problems.append(
                    CatalogProblem(
                        file, reader.line_num, f"应有{len(expected)}列，实际{len(cells)}列。"
                    )
                )
                continue
            values = {column: cell.strip() for column, cell in zip(expected, cells, strict=True)}
            rows.append(_Row(file, reader.line_num, values))
    except csv.Error as exc:
        problems.append(CatalogProblem(file, reader.line_num, f"CSV格式错误：{exc}"))
    return rows


# --- validating ---------------------------------------------------------------------------------

_FIELD_TEXT = {
    "departments": {"code": "部门编码", "name": "部门名称", "area_code": "行政区划代码"},
    "items": {
        "code": "事项编码",
        "name": "事项名称",
        "department_code": "部门编码",
        "item_kind": "事项类型",
        "case_kind": "办件类型",
        "promised_days": "承诺时限",
        "promised_unit": "承诺时限单位",
        "legal_days": "法定时限",
        "legal_unit": "法定时限单位",
    },
    "windows": {
        "window_no": "窗口编号",
        "name": "窗口名称",
        "hall": "所在大厅",
        "department_code": "部门编码",
        "service_promise": "服务承诺",
        "complaint_phone": "投诉电话",
    },
    "staff": {
        "staff_no": "工号",
        "name": "姓名",
        "department_code": "部门编码",
        "window_no": "窗口编号",
        "star_level": "星级",
        "phone": "本人手机号",
    },
    "devices": {
        "device_id": "设备编号",
        "kind": "设备类型",
        "window_no": "窗口编号",
        "name": "设备名称",
        "key": "设备密钥",
    },
    "indicators": {
        "version": "指标版本",
        "level": "满意度",
        "code": "指标编码",
        "text": "指标内容",
        "label": "本县表述",
    },
    "clients": {"name": "接入系统名称", "token": "接入令牌"},
}


@dataclass(frozen=True)
class _Existing:
    """What the database already holds that rows may refer to or collide with."""

    department_codes: frozenset[str]
    window_nos: frozenset[str]
    device_key_hashes: dict[str, str]  # device_id → key_hash
    client_token_hashes: dict[str, str]  # name → token_hash

    @classmethod
    async def fetch(cls) -> _Existing:
        departments = await Department.select(Department.code)
        windows = await Window.select(Window.window_no)
        devices = await Device.select(Device.device_id, Device.key_hash)
        clients = await IntegrationClient.select(
            IntegrationClient.name, IntegrationClient.token_hash
        )
        return cls(
            frozenset(row["code"] for row in departments),
            frozenset(row["window_no"] for row in windows),
            {row["device_id"]: row["key_hash"] for row in devices},
            {row["name"]: row["token_hash"] for row in clients},
        )


def _inverse(mapping: dict[str, str]) -> dict[str, str]:
    return {value: key for key, value in mapping.items()}


# --- row rules: one rule set for the CSV loader and the browser admin ----------------------------
#
# Each rule takes one row as the CSV spells it (strings; references by natural key: department
# code, window number) and returns every problem as (column, Chinese message). The loader adds
# what only a file can get wrong (a key repeated in the file, a secret in a cell); the admin
# (root/admin.py) turns a row it is about to save into this form and refuses what the rule refuses.

RowProblem = tuple[str, str]


@dataclass(frozen=True)
class References:
    """The natural keys a row may refer to: stored ones, plus those declared in the same load."""

    department_codes: Collection[str]
    window_nos: Collection[str]


def _text(
    name: str, values: Mapping[str, str], column: str, max_chars: int, required: bool = True
) -> list[RowProblem]:
    value = values.get(column, "")
    label = _FIELD_TEXT[name][column]
    if required and not value:
        return [(column, f"{label}不能为空。")]
    if len(value) > max_chars:
        return [(column, f"{label}过长：最多{max_chars}字，当前{len(value)}字。")]
    return []


def _passes(column: str, check: Callable[[], object]) -> list[RowProblem]:
    try:
        check()
    except InvalidInput as exc:
        return [(column, exc.zh)]
    return []


def _department_ref(
    values: Mapping[str, str], refs: References, column: str = "department_code"
) -> list[RowProblem]:
    code = values.get(column, "")
    if code and code not in refs.department_codes:
        return [(column, f"部门编码“{code}”既不在本次加载的 departments.csv 中，也不在数据库中。")]
    return []


def _window_ref(
    values: Mapping[str, str], refs: References, column: str = "window_no"
) -> list[RowProblem]:
    window_no = values.get(column, "")
    if window_no and window_no not in refs.window_nos:
        return [(column, f"窗口编号“{window_no}”既不在本次加载的 windows.csv 中，也不在数据库中。")]
    return []


def _days(values: Mapping[str, str], column: str) -> list[RowProblem]:
    value = values[column]
    label = _FIELD_TEXT["items"][column]
    if not (value.isascii() and value.isdigit()):
        return [(column, f"{label}“{value}”应为0至{MAX_LIMIT_DAYS}之间的整数。")]
    return _passes(column, lambda: check_limit_days(int(value), column, label))


def department_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    v = values
    problems = _text("departments", v, "code", 18)
    if not problems:
        problems += _passes("code", lambda: check_department_code(v["code"], "code"))
    problems += _text("departments", v, "name", 100)
    area = _text("departments", v, "area_code", 12)
    problems += area or _passes("area_code", lambda: check_area_code(v["area_code"]))
    return problems


def item_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    v = values
    problems = _text("items", v, "code", 33)
    if not problems:
        problems += _passes("code", lambda: check_item_code(v["code"], "code"))
    problems += _text("items", v, "name", 200)
    department = _text("items", v, "department_code", 18)
    problems += department or _department_ref(v, refs)
    # The optional handling columns: an empty cell is the default, so it passes.
    if v.get("item_kind"):
        problems += _passes("item_kind", lambda: check_item_kind(v["item_kind"]))
    if v.get("case_kind"):
        problems += _passes("case_kind", lambda: check_case_kind(v["case_kind"]))
    for days, unit in (("promised_days", "promised_unit"), ("legal_days", "legal_unit")):
        if v.get(days):
            problems += _days(v, days)
        if v.get(unit):
            problems += _passes(unit, partial(check_time_unit, v[unit], unit))
    return problems


def window_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    v = values
    problems = _text("windows", v, "window_no", 32)
    if not problems:
        problems += _passes(
            "window_no", lambda: check_code(v["window_no"], "window_no", "窗口编号")
        )
    problems += _text("windows", v, "name", 100)
    problems += _text("windows", v, "hall", 100, required=False)
    problems += _department_ref(v, refs)
    if "service_promise" in v:
        problems += _text("windows", v, "service_promise", 500, required=False)
    if v.get("complaint_phone") and not _PHONE_RE.match(v["complaint_phone"]):
        problems.append(
            ("complaint_phone", f"投诉电话“{v['complaint_phone']}”应为3至20位数字或短横线。")
        )
    return problems


def staff_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    v = values
    problems = _text("staff", v, "staff_no", 32)
    if not problems:
        problems += _passes("staff_no", lambda: check_code(v["staff_no"], "staff_no", "工号"))
    problems += _text("staff", v, "name", 50)
    department = _text("staff", v, "department_code", 18)
    problems += department or _department_ref(v, refs)
    problems += _window_ref(v, refs)
    star = v.get("star_level", "")
    if star and star not in {str(n) for n in range(MAX_STAR_LEVEL + 1)}:
        problems.append(
            ("star_level", f"星级“{star}”不正确，应为0至{MAX_STAR_LEVEL}的整数（0为不显示）。")
        )
    # Only compared with applicant phones (reports' integrity flag `staff_own_phone`): a number
    # that is not a mobile one could never match, so it is refused rather than kept silently.
    phone = v.get("phone", "")
    if phone and not _MOBILE_RE.fullmatch(phone):
        problems.append(
            ("phone", f"本人手机号“{phone}”不正确，应为1开头的11位手机号码（留空为未登记）。")
        )
    return problems


def device_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    """A device's own columns; its key is not one of them (the loader checks a key in a cell)."""
    v = values
    problems = _text("devices", v, "device_id", 64)
    if not problems and not _DEVICE_ID_RE.match(v["device_id"]):
        problems.append(("device_id", "设备编号只能由字母、数字、下划线和短横线组成，最长64位。"))
    kind = v.get("kind", "")
    if kind not in set(DeviceKind):
        kinds = "、".join(DeviceKind)
        problems.append(("kind", f"设备类型“{kind}”不正确，可选：{kinds}。"))
    elif kind == DeviceKind.window and not v.get("window_no"):
        problems.append(("window_no", "窗口评价器（window）必须填写所在窗口编号。"))
    problems += _window_ref(v, refs)
    problems += _text("devices", v, "name", 100, required=False)
    return problems


def indicator_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    v = values
    problems = _text("indicators", v, "version", 32)
    if not problems:
        problems += _passes("version", lambda: check_indicator_version(v["version"]))
    if v.get("level", "") not in {str(level) for level in LEVEL_TEXT}:
        problems.append(("level", f"满意度“{v.get('level', '')}”不正确，应为1至5的整数。"))
    code = _text("indicators", v, "code", 32)
    problems += code or _passes("code", lambda: check_code(v["code"], "code", "指标编码"))
    problems += _text("indicators", v, "text", 100)
    if "label" in v:
        problems += _text("indicators", v, "label", 100, required=False)
    return problems


def client_rules(values: Mapping[str, str], refs: References) -> list[RowProblem]:
    """A business system's own columns; its token is not one of them."""
    return _text("clients", values, "name", 100)


ROW_RULES: dict[str, Callable[[Mapping[str, str], References], list[RowProblem]]] = {
    "departments": department_rules,
    "items": item_rules,
    "windows": window_rules,
    "staff": staff_rules,
    "devices": device_rules,
    "indicators": indicator_rules,
    "clients": client_rules,
}

# Each file's key, as (columns, how a repeat is named): checked for repeats within one file.
_FILE_KEYS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, str]], str]]] = {
    "departments": (("code",), lambda v: f"部门编码“{v['code']}”"),
    "items": (("code",), lambda v: f"事项编码“{v['code']}”"),
    "windows": (("window_no",), lambda v: f"窗口编号“{v['window_no']}”"),
    "staff": (("staff_no",), lambda v: f"工号“{v['staff_no']}”"),
    "devices": (("device_id",), lambda v: f"设备编号“{v['device_id']}”"),
    "indicators": (
        ("version", "level", "code"),
        lambda v: f"指标“{v['version']}/{v['level']}/{v['code']}”",
    ),
    "clients": (("name",), lambda v: f"接入系统名称“{v['name']}”"),
}


class _Validator:
    """Checks every row of every file and keeps every problem, so one run reports them all."""

    def __init__(self, rows: dict[str, list[_Row]], existing: _Existing) -> None:
        self.rows = rows
        self.problems: list[CatalogProblem] = []
        # A key declared in this load counts as known even when its own row is faulty: that row is
        # reported already, and repeating it on every referring row would bury the real problem.
        self.references = References(
            existing.department_codes | self._declared("departments", "code"),
            existing.window_nos | self._declared("windows", "window_no"),
        )
        self.device_key_holders = _inverse(existing.device_key_hashes)
        self.client_token_holders = _inverse(existing.client_token_hashes)

    def _declared(self, name: str, column: str) -> frozenset[str]:
        return frozenset(
            row.values[column] for row in self.rows.get(name, []) if row.values[column]
        )

    def problem(self, row: _Row, message: str) -> None:
        self.problems.append(CatalogProblem(row.file, row.line, message))

    def check(self, name: str) -> list[dict[str, str]]:
        """The rows of one file that passed the shared row rule and the file's own checks."""
        key_columns, key_text = _FILE_KEYS[name]
        seen: dict[object, int] = {}
        seen_secrets: dict[object, int] = {}
        valid = []
        for row in self.rows.get(name, []):
            before = len(self.problems)
            problems = ROW_RULES[name](row.values, self.references)
            for _column, message in problems:
                self.problem(row, message)
            faulty = {column for column, _ in problems}
            if not faulty & set(key_columns):
                key = tuple(row.values[column] for column in key_columns)
                if key in seen:
                    self.problem(row, f"{key_text(row.values)}与第{seen[key]}行重复。")
                else:
                    seen[key] = row.line
            if name == "devices":
                self.secret(row, "key", "设备密钥", seen_secrets)
                self._not_held_by_other(
                    row, row.values["key"], row.values["device_id"], self.device_key_holders, "设备"
                )
            elif name == "clients":
                self.secret(row, "token", "接入令牌", seen_secrets)
                self._not_held_by_other(
                    row,
                    row.values["token"],
                    row.values["name"],
                    self.client_token_holders,
                    "接入系统",
                )
            if len(self.problems) == before:
                valid.append(row.values)
        return valid

    def secret(self, row: _Row, column: str, label: str, seen: dict[object, int]) -> None:
        value = row.values[column]
        if not value:
            return
        if not _SECRET_RE.match(value):
            self.problem(row, f"{label}应为16至200个可见ASCII字符（不含空格）；留空则自动生成。")
            return
        # Hashes are unique columns: two holders of one secret could not be told apart.
        key = hash_key(value)
        if key in seen:
            self.problem(row, f"{label}与其他行与第{seen[key]}行重复。")
        else:
            seen[key] = row.line

    def _not_held_by_other(
        self, row: _Row, secret: str, owner: str, holders: dict[str, str], label: str
    ) -> None:
        if not secret:
            return
        holder = holders.get(hash_key(secret))
        if holder is not None and holder != owner:
            self.problem(row, f"该密钥已被数据库中的{label}“{holder}”使用，请换一个。")


# --- writing ------------------------------------------------------------------------------------


async def _upsert(
    table: type[Table],
    key_columns: tuple[str, ...],
    rows: list[dict[str, Any]],
    count: TableCount,
    on_insert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Insert new keys, update changed ones, leave equal ones alone.

    `on_insert` adds values that only a new row takes (never compared, never updated).
    """
    if not rows:
        return
    columns = [table._meta.get_column_by_name(name) for name in rows[0]]
    stored = {
        tuple(row[name] for name in key_columns): row
        for row in await table.select(table._meta.primary_key, *columns)
    }
    new = []
    for values in rows:
        current = stored.get(tuple(values[name] for name in key_columns))
        if current is None:
            new.append(table(**values, **(on_insert(values) if on_insert else {})))
            count.inserted += 1
            continue
        changes: dict[Column | str, Any] = {
            table._meta.get_column_by_name(name): value
            for name, value in values.items()
            if current[name] != value
        }
        if changes:
            await table.update(changes).where(table._meta.primary_key == current["id"])
            count.updated += 1
        else:
            count.unchanged += 1
    if new:
        await table.insert(*new)


async def _ids(table: type[Table], column: str) -> Callable[[str], int | None]:
    """Natural key → id after the upsert; an empty key is a NULL foreign key."""
    ids = {
        row[column]: row["id"]
        for row in await table.select(
            table._meta.primary_key, table._meta.get_column_by_name(column)
        )
    }
    return lambda key: ids[key] if key else None


def _with_secret(
    rows: list[dict[str, Any]],
    owner_column: str,
    secret_column: str,
    hash_column: str,
    stored_hashes: dict[str, str],
    report: LoadReport,
    kind: str,
) -> list[dict[str, Any]]:
    """Swap each secret for its hash. An empty secret keeps a stored one, or generates one."""
    result = []
    for row in rows:
        values = {k: v for k, v in row.items() if k != secret_column}
        owner, secret = row[owner_column], row[secret_column]
        if not secret and owner in stored_hashes:
            # Keeping the stored hash is what makes reloading a file with empty keys a no-op.
            values[hash_column] = stored_hashes[owner]
        else:
            if not secret:
                secret = new_secret_key()
                report.secrets.append(GeneratedSecret(kind, owner, secret))
            values[hash_column] = hash_key(secret)
        result.append(values)
    return result


async def _write(valid: dict[str, list[dict[str, str]]], existing: _Existing) -> LoadReport:
    """Upsert in dependency order; `valid` holds only files that were loaded, all rows checked."""
    report = LoadReport({name: TableCount() for name in COLUMNS if name in valid})

    def count(name: str) -> TableCount:
        return report.counts.get(name, TableCount())  # a file not loaded has no rows to count

    await _upsert(Department, ("code",), valid.get("departments", []), count("departments"))
    department_id = await _ids(Department, "code")
    items = [
        {
            "code": v["code"],
            "name": v["name"],
            "department": department_id(v["department_code"]),
            **_optional("items", v),
        }
        for v in valid.get("items", [])
    ]
    await _upsert(ServiceItem, ("code",), items, count("items"))
    windows = [
        {
            "window_no": v["window_no"],
            "name": v["name"],
            "hall": v["hall"],
            "department": department_id(v["department_code"]),
            **_optional("windows", v),
        }
        for v in valid.get("windows", [])
    ]
    await _upsert(Window, ("window_no",), windows, count("windows"))
    window_id = await _ids(Window, "window_no")
    staff = [
        {
            "staff_no": v["staff_no"],
            "name": v["name"],
            "department": department_id(v["department_code"]),
            "window": window_id(v["window_no"]),
            **_optional("staff", v),
        }
        for v in valid.get("staff", [])
    ]
    await _upsert(Staff, ("staff_no",), staff, count("staff"))
    devices = [
        {
            "device_id": v["device_id"],
            "kind": v["kind"],
            "window": window_id(v["window_no"]),
            "name": v["name"],
            "key": v["key"],
        }
        for v in valid.get("devices", [])
    ]
    devices = _with_secret(
        devices, "device_id", "key", "key_hash", existing.device_key_hashes, report, "devices"
    )
    await _upsert(Device, ("device_id",), devices, count("devices"))
    indicators = [
        {
            "version": v["version"],
            "level": int(v["level"]),
            "code": v["code"],
            "text": v["text"],
            **_optional("indicators", v),
        }
        for v in valid.get("indicators", [])
    ]
    retired = await _retired_indicator_versions()
    await _upsert(
        Indicator,
        ("version", "level", "code"),
        indicators,
        count("indicators"),
        # A row added to a version the province sync retired stays retired: loading a file must
        # not bring an old dictionary back onto the rating page.
        on_insert=lambda values: {"active": values["version"] not in retired},
    )
    clients = _with_secret(
        valid.get("clients", []),
        "name",
        "token",
        "token_hash",
        existing.client_token_hashes,
        report,
        "clients",
    )
    await _upsert(IntegrationClient, ("name",), clients, count("clients"))
    return report


def _optional(name: str, values: dict[str, str]) -> dict[str, str | int]:
    """The optional columns the file has, typed, with an empty cell standing for the default."""
    result: dict[str, str | int] = {}
    for column in OPTIONAL_COLUMNS.get(name, ()):
        if column not in values:
            continue
        default = _DEFAULTS[column]
        cell = values[column]
        result[column] = default if not cell else int(cell) if isinstance(default, int) else cell
    return result


async def _retired_indicator_versions() -> frozenset[str]:
    """Versions whose every row is inactive (see `Intake.replace_indicators`)."""
    versions: dict[str, bool] = {}
    for row in await Indicator.select(Indicator.version, Indicator.active):
        versions[row["version"]] = versions.get(row["version"], False) or bool(row["active"])
    return frozenset(version for version, active in versions.items() if not active)


def _transaction(db: Database | None) -> AbstractAsyncContextManager[Any]:
    """`db.write()` if the caller has the Database, else its equivalent on the tables' engine."""
    if db is not None:
        return db.write()
    engine = Department._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def load_catalog(paths: Sequence[Path], db: Database | None = None) -> LoadReport:
    """Validate every row of every file, then upsert all of it in one transaction, or nothing.

    Reloading the same files changes nothing. An empty device key or client token makes a new
    secret only for a device or client not yet stored; a stored one keeps its secret.
    """
    files, problems = _csv_files([Path(p) for p in paths])
    rows = {name: _read_rows(name, path, problems) for name, path in files.items()}
    # Validation reads inside the write transaction, so the references it checks cannot vanish
    # before the rows that rely on them are written.
    async with _transaction(db):
        existing = await _Existing.fetch()
        validator = _Validator(rows, existing)
        valid = {name: validator.check(name) for name in COLUMNS if name in rows}
        problems.extend(validator.problems)
        if problems:
            raise CatalogError(problems)
        return await _write(valid, existing)


async def create_client(name: str, db: Database | None = None) -> str:
    """Register an integration client and return its new token; only the token's hash is kept."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(
            "bad_client_name",
            "接入系统名称不能为空，最长100字。",
            "client name must be 1-100 characters",
            "name",
        )
    token = new_secret_key()
    async with _transaction(db):
        if await IntegrationClient.exists().where(IntegrationClient.name == name):
            raise Conflict(
                "client_exists",
                f"接入系统“{name}”已存在，未创建新令牌。请换一个名称。",
                f"integration client {name!r} already exists; no token was created",
                "name",
            )
        await IntegrationClient.insert(IntegrationClient(name=name, token_hash=hash_key(token)))
    return token


# --- commands -----------------------------------------------------------------------------------


def _print_report(report: LoadReport) -> None:
    for name, count in report.counts.items():
        print(
            f"  {TABLE_TEXT[name]}：新增 {count.inserted}，更新 {count.updated}，"
            f"未变 {count.unchanged}"
        )
    for secret in report.secrets:
        label = "设备" if secret.kind == "devices" else "接入系统"
        print(
            f"已为{label}“{secret.name}”生成密钥（只显示这一次，请立即妥善保存）：{secret.secret}"
        )


def _print_problems(error: CatalogError) -> None:
    print(f"目录未加载：发现 {len(error.problems)} 个问题，所有文件均未写入。", file=sys.stderr)
    for problem in error.problems:
        print(str(problem), file=sys.stderr)


async def _load_and_print(db: Database, paths: Sequence[Path]) -> LoadReport | None:
    try:
        report = await load_catalog(paths, db)
    except CatalogError as error:
        _print_problems(error)
        return None
    print("目录加载完成：")
    _print_report(report)
    return report


# Commands take a started database from the composition root (`python -m evaluation_service`).


async def load_command(db: Database, files: Sequence[str | Path]) -> int:
    report = await _load_and_print(db, [Path(f) for f in files])
    return 0 if report is not None else 1


async def create_client_command(db: Database, name: str) -> int:
    try:
        token = await create_client(name, db)
    except DomainError as error:
        print(error.zh, file=sys.stderr)
        return 1
    print(f"已创建接入系统“{name.strip()}”。接入令牌（只显示这一次，请立即妥善保存）：")
    print(token)
    print("调用接口时使用请求头：Authorization: Bearer <令牌>")
    return 0


# Staff accounts of the demo, so a newcomer can log in at /login; the password is printed.
DEMO_PASSWORD = "demo-password-please-change"
DEMO_USERS = (
    ("demo-liaison", "演示联络员", "liaison", "113701240043186227"),
    ("demo-supervisor", "演示监督员", "supervisor", None),
    ("demo-deputy", "演示人大代表", "deputy", None),
    ("demo-admin", "演示管理员", "admin", None),
)


async def _create_demo_users(db: Database) -> list[str]:
    created = []
    for username, name, role, department in DEMO_USERS:
        if await StaffUser.exists().where(StaffUser.username == username):
            continue
        async with db.write():
            await create_user(username, name, role, DEMO_PASSWORD, department)
        created.append(username)
    return created


async def demo_command(db: Database) -> int:
    report = await _load_and_print(db, [DEMO_DIR])
    if report is None:
        return 1
    users = await _create_demo_users(db)
    if not report.changed and not users:
        print("演示数据已是最新，本次未做任何修改。")
    else:
        print(f"演示设备密钥与接入令牌见 {DEMO_DIR}（仅供演示，正式使用前请更换）。")
    print(
        "演示账号（/login）：demo-liaison（县行政审批服务局联络员）、demo-supervisor、demo-deputy、"
        "demo-admin（目录管理 /admin、设备密钥 /catalog-keys），"
        f"密码 {DEMO_PASSWORD}"
    )
    return 0
