"""The simulator as a plain ASGI app: the province's endpoints, faults on demand, /sim/ controls.

Province endpoints (paths assumed, the evidence keeps them in configuration):
  POST /hcp/addEvaluateService   service records      (encrypted items)
  POST /hcp/addEvaluate          ratings              (encrypted items)
  POST /hcp/rectifyFeedback      rectification results (encrypted items)
  POST /hcp/norm                 national indicators  (params in clear; also Jining's form post)
  POST /hcp/dailyHoldings        what was accepted one China-time day (params in clear)

Every answer is HTTP 200 JSON except injected faults (500, 503). Style "desc" (E3):
  {"C-API-Status": "00", "C-Response-Code": "000000000000", "C-Response-Desc": "success",
   "C-Response-Body": "<json string>"}; a refusal puts its text in C-Response-Desc with
  C-API-Status "01". The two status/code fields are the gateway's convention in other
  provinces' code (not read by Shandong's): extra, harmless to a client that reads only Desc.
Style "code" (E4): {"code": "0", "success": "true", "msg": "success"}; refusal
  {"code": "1", "success": "false", "msg": "<text>"}. Selectable per item endpoint.

Control endpoints (unsigned, the simulator's own): POST /sim/faults, POST /sim/reset,
GET /sim/stats (JSON, or HTML for Accept: text/html), GET /sim/ (HTML),
GET /sim/project?project_no=…
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from connectors.province_sim import model
from connectors.province_sim.model import Kind, Refused
from connectors.province_sim.page import render_page
from connectors.province_sim.service import Province

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

RECORDS_PATH = "/hcp/addEvaluateService"
RATINGS_PATH = "/hcp/addEvaluate"
RESULTS_PATH = "/hcp/rectifyFeedback"
NORM_PATH = "/hcp/norm"
HOLDINGS_PATH = "/hcp/dailyHoldings"
ITEM_PATHS = {RECORDS_PATH: Kind.RECORD, RATINGS_PATH: Kind.RATING, RESULTS_PATH: Kind.RESULT}
REFUSAL_CODE = "999999999999"


class AnswerStyle(StrEnum):
    DESC = "desc"
    CODE = "code"


Styles = dict[Kind, AnswerStyle]


def parse_styles(value: Any, base: Styles | None = None) -> Styles:
    """'code', or {'rating': 'code'}, or 'record=desc,rating=code' -> a style per item kind."""
    styles: Styles = dict(base or {kind: AnswerStyle.DESC for kind in Kind})
    if isinstance(value, str) and "=" in value:
        value = dict(part.split("=", 1) for part in value.split(",") if part.strip())
    if isinstance(value, str):
        return {kind: AnswerStyle(value.strip()) for kind in Kind}
    if isinstance(value, Mapping):
        aliases = {"records": Kind.RECORD, "ratings": Kind.RATING, "results": Kind.RESULT}
        for name, style in value.items():
            kind = aliases.get(str(name).strip()) or Kind(str(name).strip())
            styles[kind] = AnswerStyle(str(style).strip())
        return styles
    raise ValueError(f"answer style {value!r}: give desc, code, or kind=style pairs")


@dataclass
class Faults:
    error_rate: float = 0.0
    latency_ms: int = 0
    down_until: float = 0.0
    refuse_followups: bool = False
    styles: Styles = field(default_factory=lambda: {kind: AnswerStyle.DESC for kind in Kind})

    def public(self, now: float) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "down_seconds": max(0.0, round(self.down_until - now, 3)),
            "refuse_followups": self.refuse_followups,
            "answer_style": {kind.value: style.value for kind, style in self.styles.items()},
        }


def desc_answer(body: Any) -> dict[str, Any]:
    return {
        "C-API-Status": "00",
        "C-Response-Code": "000000000000",
        "C-Response-Desc": model.SUCCESS,
        "C-Response-Body": json.dumps(body, ensure_ascii=False),
    }


def desc_refusal(refusal: Refused) -> dict[str, Any]:
    return {
        "C-API-Status": "01",
        "C-Response-Code": REFUSAL_CODE,
        "C-Response-Desc": refusal.text,
        "C-Response-Body": json.dumps(refusal.detail, ensure_ascii=False),
    }


def code_answer(body: Any) -> dict[str, Any]:
    return {"code": "0", "success": "true", "msg": model.SUCCESS, "data": body}


def code_refusal(refusal: Refused) -> dict[str, Any]:
    return {"code": "1", "success": "false", "msg": refusal.text, "data": refusal.detail}


class SimulatorApp:
    def __init__(self, province: Province, styles: Styles | None = None) -> None:
        self.province = province
        self.base_styles: Styles = dict(styles or {kind: AnswerStyle.DESC for kind in Kind})
        self.faults = Faults(styles=dict(self.base_styles))
        self.started = time.time()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, content_type, payload = await self.handle(
            scope["method"], scope["path"], scope.get("query_string", b""), headers, bytes(body)
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.province.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(
        self, method: str, path: str, query: bytes, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        if path == "/sim" or path.startswith("/sim/"):
            return self.control(method, path, query, headers, body)
        if method != "POST" or path not in {*ITEM_PATHS, NORM_PATH, HOLDINGS_PATH}:
            return _json(404, {"C-Response-Desc": "接口不存在", "path": path})
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if time.time() < self.faults.down_until:
            return _json(503, {"C-Response-Desc": "系统维护中"})
        if self.faults.error_rate and random.random() < self.faults.error_rate:
            return _json(500, {"C-Response-Desc": "系统内部错误"})
        kind = ITEM_PATHS.get(path)
        style = self.faults.styles[kind] if kind else AnswerStyle.DESC
        ok, refused = (
            (code_answer, code_refusal)
            if style is AnswerStyle.CODE
            else (desc_answer, desc_refusal)
        )
        self.province.refuse_followups = self.faults.refuse_followups
        try:
            if kind is not None:
                answer: Any = self.province.receive(kind, headers, body)
            elif path == NORM_PATH:
                answer = self.province.norm(headers, body)
            else:
                answer = self.province.holdings(headers, body)
        except Refused as refusal:
            return _json(200, refused(refusal))
        return _json(200, ok(answer))

    # --- /sim/ ---------------------------------------------------------------------------------

    def control(
        self, method: str, path: str, query: bytes, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        if path == "/sim/faults" and method == "POST":
            try:
                self.faults = self._faults_from(json.loads(body or b"{}"))
            except (ValueError, TypeError, AttributeError) as exc:
                return _json(400, {"ok": False, "error": str(exc)})
            return _json(200, {"ok": True, "faults": self.faults.public(time.time())})
        if path == "/sim/reset" and method == "POST":
            self.province.store.reset()
            self.faults = Faults(styles=dict(self.base_styles))
            return _json(200, {"ok": True})
        if path == "/sim/stats" and method == "GET":
            stats = self.province.stats()
            stats["faults"] = self.faults.public(time.time())
            if "text/html" in headers.get("accept", ""):
                return 200, "text/html; charset=utf-8", render_page(stats).encode()
            return _json(200, stats)
        if path in ("/sim", "/sim/") and method == "GET":
            stats = self.province.stats()
            stats["faults"] = self.faults.public(time.time())
            return 200, "text/html; charset=utf-8", render_page(stats).encode()
        if path == "/sim/project" and method == "GET":
            wanted = parse_qs(query.decode()).get("project_no", [""])[0].strip()
            if not wanted:
                return _json(400, {"error": "project_no is required"})
            return _json(200, {"project_no": wanted, "keys": self.province.project_keys(wanted)})
        return _json(404, {"error": "unknown control endpoint"})

    def _faults_from(self, wanted: Mapping[str, Any]) -> Faults:
        """Each POST sets the whole fault set; what it leaves out returns to normal."""
        error_rate = float(wanted.get("error_rate", 0.0))
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        down = float(wanted.get("down_seconds", 0.0))
        styles = self.base_styles
        if wanted.get("answer_style") is not None:
            styles = parse_styles(wanted["answer_style"], self.base_styles)
        return replace(
            Faults(),
            error_rate=error_rate,
            latency_ms=max(0, int(wanted.get("latency_ms", 0))),
            down_until=time.time() + down if down > 0 else 0.0,
            refuse_followups=bool(wanted.get("refuse_followups", False)),
            styles=dict(styles),
        )


def _json(status: int, payload: Any) -> tuple[int, str, bytes]:
    return (
        status,
        "application/json; charset=utf-8",
        json.dumps(payload, ensure_ascii=False).encode(),
    )
