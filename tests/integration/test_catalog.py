"""Catalog loading against a real, freshly migrated SQLite database."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from piccolo.table import Table

from evaluation_service.evaluations import catalog
from evaluation_service.evaluations.catalog import CatalogError, create_client, load_catalog
from evaluation_service.evaluations.model import uscc_check_char
from evaluation_service.evaluations.tokens import hash_key
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.tables import (
    Department,
    Device,
    Indicator,
    IntegrationClient,
    ServiceItem,
    Staff,
    Window,
)
from evaluation_service.kernel.workdays import WorkCalendar
from evaluation_service.root.bootstrap import build_services, registered_tables
from reports.model import ReportOptions
from reports.service import Reports
from tests.integration.test_report_integrity import AS_OF, OCTOBER, RULES, Month

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "evaluation_service" / "evaluations" / "demo_data"
CATALOG_TABLES: dict[str, type[Table]] = {
    "departments": Department,
    "items": ServiceItem,
    "windows": Window,
    "staff": Staff,
    "devices": Device,
    "indicators": Indicator,
    "clients": IntegrationClient,
}

DEPT_A = "11370124004318622" + uscc_check_char("11370124004318622")
DEPT_B = "11370124004316070" + uscc_check_char("11370124004316070")
ITEM_31 = DEPT_A + "0140001001001"


def _bad_check_char(code: str) -> str:
    return code[:17] + ("1" if code[17] != "1" else "2")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "t.sqlite"
    url = f"sqlite:///{path}"
    env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-m", "evaluation_service", "migrate"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    # Table binding is global: put back whatever engine the session's other fixtures bound.
    previous = {table: table._meta.db for table in registered_tables()}
    database = Database(url)
    database.bind(registered_tables())
    await database.start()
    yield database
    await database.close()
    for table, engine in previous.items():
        table._meta.db = engine


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _data_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return sum(1 for row in csv.reader(file) if row) - 1


async def _row_counts() -> dict[str, int]:
    return {name: await table.count() for name, table in CATALOG_TABLES.items()}


async def _snapshot() -> dict[str, list[dict[str, object]]]:
    return {
        name: await table.select().order_by(table._meta.primary_key)
        for name, table in CATALOG_TABLES.items()
    }


async def test_demo_folder_loads_every_row_of_every_file(db: Database) -> None:
    report = await load_catalog([DEMO], db)

    expected = {name: _data_rows(DEMO / f"{name}.csv") for name in CATALOG_TABLES}
    assert {name: count.inserted for name, count in report.counts.items()} == expected
    assert await _row_counts() == expected
    assert report.secrets == []


async def test_loading_the_same_files_twice_changes_nothing(db: Database) -> None:
    await load_catalog([DEMO], db)
    before = await _snapshot()

    report = await load_catalog([DEMO], db)

    assert not report.changed
    assert {name: (c.inserted, c.updated) for name, c in report.counts.items()} == {
        name: (0, 0) for name in CATALOG_TABLES
    }
    assert sum(c.unchanged for c in report.counts.values()) == sum(
        len(rows) for rows in before.values()
    )
    assert await _snapshot() == before


async def test_changed_row_is_updated_in_place_by_its_natural_key(
    db: Database, tmp_path: Path
) -> None:
    first = _write(
        tmp_path / "a", "departments.csv", f"code,name,area_code\n{DEPT_A},旧名,370124000000\n"
    )
    second = _write(
        tmp_path / "b", "departments.csv", f"code,name,area_code\n{DEPT_A},新名,370124000000\n"
    )
    await load_catalog([first], db)
    [original] = await Department.select()

    report = await load_catalog([second], db)

    assert (report.counts["departments"].inserted, report.counts["departments"].updated) == (0, 1)
    assert await Department.select() == [{**original, "name": "新名"}]


async def test_bad_rows_are_reported_by_line_and_nothing_is_loaded(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "bad"
    _write(
        folder,
        "departments.csv",
        "code,name,area_code\n"
        f"{DEPT_A},平阴县行政审批服务局,370124000000\n"
        f"{_bad_check_char(DEPT_B)},平阴县市场监督管理局,370124000000\n",
    )
    _write(
        folder,
        "items.csv",
        "code,name,department_code\n"
        f"{ITEM_31},个体工商户设立登记,{DEPT_A}\n"
        f"{ITEM_31[:30]},食品经营许可,{DEPT_A}\n"
        f"{DEPT_A}0140009001001,居民身份证换领,{DEPT_B}\n"
        f"{ITEM_31},个体工商户设立登记（重复）,{DEPT_A}\n",
    )
    _write(
        folder, "windows.csv", f"window_no,name,hall,department_code\nA01,综合窗口,一楼,{DEPT_A}\n"
    )
    _write(
        folder,
        "devices.csv",
        "device_id,kind,window_no,name,key\n"
        "PY-EVAL-A01,window,A01,评价器,\n"
        "PY-EVAL-X,window,,没有窗口的评价器,\n",
    )

    with pytest.raises(CatalogError) as caught:
        await load_catalog([folder], db)

    where = {(Path(p.file).name, p.line) for p in caught.value.problems}
    assert where == {
        ("departments.csv", 3),
        ("items.csv", 3),
        ("items.csv", 4),
        ("items.csv", 5),
        ("devices.csv", 3),
    }
    messages = {(Path(p.file).name, p.line): p.message for p in caught.value.problems}
    assert "统一社会信用代码" in messages[("departments.csv", 3)]
    assert "31位" in messages[("items.csv", 3)]
    assert DEPT_B in messages[("items.csv", 4)]
    assert "第2行重复" in messages[("items.csv", 5)]
    assert "窗口编号" in messages[("devices.csv", 3)]
    assert await _row_counts() == dict.fromkeys(CATALOG_TABLES, 0)


async def test_wrong_header_refuses_the_file_and_loads_nothing(
    db: Database, tmp_path: Path
) -> None:
    departments = _write(tmp_path, "departments.csv", f"code,name\n{DEPT_A},平阴县公安局\n")
    clients = _write(tmp_path, "clients.csv", "name,token\nsome-system,\n")

    with pytest.raises(CatalogError) as caught:
        await load_catalog([departments, clients], db)

    assert [(Path(p.file).name, p.line) for p in caught.value.problems] == [("departments.csv", 1)]
    assert await _row_counts() == dict.fromkeys(CATALOG_TABLES, 0)


async def test_byte_order_mark_and_blank_lines_are_tolerated(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "departments.csv"
    path.write_bytes(
        f"\ufeffcode,name,area_code\r\n\r\n{DEPT_A},平阴县公安局,370124000000\r\n".encode()
    )

    report = await load_catalog([path], db)

    assert report.counts["departments"].inserted == 1


async def test_generated_device_key_is_stored_only_as_its_hash(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "windows.csv", "window_no,name,hall,department_code\nA01,综合窗口,一楼,\n")
    _write(tmp_path, "devices.csv", "device_id,kind,window_no,name,key\nPY-EVAL-A01,window,A01,,\n")

    report = await load_catalog([tmp_path], db)

    [secret] = report.secrets
    [device] = await Device.select()
    assert (secret.kind, secret.name) == ("devices", "PY-EVAL-A01")
    assert device["key_hash"] == hash_key(secret.secret)
    assert secret.secret not in {str(value) for value in device.values()}


async def test_reloading_a_device_with_an_empty_key_keeps_its_key(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "devices.csv", "device_id,kind,window_no,name,key\nPY-KIOSK-01,kiosk,,,\n")
    first = await load_catalog([tmp_path], db)

    second = await load_catalog([tmp_path], db)

    assert second.secrets == []
    assert await Device.select(Device.key_hash) == [{"key_hash": hash_key(first.secrets[0].secret)}]


async def test_created_client_token_authenticates_by_its_hash(db: Database) -> None:
    token = await create_client("county-approval-system", db)
    settings = Settings(database_url=db.url)
    intake = build_services(settings, db).intake

    client_id = await intake.authenticate_client(token)

    [stored] = await IntegrationClient.select()
    assert stored["id"] == client_id
    assert stored["name"] == "county-approval-system"
    assert stored["token_hash"] == hash_key(token)
    assert token not in {str(value) for value in stored.values()}


async def test_create_client_command_refuses_an_existing_name(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await catalog.create_client_command(db, "county-approval-system") == 0
    [hash_before] = await IntegrationClient.select(IntegrationClient.token_hash)
    capsys.readouterr()

    exit_code = await catalog.create_client_command(db, "county-approval-system")

    assert exit_code == 1
    assert "已存在" in capsys.readouterr().err
    assert await IntegrationClient.select(IntegrationClient.token_hash) == [hash_before]


async def test_demo_command_run_twice_says_nothing_changed(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await catalog.demo_command(db) == 0
    capsys.readouterr()

    exit_code = await catalog.demo_command(db)

    assert exit_code == 0
    assert "未做任何修改" in capsys.readouterr().out


async def test_load_command_prints_each_problem_as_file_line_message(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        "indicators.csv",
        "version,level,code,text\nSIM-2020.1,5,510,服务态度好\nSIM-2020.1,6,610,太好了\n",
    )

    exit_code = await catalog.load_command(db, [str(path)])

    assert exit_code == 1
    assert f"{path}:3: 满意度“6”不正确" in capsys.readouterr().err


async def test_the_demo_creates_staff_accounts_once(db: Database, tmp_path: Path) -> None:
    from evaluation_service.evaluations.catalog import DEMO_USERS, _create_demo_users
    from evaluation_service.identity.tables import StaffUser

    await load_catalog([DEMO], db)

    first = await _create_demo_users(db)
    again = await _create_demo_users(db)

    assert first == [name for name, *_ in DEMO_USERS]
    assert again == []
    assert await StaffUser.count() == len(DEMO_USERS)


# --- optional columns: what items publish about handling, the county's indicator wording --------

ITEM_HEADER = (
    "code,name,department_code,item_kind,case_kind,promised_days,promised_unit,legal_days,"
    "legal_unit\n"
)
DEPARTMENTS = f"code,name,area_code\n{DEPT_A},平阴县行政审批服务局,370124000000\n"


async def _item(code: str = ITEM_31) -> dict[str, object]:
    row = (
        await ServiceItem.select(
            ServiceItem.item_kind,
            ServiceItem.case_kind,
            ServiceItem.promised_days,
            ServiceItem.promised_unit,
            ServiceItem.legal_days,
            ServiceItem.legal_unit,
        )
        .where(ServiceItem.code == code)
        .first()
    )
    assert row is not None
    return row


async def test_items_handling_columns_are_loaded_typed(db: Database, tmp_path: Path) -> None:
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    _write(
        tmp_path,
        "items.csv",
        ITEM_HEADER + f"{ITEM_31},食品经营许可（新办）,{DEPT_A},01,promised,5,working_day,20,day\n",
    )

    await load_catalog([tmp_path], db)

    assert await _item() == {
        "item_kind": "01",
        "case_kind": "promised",
        "promised_days": 5,
        "promised_unit": "working_day",
        "legal_days": 20,
        "legal_unit": "day",
    }


async def test_empty_handling_cells_mean_the_defaults(db: Database, tmp_path: Path) -> None:
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    _write(tmp_path, "items.csv", ITEM_HEADER + f"{ITEM_31},个体工商户设立登记,{DEPT_A},,,,,,\n")

    await load_catalog([tmp_path], db)

    assert await _item() == {
        "item_kind": "",
        "case_kind": "promised",
        "promised_days": 0,
        "promised_unit": "working_day",
        "legal_days": 0,
        "legal_unit": "working_day",
    }


async def test_an_items_file_without_handling_columns_leaves_them_as_stored(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path / "new", "departments.csv", DEPARTMENTS)
    _write(
        tmp_path / "new",
        "items.csv",
        ITEM_HEADER + f"{ITEM_31},个体工商户设立登记,{DEPT_A},01,immediate,0,working_day,3,\n",
    )
    old = _write(
        tmp_path / "old",
        "items.csv",
        f"code,name,department_code\n{ITEM_31},个体工商户设立登记,{DEPT_A}\n",
    )
    await load_catalog([tmp_path / "new"], db)
    before = await _item()

    report = await load_catalog([old], db)

    assert (report.counts["items"].updated, report.counts["items"].unchanged) == (0, 1)
    assert await _item() == before
    assert (before["item_kind"], before["case_kind"], before["legal_days"]) == (
        "01",
        "immediate",
        3,
    )


async def test_some_handling_columns_in_any_order_are_accepted(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    _write(
        tmp_path,
        "items.csv",
        f"code,name,department_code,case_kind,item_kind\n{ITEM_31},个体工商户设立登记,{DEPT_A},"
        "immediate,01\n",
    )

    await load_catalog([tmp_path], db)

    item = await _item()
    assert (item["item_kind"], item["case_kind"], item["promised_days"]) == ("01", "immediate", 0)


async def test_bad_handling_cells_are_reported_by_file_and_line(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    items = _write(
        tmp_path,
        "items.csv",
        ITEM_HEADER
        + f"{DEPT_A}0140001001001,甲,{DEPT_A},99,promised,5,working_day,20,working_day\n"
        + f"{DEPT_A}0140001002001,乙,{DEPT_A},01,当场办结,5,working_day,20,working_day\n"
        + f"{DEPT_A}0140001003001,丙,{DEPT_A},01,promised,五,working_day,20,working_day\n"
        + f"{DEPT_A}0140001004001,丁,{DEPT_A},01,promised,5,week,4000,working_day\n"
        + f"{DEPT_A}0140001005001,戊,{DEPT_A},01,promised,-1,working_day,20,hour\n",
    )

    with pytest.raises(CatalogError) as caught:
        await load_catalog([tmp_path], db)

    messages: dict[int, list[str]] = {}
    for problem in caught.value.problems:
        assert problem.file == str(items)
        messages.setdefault(problem.line, []).append(problem.message)
    assert sorted(messages) == [2, 3, 4, 5, 6]
    assert "事项类型“99”" in messages[2][0]
    assert "办件类型“当场办结”" in messages[3][0]
    assert "承诺时限“五”" in messages[4][0]
    assert ["时限单位“week”" in m for m in messages[5]] == [True, False]
    assert "法定时限应为0至3650" in messages[5][1]
    assert ["承诺时限“-1”" in messages[6][0], "时限单位“hour”" in messages[6][1]] == [True, True]
    assert await ServiceItem.count() == 0


async def test_an_unknown_extra_column_refuses_the_file(db: Database, tmp_path: Path) -> None:
    items = _write(
        tmp_path, "items.csv", f"code,name,department_code,colour\n{ITEM_31},甲,{DEPT_A},红\n"
    )

    with pytest.raises(CatalogError) as caught:
        await load_catalog([items], db)

    [problem] = caught.value.problems
    assert problem.line == 1
    assert "可选列" in problem.message
    assert "item_kind" in problem.message


async def test_demo_items_carry_the_type_their_code_encodes_and_sane_limits(db: Database) -> None:
    await load_catalog([DEMO], db)

    items = await ServiceItem.select()

    # An implementation code is the department's USCC, then the two-digit national item type.
    assert [(i["code"][18:20], i["item_kind"]) for i in items] == [
        (i["item_kind"], i["item_kind"]) for i in items
    ]
    assert {i["item_kind"] for i in items} <= {"01", "05", "07", "08", "09", "10", "20"}
    assert [i["name"] for i in items if i["case_kind"] == "immediate" and i["promised_days"]] == []
    assert [
        i["name"] for i in items if i["case_kind"] == "promised" and not i["promised_days"]
    ] == []
    assert {i["item_kind"] for i in items if i["name"].startswith("个体工商户")} == {"01"}


async def test_indicator_labels_and_dotted_versions_are_loaded(
    db: Database, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "indicators.csv",
        "version,level,code,text,label\n"
        "SIM-2020.1,5,510,服务态度好,\n"
        "SIM-2020.1,2,104,超承诺时限办结,超承诺时限\n",
    )

    await load_catalog([path], db)

    stored = await Indicator.select(Indicator.version, Indicator.code, Indicator.label)
    assert stored == [
        {"version": "SIM-2020.1", "code": "510", "label": ""},
        {"version": "SIM-2020.1", "code": "104", "label": "超承诺时限"},
    ]


async def test_a_row_added_to_a_retired_indicator_version_stays_retired(
    db: Database, tmp_path: Path
) -> None:
    header = "version,level,code,text\n"
    first = _write(tmp_path / "a", "indicators.csv", header + "OLD-1,2,101,服务态度差\n")
    await load_catalog([first], db)
    await Indicator.update({Indicator.active: False}).where(Indicator.version == "OLD-1")
    second = _write(
        tmp_path / "b",
        "indicators.csv",
        header
        + "OLD-1,2,101,服务态度差\nOLD-1,2,102,未一次性告知导致多次跑腿\nNEW-2,2,101,服务态度差\n",
    )

    await load_catalog([second], db)

    active = await Indicator.select(Indicator.version, Indicator.code, Indicator.active)
    assert sorted((r["version"], r["code"], r["active"]) for r in active) == [
        ("NEW-2", "101", True),
        ("OLD-1", "101", False),
        ("OLD-1", "102", False),
    ]


async def test_demo_indicators_are_the_dictionary_the_province_simulator_serves(
    db: Database,
) -> None:
    from connectors.province_sim.indicators import norm_list

    await load_catalog([DEMO], db)

    served = {
        (entry["version"], int(level), entry["code"], entry["name"])
        for entry in norm_list()
        for level in entry["satisfaction"].split(",")
    }
    rows = await Indicator.select(
        Indicator.version, Indicator.level, Indicator.code, Indicator.text, Indicator.label
    )
    assert {(r["version"], r["level"], r["code"], r["text"]) for r in rows} == served
    assert len(rows) == len(served)
    # The county's old wording is kept beside the national text where it fits.
    labels = {(r["level"], r["code"]): r["label"] for r in rows if r["label"]}
    assert labels[(2, "104")] == "超承诺时限"
    assert labels[(5, "503")] == "材料精简"


async def test_evaluator_columns_of_windows_and_staff_are_loaded_typed(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "evaluator"
    _write(folder, "departments.csv", f"code,name,area_code\n{DEPT_A},审批局,370124000000\n")
    _write(
        folder,
        "windows.csv",
        "window_no,name,hall,department_code,service_promise,complaint_phone\n"
        f"A01,综合窗口,一楼,{DEPT_A},一次告知、限时办结,0531-12345\n",
    )
    _write(
        folder,
        "staff.csv",
        f"staff_no,name,department_code,window_no,star_level\nS1,张三,{DEPT_A},A01,4\n",
    )

    await load_catalog([folder], db)

    window = await Window.select(Window.service_promise, Window.complaint_phone).first()
    assert window == {"service_promise": "一次告知、限时办结", "complaint_phone": "0531-12345"}
    assert await Staff.select(Staff.star_level).first() == {"star_level": 4}


async def test_a_star_level_out_of_range_is_refused_by_the_shared_row_rule(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "stars"
    _write(folder, "departments.csv", f"code,name,area_code\n{DEPT_A},审批局,370124000000\n")
    staff = _write(
        folder,
        "staff.csv",
        f"staff_no,name,department_code,window_no,star_level\nS1,张三,{DEPT_A},,9\n",
    )

    with pytest.raises(CatalogError) as refused:
        await load_catalog([folder], db)

    assert [str(p) for p in refused.value.problems] == [
        f"{staff}:2: 星级“9”不正确，应为0至5的整数（0为不显示）。"
    ]
    assert catalog.staff_rules(
        {"staff_no": "S1", "name": "张三", "department_code": DEPT_A, "star_level": "9"},
        catalog.References({DEPT_A}, ()),
    ) == [("star_level", "星级“9”不正确，应为0至5的整数（0为不显示）。")]


STAFF_WITH_PHONES = (
    "staff_no,name,department_code,window_no,phone\n"
    f"S1,张三,{DEPT_A},,13600000001\n"
    f"S2,李四,{DEPT_A},,\n"
)


async def _phones() -> dict[str, str]:
    rows = await Staff.select(Staff.staff_no, Staff.phone)
    return {row["staff_no"]: row["phone"] for row in rows}


async def test_staff_phones_are_loaded_and_an_empty_cell_registers_none(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    _write(tmp_path, "staff.csv", STAFF_WITH_PHONES)

    await load_catalog([tmp_path], db)

    assert await _phones() == {"S1": "13600000001", "S2": ""}


async def test_a_bad_staff_phone_is_refused_by_row_and_column_and_nothing_is_stored(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    staff = _write(
        tmp_path,
        "staff.csv",
        "staff_no,name,department_code,window_no,star_level,phone\n"
        f"S1,张三,{DEPT_A},,3,13600000001\n"
        f"S2,李四,{DEPT_A},,3,1360000000\n"  # ten digits
        f"S3,王五,{DEPT_A},,3,12600000001\n"  # no mobile number starts 12
        f"S4,赵六,{DEPT_A},,3,0531-87654321\n",  # a landline
    )

    with pytest.raises(CatalogError) as refused:
        await load_catalog([tmp_path], db)

    rule = "应为1开头的11位手机号码（留空为未登记）。"
    assert [str(p) for p in refused.value.problems] == [
        f"{staff}:3: 本人手机号“1360000000”不正确，{rule}",
        f"{staff}:4: 本人手机号“12600000001”不正确，{rule}",
        f"{staff}:5: 本人手机号“0531-87654321”不正确，{rule}",
    ]
    assert await _row_counts() == dict.fromkeys(CATALOG_TABLES, 0)
    # The browser admin runs the same rule.
    assert catalog.staff_rules(
        {"staff_no": "S1", "name": "张三", "department_code": DEPT_A, "phone": "136 0000 0001"},
        catalog.References({DEPT_A}, ()),
    ) == [("phone", f"本人手机号“136 0000 0001”不正确，{rule}")]


async def test_a_staff_file_without_the_phone_column_leaves_stored_phones_alone(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path / "new", "departments.csv", DEPARTMENTS)
    _write(tmp_path / "new", "staff.csv", STAFF_WITH_PHONES)
    old = _write(
        tmp_path / "old",
        "staff.csv",
        f"staff_no,name,department_code,window_no\nS1,张三,{DEPT_A},\nS2,李四,{DEPT_A},\n",
    )
    await load_catalog([tmp_path / "new"], db)

    report = await load_catalog([old], db)

    assert (report.counts["staff"].updated, report.counts["staff"].unchanged) == (0, 2)
    assert await _phones() == {"S1": "13600000001", "S2": ""}


async def test_a_phone_loaded_for_a_staff_member_raises_the_own_phone_flag(
    db: Database, tmp_path: Path
) -> None:
    """The report's flag compares an applicant's phone with the one the loader stored."""
    _write(tmp_path, "departments.csv", DEPARTMENTS)
    _write(
        tmp_path, "items.csv", f"code,name,department_code\n{ITEM_31},个体工商户设立登记,{DEPT_A}\n"
    )
    _write(tmp_path, "staff.csv", STAFF_WITH_PHONES)
    await load_catalog([tmp_path], db)
    month = Month()
    department = await Department.select(Department.id).first()
    item = await ServiceItem.select(ServiceItem.id).first()
    assert department is not None and item is not None
    month.department, month.item = department["id"], item["id"]
    await month.rate("own", "2026-10-14 11:00", staff="S1", phone="13600000001")
    await month.rate("other", "2026-10-14 11:10", staff="S2", phone="13600000001")

    frames = await Reports(db, ReportOptions(flags=RULES), WorkCalendar()).compute(OCTOBER, AS_OF)

    (flag,) = [f for f in frames.flags if f["kind"] == "staff_own_phone"]
    assert flag["subject"] == "工号 S1"
    assert flag["rating_ids"] == month.ids["own"]
