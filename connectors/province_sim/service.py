"""The simulated province's use cases: open a signed envelope, check a call's items, hold them.

A call is answered as a whole (model.py E3/E5): every item passes and all are held, or the first
refusal refuses the call and nothing of it is held. Receipts are counted for every key the
province could read, refused or not.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from connectors.province_sim import model
from connectors.province_sim.cipher import Decryptor, Undecryptable
from connectors.province_sim.indicators import norm_list
from connectors.province_sim.model import Item, Kind, Refused
from connectors.province_sim.store import Accepted, Store

CHINA = ZoneInfo("Asia/Shanghai")
TENANCY_HEADER = "c-tenancy-id"


@dataclass
class Credentials:
    app_mark: str
    app_word: str = field(repr=False)


@dataclass(frozen=True)
class Envelope:
    params: Any
    sent_at: str
    app_mark: str


@dataclass
class Province:
    """One simulated province: its key, the app it issued credentials to, what it holds."""

    decryptor: Decryptor
    credentials: Credentials
    store: Store
    tenancy_id: str = "370000000000"
    clock: Callable[[], float] = time.time
    refuse_followups: bool = False

    def now(self) -> datetime:
        """China wall-clock time, naive, as the wire writes it."""
        return datetime.fromtimestamp(self.clock(), CHINA).replace(tzinfo=None)

    # --- the envelope (E1, E2) ---------------------------------------------------------------

    def open_envelope(
        self, headers: Mapping[str, str], body: bytes, *, form_allowed: bool = False
    ) -> Envelope:
        if headers.get(TENANCY_HEADER, "").strip() != self.tenancy_id:
            raise Refused(model.WRONG_TENANCY)
        txn = self._txn_body(headers, body, form_allowed)
        try:
            sign, sent_at, app_mark = (str(txn[name]) for name in ("sign", "time", "appMark"))
        except KeyError as exc:
            raise Refused(model.BAD_ENVELOPE, {"missing": str(exc)}) from exc
        if app_mark != self.credentials.app_mark:
            raise Refused(model.UNKNOWN_APP)
        try:
            sent = datetime.strptime(sent_at, model.ENVELOPE_TIME)
        except ValueError as exc:
            raise Refused(model.BAD_TIME) from exc
        if abs((sent - self.now()).total_seconds()) > model.CLOCK_TOLERANCE_SECONDS:
            raise Refused(model.STALE_TIME)
        try:
            signed = self.decryptor.decrypt_text(sign)
        except Undecryptable as exc:
            raise Refused(model.SIGN_UNREADABLE) from exc
        if signed != sent_at + app_mark + self.credentials.app_word:
            raise Refused(model.SIGN_MISMATCH)
        return Envelope(txn.get("params"), sent_at, app_mark)

    @staticmethod
    def _txn_body(headers: Mapping[str, str], body: bytes, form_allowed: bool) -> dict[str, Any]:
        content_type = headers.get("content-type", "")
        if form_allowed and content_type.startswith("application/x-www-form-urlencoded"):
            # The norm call as Jining sends it: appMark, time and sign as form fields
            # (HcpController.getnorm through HcpUtil.doPost).
            form = parse_qs(body.decode("utf-8", "replace"))
            return {name: values[0] for name, values in form.items()} | {"params": {}}
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(model.BAD_ENVELOPE) from exc
        txn = envelope.get("txnBodyCom") if isinstance(envelope, dict) else None
        if not isinstance(txn, dict):
            raise Refused(model.BAD_ENVELOPE, {"missing": "txnBodyCom"})
        return txn

    # --- records, ratings, results -----------------------------------------------------------

    def receive(self, kind: Kind, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Hold a call's items or raise Refused; the answer body on success."""
        try:
            envelope = self.open_envelope(headers, body)
            fields_list = self._decrypt_items(envelope.params)
        except Refused as refusal:
            self.store.refuse(refusal.text)
            raise
        now = self.now()
        received: list[tuple[Kind, tuple[str, ...]]] = []
        for fields in fields_list:
            key = model.item_key(kind, fields)
            if key is not None:
                received.append((kind, key))
        try:
            accepted = self._check_call(kind, fields_list, now)
        except Refused as refusal:
            self.store.record_call(received, [], refusal.text)
            raise
        self.store.record_call(received, accepted, None)
        return {"received": len(fields_list), "accepted": len(accepted)}

    def _decrypt_items(self, params: Any) -> list[dict[str, Any]]:
        entries = params.get("evaluate") if isinstance(params, dict) else None
        if not isinstance(entries, list) or not entries:
            raise Refused(model.NO_ITEMS)
        items: list[dict[str, Any]] = []
        for index, entry in enumerate(entries):
            try:
                plain = self.decryptor.decrypt_text(entry)
            except Undecryptable as exc:
                raise Refused(model.ENTRY_UNREADABLE, {"entry": index}) from exc
            try:
                decoded = json.loads(plain)
            except ValueError as exc:
                raise Refused(model.ENTRY_NOT_ARRAY, {"entry": index}) from exc
            if not isinstance(decoded, list) or not decoded:
                raise Refused(model.ENTRY_NOT_ARRAY, {"entry": index})
            for fields in decoded:
                if not isinstance(fields, dict):
                    raise Refused(model.ENTRY_NOT_ARRAY, {"entry": index})
                items.append(fields)
        return items

    def _check_call(
        self, kind: Kind, fields_list: list[dict[str, Any]], now: datetime
    ) -> list[Accepted]:
        check = model.CHECKS[kind]
        accepted: list[Accepted] = []
        in_call: set[tuple[Kind, tuple[str, ...]]] = set()
        stamp = self.clock()
        day = datetime.fromtimestamp(stamp, CHINA).strftime(model.DAY)
        for index, fields in enumerate(fields_list):
            try:
                item = check(fields, now)
                if self._place(item, in_call):
                    accepted.append(Accepted(item, _epoch(item.event_time), stamp, day))
            except Refused as refusal:
                detail = {"index": index, "projectNo": model.text(fields, "projectNo")}
                detail.update(refusal.detail)
                raise Refused(refusal.text, detail) from None
            in_call.add((item.kind, item.key))
        return accepted

    def _place(self, item: Item, in_call: set[tuple[Kind, tuple[str, ...]]]) -> bool:
        """Whether the item is new (to be held); raise for what the province refuses."""
        held = (item.kind, item.key) in in_call or self.store.holds(item.kind, item.key)
        if item.kind is Kind.RECORD:
            if held:
                raise Refused(model.RECORD_EXISTS)
            return True
        record_key = item.key[:2]
        if item.kind is Kind.RATING:
            if not (
                (Kind.RECORD, record_key) in in_call or self.store.holds(Kind.RECORD, record_key)
            ):
                raise Refused(model.NO_RECORD)
            if held or (self.refuse_followups and item.key[2] == "2"):
                raise Refused(model.RATING_EXISTS)
            return True
        if not ((Kind.RATING, item.key) in in_call or self.store.holds(Kind.RATING, item.key)):
            raise Refused(model.NO_RATING)
        # Assumption: a result sent again is answered success and not held twice.
        return not held

    # --- norm and daily holdings (assumed shapes) --------------------------------------------

    def norm(self, headers: Mapping[str, str], body: bytes) -> list[dict[str, str]]:
        self._guarded(headers, body, form_allowed=True)
        return norm_list()

    def holdings(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        envelope = self._guarded(headers, body)
        day = envelope.params.get("day") if isinstance(envelope.params, dict) else None
        try:
            datetime.strptime(str(day), model.DAY)
        except ValueError:
            self.store.refuse(model.BAD_DAY)
            raise Refused(model.BAD_DAY) from None
        return self.store.day(str(day))

    def _guarded(
        self, headers: Mapping[str, str], body: bytes, form_allowed: bool = False
    ) -> Envelope:
        try:
            return self.open_envelope(headers, body, form_allowed=form_allowed)
        except Refused as refusal:
            self.store.refuse(refusal.text)
            raise

    # --- what the simulator shows ------------------------------------------------------------

    def stats(self, latest: int = 20) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.store.counts())
        lags = self.store.rating_lags_ms(10_000)
        last = self.store.latest_ratings(latest)
        for row in last:
            row["accepted_at"] = _china(row.pop("accepted_epoch"))
        out["refusals"] = self.store.refusals()
        out["last_accepted"] = last
        out["lag_ms"] = {
            "p50": round(statistics.median(lags)) if lags else None,
            "p95": round(_percentile(lags, 0.95)) if lags else None,
            "of": len(lags),
        }
        return out

    def project_keys(self, project_no: str) -> list[dict[str, Any]]:
        """Keys of a project by the province's number or by the county's (E11: "37" + it)."""
        return self.store.project_keys([project_no, model.PROVINCE_PREFIX + project_no])


def _epoch(wire_time: str) -> float:
    moment = model.parse_wire_time(wire_time)
    return moment.replace(tzinfo=CHINA).timestamp() if moment else 0.0


def _china(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, CHINA).strftime(model.WIRE_TIME)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * share + 0.5) - 1))]
