"""The HTTP client of the province: one long-lived httpx.AsyncClient per process, explicit timeouts.

Every transport failure, timeout, 5xx or envelope refusal becomes ProvinceUnavailable; per-item
answers come back as ItemResult in our vocabulary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from connectors.model import (
    DayHoldings,
    ItemResult,
    ProvinceUnavailable,
    RatingToSend,
    RecordToSend,
    TicketResultToSend,
)
from connectors.province import protocol
from connectors.province.signing import Signer


class ProvinceClient:
    def __init__(
        self,
        base_url: str,
        *,
        tenancy_id: str,
        signer: Signer,
        zone: ZoneInfo,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.signer = signer
        self.zone = zone
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={protocol.TENANCY_HEADER: tenancy_id},
            timeout=httpx.Timeout(timeout_seconds, connect=min(3.0, timeout_seconds)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        time = protocol.envelope_time(datetime.now(UTC), self.zone)
        body = protocol.envelope(params, time, self.signer.app_mark, self.signer.sign(time))
        try:
            response = await self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise ProvinceUnavailable(f"省级平台响应超时（{exc.__class__.__name__}）") from exc
        except httpx.HTTPError as exc:
            raise ProvinceUnavailable(
                f"无法连接省级平台（{exc.__class__.__name__}: {exc}）"
            ) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ProvinceUnavailable(f"省级平台暂时不可用（HTTP {response.status_code}）")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProvinceUnavailable(
                f"省级平台应答不是 JSON（HTTP {response.status_code}）"
            ) from exc
        if not isinstance(answer, dict):
            raise ProvinceUnavailable("省级平台应答格式不正确")
        return answer

    async def _push(self, path: str, items: list[dict[str, Any]]) -> list[ItemResult]:
        if not items:
            return []
        answer = await self._call(path, protocol.list_params(items))
        try:
            return protocol.item_results(answer, len(items))
        except ValueError as exc:
            raise ProvinceUnavailable(str(exc)) from exc

    async def push_records(self, records: list[RecordToSend]) -> list[ItemResult]:
        return await self._push(
            protocol.RECORDS_PATH, [protocol.record_params(r, self.zone) for r in records]
        )

    async def push_ratings(self, ratings: list[RatingToSend]) -> list[ItemResult]:
        return await self._push(
            protocol.RATINGS_PATH, [protocol.rating_params(r, self.zone) for r in ratings]
        )

    async def push_ticket_results(self, results: list[TicketResultToSend]) -> list[ItemResult]:
        return await self._push(
            protocol.TICKET_RESULTS_PATH,
            [protocol.ticket_result_params(r, self.zone) for r in results],
        )

    async def holdings(self, day: date) -> DayHoldings:
        answer = await self._call(protocol.DAY_QUERY_PATH, {"day": day.isoformat()})
        try:
            return protocol.day_holdings(answer)
        except ValueError as exc:
            raise ProvinceUnavailable(str(exc)) from exc


def province_key(project_no: str) -> str:
    """Our project number as the province spells it (for comparing with its holdings)."""
    return protocol.project_no(project_no)
