"""The catalog administered in the browser, over HTTP on both databases: Piccolo Admin at /admin for
admins only, every change audited, the CSV loader's rules refusing a bad row there too; device keys
and business-system tokens issued, rotated and revoked with effect on the next request; staff
photos uploaded and served."""

from __future__ import annotations

import io
import json
import os
import re
import uuid

import httpx
import pytest
from PIL import Image

from evaluation_service.evaluations.administration import photo_url
from evaluation_service.kernel.tables import CatalogChange, Department, IntegrationClient, Staff
from tests.rectification_support import Headers, make_staff
from tests.rectification_support import Staff as StaffHeaders
from tests.support import DEPARTMENT_CODE, auth, transaction_body

Client = httpx.AsyncClient


@pytest.fixture(scope="session")
async def people(api: Client) -> StaffHeaders:
    return await make_staff(api)


def fresh(api: Client) -> Client:
    """The shared client without cookies a previous answer set: sessions travel in headers."""
    api.cookies.clear()
    return api


def piccolo_csrf(headers: Headers) -> Headers:
    """Piccolo Admin's own double-submit CSRF token: its `csrftoken` cookie sent as a header."""
    token = uuid.uuid4().hex
    return {
        **headers,
        "Cookie": f"{headers['Cookie']}; csrftoken={token}",
        "X-CSRFToken": token,
        "Referer": "http://testserver/admin/",
    }


async def department_id(code: str) -> int:
    row = await Department.select(Department.id).where(Department.code == code).first()
    assert row is not None
    return int(row["id"])


def shown_secret(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    match = re.search(r'<code id="secret" class="secret">([^<]+)</code>', page.text)
    assert match, page.text
    return match.group(1)


async def rate_at_window(api: Client, device_key: str) -> httpx.Response:
    project_no = f"ADM-{uuid.uuid4().hex[:16]}"
    registered = await fresh(api).post(
        "/api/v1/transactions", json=transaction_body(project_no), headers=auth()
    )
    assert registered.status_code == 200, registered.text
    return await fresh(api).post(
        "/api/v1/evaluations",
        json={
            "channel": "window",
            "level": 5,
            "assess_number": 1,
            "idempotency_key": uuid.uuid4().hex,
            "project_no": project_no,
            "service_number": 1,
        },
        headers={"X-Device-Key": device_key},
    )


async def new_staff(api: Client, people: StaffHeaders) -> tuple[int, str]:
    """A staff member added through Piccolo Admin: (row id, staff number)."""
    staff_no = f"A{uuid.uuid4().hex[:8]}"
    created = await fresh(api).post(
        "/admin/api/tables/staff/",
        json={
            "staff_no": staff_no,
            "name": "李四",
            "department": await department_id(DEPARTMENT_CODE),
            "star_level": 4,
        },
        headers=piccolo_csrf(people.admin),
    )
    assert created.status_code == 201, created.text
    return int(created.json()[0]["id"]), staff_no


# --- who may enter ------------------------------------------------------------------------------


async def test_admin_opens_piccolo_admin_and_its_api(api: Client, people: StaffHeaders) -> None:
    page = await fresh(api).get("/admin/", headers=people.admin)
    assert page.status_code == 200
    assert '<div id="app"' in page.text or "<div id='app'" in page.text or "app" in page.text
    tables = await fresh(api).get("/admin/api/tables/", headers=people.admin)
    assert tables.status_code == 200, tables.text
    assert {"department", "staff", "device", "integration_client", "staff_user"} <= set(
        tables.json()
    )


async def test_admin_without_the_slash_is_sent_to_the_slash(
    api: Client, people: StaffHeaders
) -> None:
    answer = await fresh(api).get("/admin", headers=people.admin)
    assert answer.status_code == 308
    assert answer.headers["location"] == "/admin/"


@pytest.mark.parametrize("who", ["liaison_a", "supervisor", "deputy"])
async def test_other_roles_are_refused_at_admin(
    api: Client, people: StaffHeaders, who: str
) -> None:
    headers = getattr(people, who)
    for path in ("/admin/", "/admin/api/tables/department/", "/catalog-keys"):
        answer = await fresh(api).get(path, headers={**headers, "Accept": "application/json"})
        assert answer.status_code == 403, (path, answer.status_code, answer.text[:300])
        assert "只向系统管理员开放" in answer.text


async def test_anonymous_is_sent_to_login_or_refused(api: Client) -> None:
    page = await fresh(api).get("/admin/", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    data = await fresh(api).get(
        "/admin/api/tables/department/", headers={"Accept": "application/json"}
    )
    assert data.status_code == 401
    assert data.json()["message"] == "请先登录。"


async def test_piccolo_admins_own_login_is_closed(api: Client, people: StaffHeaders) -> None:
    answer = await fresh(api).post("/admin/public/login/", headers=piccolo_csrf(people.admin))
    assert answer.status_code == 404
    assert "/login" in answer.json()["message"]


async def test_secret_hashes_never_leave_the_admin_api(api: Client, people: StaffHeaders) -> None:
    for table in ("device", "integration_client", "staff_user"):
        rows = await fresh(api).get(f"/admin/api/tables/{table}/", headers=people.admin)
        assert rows.status_code == 200, rows.text
        # The columns come back empty: no SHA-256 hex digest, no argon2 hash.
        assert not re.search(r"[0-9a-f]{64}", rows.text)
        assert "$argon2" not in rows.text


# --- audited changes and the shared rules -------------------------------------------------------


async def test_a_change_is_audited_with_who_and_before_and_after(
    api: Client, people: StaffHeaders
) -> None:
    row_id, _ = await new_staff(api, people)
    changed = await fresh(api).patch(
        f"/admin/api/tables/staff/{row_id}/",
        json={"name": "李四四"},
        headers=piccolo_csrf(people.admin),
    )
    assert changed.status_code == 200, changed.text
    audit = (
        await CatalogChange.select()
        .where(CatalogChange.table_name == "staff", CatalogChange.row_id == row_id)
        .order_by(CatalogChange.id)
    )
    assert [a["action"] for a in audit] == ["insert", "update"]
    assert {a["username"] for a in audit} == {people.names["admin"]}
    assert audit[0]["before"] == ""
    assert json.loads(audit[1]["before"])["name"] == "李四"
    assert json.loads(audit[1]["after"])["name"] == "李四四"


async def test_the_csv_rule_refuses_a_bad_row_in_the_admin_and_nothing_is_stored(
    api: Client, people: StaffHeaders
) -> None:
    before = await CatalogChange.count()
    bad_code = await fresh(api).post(
        "/admin/api/tables/department/",
        json={"code": "123", "name": "坏部门", "area_code": "370124000000"},
        headers=piccolo_csrf(people.admin),
    )
    assert bad_code.status_code == 422
    assert "统一社会信用代码" in bad_code.json()["message"]
    assert not await Department.exists().where(Department.code == "123")
    row_id, _ = await new_staff(api, people)
    before = await CatalogChange.count()
    bad_staff_no = await fresh(api).patch(
        f"/admin/api/tables/staff/{row_id}/",
        json={"staff_no": "含 空格"},
        headers=piccolo_csrf(people.admin),
    )
    assert bad_staff_no.status_code == 422
    assert "工号" in bad_staff_no.json()["message"]
    assert await CatalogChange.count() == before


async def test_a_staff_phone_is_checked_by_the_csv_rule_in_the_admin(
    api: Client, people: StaffHeaders
) -> None:
    row_id, staff_no = await new_staff(api, people)
    before = await CatalogChange.count()
    bad = await fresh(api).patch(
        f"/admin/api/tables/staff/{row_id}/",
        json={"phone": "0531-8765"},
        headers=piccolo_csrf(people.admin),
    )
    good = await fresh(api).patch(
        f"/admin/api/tables/staff/{row_id}/",
        json={"phone": "13600000001"},
        headers=piccolo_csrf(people.admin),
    )

    assert bad.status_code == 422
    assert "本人手机号“0531-8765”不正确" in bad.json()["message"]
    assert good.status_code == 200, good.text
    assert await Staff.select(Staff.phone).where(Staff.staff_no == staff_no).first() == {
        "phone": "13600000001"
    }
    assert await CatalogChange.count() == before + 1


async def test_a_repeated_staff_number_is_refused_in_chinese(
    api: Client, people: StaffHeaders
) -> None:
    _, staff_no = await new_staff(api, people)
    again = await fresh(api).post(
        "/admin/api/tables/staff/",
        json={
            "staff_no": staff_no,
            "name": "王五",
            "department": await department_id(DEPARTMENT_CODE),
        },
        headers=piccolo_csrf(people.admin),
    )
    assert again.status_code == 422
    assert again.json()["message"] == f"工号“{staff_no}”已存在，未保存。"


async def test_a_deletion_is_audited_and_a_refused_one_leaves_no_trace(
    api: Client, people: StaffHeaders
) -> None:
    row_id, staff_no = await new_staff(api, people)
    deleted = await fresh(api).delete(
        f"/admin/api/tables/staff/{row_id}/", headers=piccolo_csrf(people.admin)
    )
    assert deleted.status_code == 204, deleted.text
    audit = await CatalogChange.select().where(
        CatalogChange.table_name == "staff",
        CatalogChange.row_id == row_id,
        CatalogChange.action == "delete",
    )
    assert len(audit) == 1
    assert json.loads(audit[0]["before"])["staff_no"] == staff_no
    assert audit[0]["after"] == ""
    before = await CatalogChange.count()
    in_use = await fresh(api).delete(
        f"/admin/api/tables/department/{await department_id(DEPARTMENT_CODE)}/",
        headers=piccolo_csrf(people.admin),
    )
    assert in_use.status_code == 422
    assert "未保存" in in_use.json()["message"]
    assert await CatalogChange.count() == before


async def test_devices_and_clients_are_not_created_in_piccolo_admin(
    api: Client, people: StaffHeaders
) -> None:
    answer = await fresh(api).post(
        "/admin/api/tables/device/",
        json={"device_id": "NEW-1", "kind": "kiosk", "key_hash": "x" * 64},
        headers=piccolo_csrf(people.admin),
    )
    assert answer.status_code == 422
    assert "/catalog-keys" in answer.json()["message"]


async def test_a_write_without_piccolo_admins_csrf_token_is_refused_in_chinese(
    api: Client, people: StaffHeaders
) -> None:
    row_id, _ = await new_staff(api, people)
    answer = await fresh(api).patch(
        f"/admin/api/tables/staff/{row_id}/", json={"name": "王五"}, headers=people.admin
    )
    assert answer.status_code == 403
    assert answer.json()["message"].startswith("页面已过期或来自其他网站")


async def test_bulk_replace_and_bulk_delete_are_refused(api: Client, people: StaffHeaders) -> None:
    bulk = await fresh(api).delete("/admin/api/tables/staff/", headers=piccolo_csrf(people.admin))
    assert bulk.status_code == 405
    assert "逐条" in bulk.json()["message"]


# --- device keys and client tokens --------------------------------------------------------------


async def issue_device(api: Client, people: StaffHeaders, device_id: str) -> str:
    page = await fresh(api).post(
        "/catalog-keys/devices",
        data={"device_id": device_id, "kind": "window", "window_no": "W01", "name": "测试评价器"},
        headers=people.admin,
    )
    return shown_secret(page)


async def test_revoked_device_key_is_refused_on_the_next_request(
    api: Client, people: StaffHeaders
) -> None:
    device_id = f"EV-{uuid.uuid4().hex[:8]}"
    key = await issue_device(api, people, device_id)
    assert (await rate_at_window(api, key)).status_code == 201
    revoked = await fresh(api).post(
        f"/catalog-keys/devices/{device_id}/revoke", headers=people.admin
    )
    assert revoked.status_code == 303, (revoked.request.headers.get("cookie"), revoked.text[-300:])
    refused = await rate_at_window(api, key)
    assert refused.status_code == 401
    assert refused.json()["error"] == "bad_device_key"
    actions = await CatalogChange.select(CatalogChange.action).where(
        CatalogChange.table_name == "device"
    )
    assert {"issue_key", "revoke_key"} <= {a["action"] for a in actions}


async def test_rotated_device_key_works_and_the_old_one_is_refused(
    api: Client, people: StaffHeaders
) -> None:
    device_id = f"EV-{uuid.uuid4().hex[:8]}"
    old = await issue_device(api, people, device_id)
    new = shown_secret(
        await fresh(api).post(f"/catalog-keys/devices/{device_id}/rotate", headers=people.admin)
    )
    assert new != old
    assert (await rate_at_window(api, new)).status_code == 201
    assert (await rate_at_window(api, old)).status_code == 401


async def test_a_device_row_the_csv_would_refuse_is_refused_on_the_key_page(
    api: Client, people: StaffHeaders
) -> None:
    page = await fresh(api).post(
        "/catalog-keys/devices",
        data={"device_id": "bad id!", "kind": "window", "window_no": "", "name": ""},
        headers=people.admin,
    )
    assert page.status_code == 422
    assert "设备编号只能由字母" in page.text
    assert "必须填写所在窗口编号" in page.text


async def test_revoked_client_token_is_refused_at_once_despite_the_cache(
    api: Client, people: StaffHeaders
) -> None:
    name = f"sys-{uuid.uuid4().hex[:8]}"
    token = shown_secret(
        await fresh(api).post("/catalog-keys/clients", data={"name": name}, headers=people.admin)
    )
    body = transaction_body(f"CL-{uuid.uuid4().hex[:16]}")
    assert (
        await fresh(api).post("/api/v1/transactions", json=body, headers=auth(token))
    ).status_code == 200
    revoked = await fresh(api).post(f"/catalog-keys/clients/{name}/revoke", headers=people.admin)
    assert revoked.status_code == 303, (revoked.request.headers.get("cookie"), revoked.text[-300:])
    again = await fresh(api).post("/api/v1/transactions", json=body, headers=auth(token))
    assert again.status_code == 401


async def test_rotated_client_token_works_and_the_old_one_is_refused(
    api: Client, people: StaffHeaders
) -> None:
    name = f"sys-{uuid.uuid4().hex[:8]}"
    old = shown_secret(
        await fresh(api).post("/catalog-keys/clients", data={"name": name}, headers=people.admin)
    )
    body = transaction_body(f"CL-{uuid.uuid4().hex[:16]}")
    first = await fresh(api).post("/api/v1/transactions", json=body, headers=auth(old))
    assert first.status_code == 200
    new = shown_secret(
        await fresh(api).post(f"/catalog-keys/clients/{name}/rotate", headers=people.admin)
    )
    assert (
        await fresh(api).post("/api/v1/transactions", json=body, headers=auth(new))
    ).status_code == 200
    assert (
        await fresh(api).post("/api/v1/transactions", json=body, headers=auth(old))
    ).status_code == 401


async def test_a_client_deactivated_in_piccolo_admin_is_refused_at_once(
    api: Client, people: StaffHeaders
) -> None:
    name = f"sys-{uuid.uuid4().hex[:8]}"
    token = shown_secret(
        await fresh(api).post("/catalog-keys/clients", data={"name": name}, headers=people.admin)
    )
    body = transaction_body(f"CL-{uuid.uuid4().hex[:16]}")
    first = await fresh(api).post("/api/v1/transactions", json=body, headers=auth(token))
    assert first.status_code == 200  # and now cached in this process
    row = (
        await IntegrationClient.select(IntegrationClient.id)
        .where(IntegrationClient.name == name)
        .first()
    )
    assert row is not None
    off = await fresh(api).patch(
        f"/admin/api/tables/integration_client/{row['id']}/",
        json={"active": False},
        headers=piccolo_csrf(people.admin),
    )
    assert off.status_code == 200, off.text
    again = await fresh(api).post("/api/v1/transactions", json=body, headers=auth(token))
    assert again.status_code == 401


async def test_key_pages_need_the_csrf_token(api: Client, people: StaffHeaders) -> None:
    headers = {k: v for k, v in people.admin.items() if k != "X-CSRF-Token"}
    answer = await fresh(api).post(
        "/catalog-keys/clients", data={"name": "x"}, headers={**headers, "Accept": "text/html"}
    )
    assert answer.status_code == 403


# --- staff photos -------------------------------------------------------------------------------


def jpeg(width: int = 600, height: int = 800) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


async def test_uploaded_photo_is_served_resized_without_login(
    api: Client, people: StaffHeaders
) -> None:
    _, staff_no = await new_staff(api, people)
    uploaded = await fresh(api).post(
        f"/catalog-keys/staff/{staff_no}/photo",
        files={"photo": ("me.jpg", jpeg(), "image/jpeg")},
        headers=people.admin,
    )
    assert uploaded.status_code == 303, uploaded.text
    served = await fresh(api).get(f"/device/staff-photo/{staff_no}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(served.content)) as image:
        assert max(image.size) == 256
    again = await fresh(api).get(
        f"/device/staff-photo/{staff_no}", headers={"If-None-Match": served.headers["etag"]}
    )
    assert again.status_code == 304
    row = await Staff.select(Staff.photo_sha256).where(Staff.staff_no == staff_no).first()
    assert row is not None
    url = photo_url(staff_no, row["photo_sha256"])
    assert url == f"/device/staff-photo/{staff_no}?v={row['photo_sha256'][:12]}"
    assert (await fresh(api).get(url)).content == served.content


async def test_a_file_that_is_not_a_jpg_or_png_is_refused(
    api: Client, people: StaffHeaders
) -> None:
    _, staff_no = await new_staff(api, people)
    answer = await fresh(api).post(
        f"/catalog-keys/staff/{staff_no}/photo",
        files={"photo": ("x.jpg", b"GIF89a not really", "image/jpeg")},
        headers=people.admin,
    )
    assert answer.status_code == 422
    assert "无法识别该照片" in answer.text


async def test_photo_of_unknown_staff_is_404_and_nothing_is_listed(api: Client) -> None:
    missing = await fresh(api).get("/device/staff-photo/NOBODY")
    assert missing.status_code == 404
    assert missing.json()["message"] == "该工作人员没有照片。"
    listing = await fresh(api).get("/device/staff-photo/")
    assert listing.status_code in (404, 405)


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 × side² bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


async def test_a_photo_above_the_app_body_limit_but_within_the_setting_is_taken(
    api: Client, people: StaffHeaders
) -> None:
    _, staff_no = await new_staff(api, people)
    data = noisy_png(700)  # about 1.5 MB: more than the app's 1 MB body limit
    assert 1_000_000 < len(data) < 2_000_000
    answer = await fresh(api).post(
        f"/catalog-keys/staff/{staff_no}/photo",
        files={"photo": ("big.png", data, "image/png")},
        headers=people.admin,
    )
    assert answer.status_code == 303, answer.text[-300:]


async def test_a_photo_above_the_setting_is_refused_in_chinese(
    api: Client, people: StaffHeaders
) -> None:
    _, staff_no = await new_staff(api, people)
    answer = await fresh(api).post(
        f"/catalog-keys/staff/{staff_no}/photo",
        files={"photo": ("huge.png", noisy_png(900), "image/png")},
        headers=people.admin,
    )
    assert answer.status_code == 422
    assert "照片过大" in answer.text
