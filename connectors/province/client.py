"""The HTTP client of the province: one long-lived httpx.AsyncClient per process, explicit timeouts,
items sealed with the province's SM2 public key, answers read into our vocabulary.

A call either fails whole (raises a `ProvinceCallFailed`, see `connectors/model.py`) or gives one
ItemResult per item, in the order and number of the input. One bad item makes the province refuse
the whole call, so a refused call of several items is split in halves and each half sent again:
the good items go through and only the offending one keeps the province's text. For one bad item
among n that is between log2(n)+1 and 2·log2(n)+1 calls, not n: a half that went through in one
call tells that the refusal came from the other half, which is then split without being resent.
If a call fails whole while a batch is being split, the halves already answered keep their results
and the rest come back `unsent`: resending a delivered follow-up rating would be answered as a
repeat and look refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from connectors.model import (
    DayHoldings,
    Indicator,
    ItemResult,
    Outcome,
    ProvinceCallFailed,
    ProvinceEndpointOff,
    ProvinceRefusedCall,
    ProvinceUnavailable,
    RatingToSend,
    RecordToSend,
    TicketResultToSend,
)
from connectors.province import wire
from connectors.province.cipher import Sm2Cipher
from connectors.province.config import ProvinceConfig


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Item:
    """One item on its way: its wire fields and the assess number that reads its refusal."""

    fields: dict[str, str]
    assess_number: int | None


@dataclass
class _Split:
    """The state of one push being split: whether halves are being sent, and the failure that
    stopped it (the remaining items are then `unsent`)."""

    started: bool = False
    failure: str | None = None


class ProvinceClient:
    def __init__(
        self,
        config: ProvinceConfig,
        zone: ZoneInfo,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.zone = zone
        self._clock = clock
        self._cipher = Sm2Cipher(config.public_key, config.cipher_mode, config.cipher_encoding)
        self._sign: tuple[str, str] = ("", "")
        timeout = config.timeout_seconds
        self._http = httpx.AsyncClient(
            headers={wire.TENANCY_HEADER: config.tenancy_id},
            timeout=httpx.Timeout(timeout, connect=min(3.0, timeout)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def sends_ticket_results(self) -> bool:
        return self.config.ticket_results_url is not None

    @property
    def has_holdings(self) -> bool:
        return self.config.holdings_url is not None

    # --- pushing -------------------------------------------------------------------------------

    async def push_records(self, records: Sequence[RecordToSend]) -> list[ItemResult]:
        """Service records, in order. Records of self-built items are not sent: they come back as
        `not_forwardable` with the reason."""
        return await self._push(
            self.config.records_url,
            [r.item_code for r in records],
            [_Item(wire.record_item(r, self.zone, self.config.data_source), None) for r in records],
        )

    async def push_ratings(self, ratings: Sequence[RatingToSend]) -> list[ItemResult]:
        """Ratings, in order; a rating of a self-built item is `not_forwardable`."""
        return await self._push(
            self.config.ratings_url,
            [r.record.item_code for r in ratings],
            [
                _Item(wire.rating_item(r, self.zone, self.config.data_source), r.assess_number)
                for r in ratings
            ],
        )

    async def push_ticket_results(self, results: Sequence[TicketResultToSend]) -> list[ItemResult]:
        """Closing results of rectification tickets. Raises ProvinceEndpointOff when the feature is
        not configured."""
        url = self.config.ticket_results_url
        if url is None:
            raise ProvinceEndpointOff("未配置整改结果反馈地址（PROVINCE_TICKET_RESULTS_URL）")
        return await self._push(
            url,
            ["" for _ in results],
            [
                _Item(
                    wire.ticket_result_item(r, self.zone, self.config.data_source),
                    r.assess_number,
                )
                for r in results
            ],
        )

    async def _push(self, url: str, item_codes: list[str], items: list[_Item]) -> list[ItemResult]:
        results: list[ItemResult | None] = [None] * len(items)
        to_send: list[int] = []
        for index, code in enumerate(item_codes):
            forwardable, reason = wire.is_forwardable(code)
            if forwardable:
                to_send.append(index)
            else:
                results[index] = ItemResult(Outcome.not_forwardable, reason)
        if to_send:
            sent, _ = await self._send(url, [items[i] for i in to_send], None, _Split())
            for index, result in zip(to_send, sent, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    async def _send(
        self, url: str, items: list[_Item], refused_with: str | None, split: _Split
    ) -> tuple[list[ItemResult], bool]:
        """Send `items`: their results, and whether one call took them all. When the province
        refuses the call, the refused items are found by halves. `refused_with` is the text of a
        refusal already known to come from within `items` (they are not sent whole again)."""
        if not items:
            return [], True
        if split.failure is not None:
            return [ItemResult(Outcome.unsent, split.failure) for _ in items], False
        if refused_with is None:
            try:
                answer = await self._call(url, await self._sealed(items))
            except ProvinceCallFailed as exc:
                if not split.started:
                    raise  # the first call: nothing was delivered, the whole call failed
                # Halves already sent keep their results; the rest is not sent now.
                split.failure = str(exc)
                return [ItemResult(Outcome.unsent, split.failure) for _ in items], False
            if answer.ok:
                return [ItemResult(Outcome.accepted) for _ in items], True
            refused_with = answer.text
        if len(items) == 1:
            refusal = wire.classify(refused_with)
            return [wire.item_result(refusal, refused_with, items[0].assess_number)], False
        split.started = True
        middle = len(items) // 2
        left, left_whole = await self._send(url, items[:middle], None, split)
        # The province stores a call all or nothing: when the left half went through in one call,
        # the refusal came from the right half, so that half is split without being sent whole
        # again (and a single item there is the one the text is about).
        known = refused_with if left_whole else None
        right, _ = await self._send(url, items[middle:], known, split)
        return left + right, False

    async def _sealed(self, items: list[_Item]) -> dict[str, Any]:
        size = self.config.items_per_ciphertext
        chunks = [
            wire.items_json(item.fields for item in items[start : start + size])
            for start in range(0, len(items), size)
        ]
        # gmalglib holds the GIL while it encrypts; a thread keeps the event loop answering between
        # items of a large batch.
        ciphertexts = await asyncio.to_thread(lambda: [self._cipher.encrypt(c) for c in chunks])
        return wire.evaluate_params(ciphertexts)

    # --- reading -------------------------------------------------------------------------------

    async def fetch_indicators(self) -> list[Indicator]:
        """The province's national indicator dictionary (norm interface), in our numbering."""
        answer = await self._call(self.config.norm_url, {})
        self._raise_unless_ok(answer)
        try:
            return wire.indicators(answer.body)
        except ValueError as exc:
            raise ProvinceUnavailable(str(exc)) from exc

    async def holdings(self, day: date) -> DayHoldings:
        """What the province holds for `day` (reconciliation). Raises ProvinceEndpointOff when the
        feature is not configured."""
        url = self.config.holdings_url
        if url is None:
            raise ProvinceEndpointOff("未配置对账查询地址（PROVINCE_HOLDINGS_URL）")
        answer = await self._call(url, wire.holdings_params(day))
        self._raise_unless_ok(answer)
        try:
            return wire.day_holdings(answer.body)
        except ValueError as exc:
            raise ProvinceUnavailable(str(exc)) from exc

    @staticmethod
    def _raise_unless_ok(answer: wire.Answer) -> None:
        if not answer.ok:
            raise ProvinceUnavailable(f"省级平台拒绝查询：{answer.text}")

    # --- one call ------------------------------------------------------------------------------

    def _signed(self, time: str) -> str:
        # The signed text changes once a second; one ciphertext serves that second's calls.
        if self._sign[0] != time:
            text = wire.sign_text(time, self.config.app_mark, self.config.app_word)
            self._sign = (time, self._cipher.encrypt(text))
        return self._sign[1]

    async def _call(self, url: str, params: dict[str, Any]) -> wire.Answer:
        """POST one envelope; the answer, or raise for a call that failed whole."""
        time = wire.envelope_time(self._clock(), self.zone)
        body = wire.envelope(params, time, self.config.app_mark, self._signed(time))
        try:
            response = await self._http.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise ProvinceUnavailable(f"省级平台响应超时（{exc.__class__.__name__}）") from exc
        except httpx.HTTPError as exc:
            raise ProvinceUnavailable(
                f"无法连接省级平台（{exc.__class__.__name__}: {exc}）"
            ) from exc
        status = response.status_code
        if status >= 500 or status == 429:
            raise ProvinceUnavailable(f"省级平台暂时不可用（HTTP {status}）")
        try:
            answer = wire.read_answer(response.json())
        except ValueError as exc:
            if status in (401, 403):
                raise ProvinceRefusedCall(f"HTTP {status}") from exc
            raise ProvinceUnavailable(f"省级平台应答无法识别（HTTP {status}）：{exc}") from exc
        if status in (401, 403):
            raise ProvinceRefusedCall(answer.text or f"HTTP {status}")
        if status >= 400 and answer.ok:
            raise ProvinceUnavailable(f"省级平台应答 HTTP {status}")
        if not answer.ok:
            refusal = wire.classify(answer.text)
            if refusal is wire.Refusal.credentials:
                raise ProvinceRefusedCall(answer.text)
            if refusal is wire.Refusal.transient:
                raise ProvinceUnavailable(f"省级平台暂时拒绝：{answer.text}")
        return answer


def province_key(project_no: str) -> str:
    """Our project number as the province spells it (for comparing with its holdings)."""
    return wire.project_no(project_no)
