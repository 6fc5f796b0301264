"""The simulator as a plain ASGI app: signed envelopes in, per-item answers out, faults on demand.

It stores what it accepts (in memory, for the life of the process) and counts, per key, every
receipt
and the one acceptance, so tests can prove "exactly once as counted by the province".
Control endpoints under /sim/ are unsigned and exist only here.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from connectors.province import protocol
from connectors.province.signing import Verifier

_WIRE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
CLOCK_TOLERANCE_SECONDS = 300


@dataclass
class Faults:
    error_rate: float = 0.0
    latency_ms: int = 0
    down_until: float = 0.0


@dataclass
class Holdings:
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ratings: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    ticket_results: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    receipts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    accepted: Counter[tuple[str, ...]] = field(default_factory=Counter)


def _missing(item: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not str(item.get(name) or "").strip()]


RECORD_REQUIRED = (
    "projectNo",
    "serviceNumber",
    "serviceTime",
    "taskCode",
    "deptCode",
    "areaCode",
    "userProp",
    "proStatus",
    "acceptDate",
    "dataSource",
)
RATING_REQUIRED = ("projectNo", "serviceNumber", "assessNumber", "pf", "satisfaction", "assessTime")
TICKET_REQUIRED = ("projectNo", "serviceNumber", "assessNumber", "rectifyResult", "rectifyTime")


class Simulator:
    def __init__(
        self,
        *,
        public_key: str,
        app_mark: str,
        app_word: str,
        tenancy_id: str,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.verifier = Verifier(public_key, app_word)
        self.app_mark = app_mark
        self.tenancy_id = tenancy_id
        self.zone = ZoneInfo(timezone)
        self.faults = Faults()
        self.held = Holdings()

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = await self.handle(scope, body)
        payload = json.dumps(answer, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def handle(self, scope: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]]:
        path = scope["path"]
        if path.startswith("/sim/"):
            return self.control(scope, path, body)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if time.time() < self.faults.down_until:
            return 503, {"code": "503", "msg": "系统维护中"}
        if self.faults.error_rate and random.random() < self.faults.error_rate:
            return 500, {"code": "500", "msg": "系统内部错误"}
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        if headers.get(protocol.TENANCY_HEADER.lower()) != self.tenancy_id:
            return 200, {"code": "403", "msg": "租户标识不正确"}
        try:
            envelope = json.loads(body)
            txn = envelope["txnBodyCom"]
            params = txn["params"]
            sent_at, app_mark, sign = str(txn["time"]), str(txn["appMark"]), str(txn["sign"])
        except (ValueError, KeyError, TypeError):
            return 200, {"code": "400", "msg": "报文格式不正确"}
        if app_mark != self.app_mark or not self.verifier.verify(sign, sent_at, app_mark):
            return 200, {"code": "401", "msg": "签名验证失败"}
        try:
            sent = datetime.strptime(sent_at, "%Y%m%d%H%M%S").replace(tzinfo=self.zone)
        except ValueError:
            return 200, {"code": "400", "msg": "时间戳格式不正确"}
        if abs(sent.timestamp() - time.time()) > CLOCK_TOLERANCE_SECONDS:
            return 200, {"code": "401", "msg": "时间戳超出允许范围"}
        handlers = {
            protocol.RECORDS_PATH: self._record,
            protocol.RATINGS_PATH: self._rating,
            protocol.TICKET_RESULTS_PATH: self._ticket_result,
        }
        if path == protocol.DAY_QUERY_PATH:
            return 200, self._day(str(params.get("day", "")))
        handler = handlers.get(path)
        if handler is None:
            return 404, {"code": "404", "msg": "接口不存在"}
        items = params.get("dataList") if isinstance(params, dict) else None
        if not isinstance(items, list) or not items:
            return 200, {"code": "400", "msg": "dataList 不能为空"}
        results = [
            handler(item) if isinstance(item, dict) else _bad("数据项格式不正确") for item in items
        ]
        return 200, {"code": protocol.ENVELOPE_OK, "msg": "成功", "data": {"results": results}}

    # --- the province's checks -----------------------------------------------------------------

    def _record(self, item: dict[str, Any]) -> dict[str, str]:
        missing = _missing(item, RECORD_REQUIRED)
        if missing:
            return _bad(f"服务记录缺少必填项：{'、'.join(missing)}")
        key = (str(item["projectNo"]), str(item["serviceNumber"]))
        self.held.receipts[("record", *key)] += 1
        if not key[0].startswith(protocol.PROVINCE_PREFIX):
            return _bad("办件编号须以省级前缀37开头")
        task, handle = str(item["taskCode"]), str(item.get("taskHandleItem") or "")
        if len(task) != protocol.TASK_CODE_LENGTH or (
            handle and (len(handle) != protocol.HANDLE_ITEM_LENGTH or not handle.startswith(task))
        ):
            return _bad("事项编码不正确：taskCode应为31位，taskHandleItem应为33位")
        area = str(item["areaCode"])
        if len(area) != 12 or not area.isdigit():
            return _bad("行政区划代码应为12位数字")
        if len(str(item["deptCode"])) != 18:
            return _bad("部门编码应为18位统一社会信用代码")
        for name in ("serviceTime", "acceptDate"):
            if not _WIRE_TIME.match(str(item[name])):
                return _bad(f"{name} 时间格式应为 yyyy-MM-dd HH:mm:ss")
        known = self.held.records.get(key)
        if known == item:
            return _dup()
        self.held.records[key] = item
        if known is None:
            self.held.accepted[("record", *key)] += 1
        return _ok()

    def _rating(self, item: dict[str, Any]) -> dict[str, str]:
        missing = _missing(item, RATING_REQUIRED)
        if missing:
            return _bad(f"评价数据缺少必填项：{'、'.join(missing)}")
        key = (str(item["projectNo"]), str(item["serviceNumber"]), str(item["assessNumber"]))
        self.held.receipts[("rating", *key)] += 1
        if key[2] not in ("1", "2"):
            return _bad("评价次数assessNumber只能为1或2")
        if str(item["pf"]) not in ("1", "2", "3", "4", "5", "7"):
            return _bad("评价渠道pf不正确")
        if str(item["satisfaction"]) not in ("1", "2", "3", "4", "5"):
            return _bad("满意度satisfaction应为1至5")
        if not _WIRE_TIME.match(str(item["assessTime"])):
            return _bad("assessTime 时间格式应为 yyyy-MM-dd HH:mm:ss")
        if int(item["satisfaction"]) < 3 and not (
            str(item.get("evalDetail") or "").strip()
            or str(item.get("writingEvaluation") or "").strip()
        ):
            return _bad("差评须填写评价指标(evalDetail)或文字评价(writingEvaluation)")
        if key[:2] not in self.held.records:
            return {"code": protocol.ITEM_NO_RECORD, "msg": "服务记录不存在，请先推送服务记录"}
        if key in self.held.ratings:
            return _dup()
        self.held.ratings[key] = item
        self.held.accepted[("rating", *key)] += 1
        return _ok()

    def _ticket_result(self, item: dict[str, Any]) -> dict[str, str]:
        missing = _missing(item, TICKET_REQUIRED)
        if missing:
            return _bad(f"整改反馈缺少必填项：{'、'.join(missing)}")
        key = (str(item["projectNo"]), str(item["serviceNumber"]), str(item["assessNumber"]))
        self.held.receipts[("ticket_result", *key)] += 1
        if key not in self.held.ratings:
            return _bad("对应的评价不存在")
        if key in self.held.ticket_results:
            return _dup()
        self.held.ticket_results[key] = item
        self.held.accepted[("ticket_result", *key)] += 1
        return _ok()

    def _day(self, day: str) -> dict[str, Any]:
        records = [
            {"projectNo": k[0], "serviceNumber": k[1]}
            for k, v in self.held.records.items()
            if str(v["serviceTime"]).startswith(day)
        ]
        ratings = [
            {"projectNo": k[0], "serviceNumber": k[1], "assessNumber": k[2]}
            for k, v in self.held.ratings.items()
            if str(v["assessTime"]).startswith(day)
        ]
        return {
            "code": protocol.ENVELOPE_OK,
            "msg": "成功",
            "data": {"day": day, "serviceRecords": records, "evaluations": ratings},
        }

    # --- control (simulator only) --------------------------------------------------------------

    def control(self, scope: dict[str, Any], path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path == "/sim/faults" and scope["method"] == "POST":
            wanted = json.loads(body or b"{}")
            self.faults.error_rate = float(wanted.get("error_rate", 0.0))
            self.faults.latency_ms = int(wanted.get("latency_ms", 0))
            down = float(wanted.get("down_seconds", 0.0))
            self.faults.down_until = time.time() + down if down else 0.0
            return 200, {"ok": True}
        if path == "/sim/reset" and scope["method"] == "POST":
            self.held = Holdings()
            self.faults = Faults()
            return 200, {"ok": True}
        if path == "/sim/stats":
            out: dict[str, Any] = {}
            for kind in ("record", "rating", "ticket_result"):
                out[kind] = {
                    "distinct": sum(1 for k in self.held.accepted if k[0] == kind),
                    "receipts": sum(n for k, n in self.held.receipts.items() if k[0] == kind),
                }
            return 200, out
        if path == "/sim/project":
            query = parse_qs(scope.get("query_string", b"").decode())
            wanted_no = protocol.project_no(query.get("project_no", [""])[0])
            keys = [
                {
                    "kind": k[0],
                    "key": list(k[1:]),
                    "receipts": n,
                    "accepted": self.held.accepted.get(k, 0),
                }
                for k, n in self.held.receipts.items()
                if k[1] == wanted_no
            ]
            return 200, {"project_no": wanted_no, "keys": keys}
        return 404, {"error": "unknown control endpoint"}


def _ok() -> dict[str, str]:
    return {"code": protocol.ITEM_OK, "msg": "接收成功"}


def _dup() -> dict[str, str]:
    return {"code": protocol.ITEM_DUPLICATE, "msg": "数据已接收，请勿重复推送"}


def _bad(message: str) -> dict[str, str]:
    return {"code": protocol.ITEM_INVALID, "msg": message}
