"""Constants and request builders shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CLIENT_TOKEN = "test-client-token-0001"
OTHER_CLIENT_TOKEN = "test-client-token-0002"
WINDOW_KEY = "test-window-device-key-01"
OTHER_WINDOW_KEY = "test-window-device-key-02"
KIOSK_KEY = "test-kiosk-device-key-01"
DEPARTMENT_CODE = "11370124MB00000013"
# An implementation code as the province's catalogue spells it: the department's USCC, the national
# item type (01 行政许可), then the item's own numbers. Never eight zeros in a row: the province
# treats such a code as a self-built item and refuses it (DESIGN.md §8).
ITEM_CODE = DEPARTMENT_CODE + "0140001001001"


def transaction_body(project_no: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_no": project_no,
        "item_code": ITEM_CODE,
        "department_code": DEPARTMENT_CODE,
        "area_code": "370124000000",
        "applicant": {
            "type": 1,
            "name": "张三",
            "cert_type": "111",
            "cert_no": "11010519491231002X",
            "phone": "13800001234",
        },
        "accepted_at": "2026-11-20T09:00:00+08:00",
        "finished_at": datetime.now(UTC).isoformat(),
        "records": [
            {
                "service_number": 1,
                "name": "受理",
                "occurred_at": datetime.now(UTC).isoformat(),
                "window_no": "W01",
                "staff_no": "S001",
            }
        ],
    }
    body.update(overrides)
    return body


def auth(token: str = CLIENT_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
