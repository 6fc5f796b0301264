"""Intake use cases: register transactions, take ratings under DESIGN.md §3, offer indicators."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from evaluation_service.evaluations import model
from evaluation_service.evaluations.model import (
    Agent,
    Applicant,
    Channel,
    DeviceKind,
    Handling,
    OutboxKind,
    RatingInput,
)
from evaluation_service.evaluations.rating_batch import (
    WRITE_SLOTS,
    RatingBatcher,
    RatingRow,
    Statements,
    insert_ratings,
)
from evaluation_service.evaluations.schemas import (
    EvaluationIn,
    EvaluationOut,
    IndicatorOut,
    ServiceRecordOut,
    TransactionIn,
    TransactionOut,
)
from evaluation_service.evaluations.tokens import RatingTokens, hash_key
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.tables import (
    Department,
    Device,
    Evaluation,
    Indicator,
    IntegrationClient,
    Outbox,
    ServiceItem,
    ServiceRecord,
    ServiceTransaction,
)
from evaluation_service.kernel.tracing import current_request_id
from evaluation_service.kernel.workdays import WorkCalendar

CACHE_SECONDS = 30.0
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class DeviceIdentity:
    id: int
    device_id: str
    kind: DeviceKind
    window_no: str


@dataclass(frozen=True)
class IndicatorSet:
    version: str
    by_level: dict[int, tuple[IndicatorOut, ...]]
    codes: dict[int, frozenset[str]]

    @classmethod
    def of(cls, version: str, by_level: dict[int, tuple[IndicatorOut, ...]]) -> IndicatorSet:
        codes = {level: frozenset(i.code for i in items) for level, items in by_level.items()}
        return cls(version, by_level, codes)


class _Ttl:
    """A small per-process cache; the database stays the only record, so staleness is harmless."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.seconds:
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), value)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            self._entries.pop(key, None)


class Deadline(Protocol):
    @property
    def at(self) -> datetime: ...
    @property
    def warn_at(self) -> datetime: ...
    @property
    def estimated(self) -> bool: ...


class TicketOpening(Protocol):
    """How a real-name bad review opens its ticket inside the rating's own transaction (DESIGN §3
    rule 6: no queue between the two). Rectification implements it; the composition root hands it
    in, so this package never imports its neighbour."""

    # PostgreSQL: CTEs that follow `ins` in the one-statement insert (see rating_batch.Statements).
    # One ticket per service record: a bad follow-up joins or reopens the record's ticket.
    insert_ctes: str

    def accept_due(self, now: datetime) -> Deadline: ...

    async def open(self, evaluation_id: int, now: datetime) -> int | None: ...

    async def ticket_of(self, evaluation_id: int) -> int | None: ...


class Intake:
    """The evaluation domain's use cases, with the collaborators the shell hands in."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        calendar: WorkCalendar,
        tokens: RatingTokens,
        tickets: TicketOpening,
    ) -> None:
        self.db = db
        self.settings = settings
        self.calendar = calendar
        self.tokens = tokens
        self.zone = ZoneInfo(settings.timezone)
        self._cache = _Ttl(CACHE_SECONDS)
        self._batcher: RatingBatcher | None = None
        self.tickets = tickets
        self._statements = Statements.with_tickets(tickets.insert_ctes)

    # --- credentials ---------------------------------------------------------------------------

    async def authenticate_client(self, bearer: str | None) -> int:
        if not bearer:
            raise Unauthenticated(
                "missing_token",
                "缺少接入凭证：请在 Authorization 头中提供 Bearer 令牌。",
                "missing Authorization: Bearer token",
            )
        key = "client:" + hash_key(bearer)
        client_id = self._cache.get(key)
        if client_id is None:
            row = (
                await IntegrationClient.select(IntegrationClient.id)
                .where(IntegrationClient.token_hash == key.removeprefix("client:"))
                .where(IntegrationClient.active.eq(True))
                .first()
            )
            if row is None:
                raise Unauthenticated(
                    "bad_token", "接入凭证无效或已停用。", "integration token unknown or disabled"
                )
            client_id = row["id"]
            self._cache.put(key, client_id)
        return int(client_id)

    def forget_client_tokens(self) -> None:
        """After a token is rotated or revoked: this process asks the database again at once.
        Other processes keep a cached token for at most CACHE_SECONDS (docs/operations.md)."""
        self._cache.forget_prefix("client:")

    async def authenticate_device(self, device_key: str) -> DeviceIdentity:
        # Not cached: a device taken out of service (lost, stolen) must stop working at once, in
        # every process; the lookup is one row by a unique index.
        row = (
            await Device.select(
                Device.id, Device.device_id, Device.kind, Device.active, Device.window.window_no
            )
            .where(Device.key_hash == hash_key(device_key))
            .first()
        )
        if row is None or not row["active"]:
            raise Unauthenticated(
                "bad_device_key",
                "评价设备未登记或已停用，请联系政务服务中心管理员。",
                "device key unknown or device disabled",
            )
        return DeviceIdentity(
            id=row["id"],
            device_id=row["device_id"],
            kind=DeviceKind(row["kind"]),
            window_no=row["window.window_no"] or "",
        )

    # --- indicators ----------------------------------------------------------------------------

    async def indicators(self) -> IndicatorSet:
        """The current dictionary: what the rating pages offer and ratings are checked against.

        Current is the active version; `replace_indicators` leaves exactly one. Should a catalog
        load have added another active version beside it, the one written last wins. Each
        indicator shows the county's `label` when one is set, else the national text; the code,
        what the province receives, is the national one either way.
        """
        cached = self._cache.get("indicators")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        rows = (
            await Indicator.select(
                Indicator.version,
                Indicator.level,
                Indicator.code,
                Indicator.text,
                Indicator.label,
            )
            .where(Indicator.active.eq(True))
            .order_by(Indicator.id)
        )
        version = _current_version(rows)
        by_level: dict[int, list[IndicatorOut]] = {level: [] for level in model.LEVEL_TEXT}
        for row in rows:
            if row["version"] == version:
                by_level[row["level"]].append(
                    IndicatorOut(
                        code=row["code"],
                        text=row["label"] or row["text"],
                        level=row["level"],
                        version=version,
                        national_text=row["text"],
                    )
                )
        result = IndicatorSet.of(version, {k: tuple(v) for k, v in by_level.items()})
        self._cache.put("indicators", result)
        return result

    async def replace_indicators(
        self, version: str, rows: Sequence[tuple[int, str, str]], now: datetime
    ) -> int:
        """Make the province's dictionary `version` the current one; answers how many indicator
        rows it inserted, changed or retired (0 when the same version is replayed).

        `rows` are (level, national code, national text), one per code and level offered. A new
        row keeps the county's `label` of the current version's row with the same code and
        level; a version seen before keeps its own labels. Every other version is retired
        (`active` false), in the same transaction, and kept: past ratings name their version.
        An empty or malformed dictionary is refused before anything is written, so a broken
        answer never empties the rating page. `now` is when the dictionary was fetched; no
        column records it.
        """
        model.check_indicator_version(version)
        wanted = model.check_indicator_rows(rows)
        async with self.db.write():
            if not self.db.is_sqlite:
                # Two syncs at once would both insert the new version; readers are not blocked.
                await Indicator.raw("LOCK TABLE indicator IN SHARE ROW EXCLUSIVE MODE")
            stored = await Indicator.select(
                Indicator.id,
                Indicator.version,
                Indicator.level,
                Indicator.code,
                Indicator.text,
                Indicator.label,
                Indicator.active,
            ).order_by(Indicator.id)
            current = _current_version([row for row in stored if row["active"]])
            labels = {
                (row["level"], row["code"]): row["label"]
                for row in stored
                if row["active"] and row["version"] == current
            }
            own = {(row["level"], row["code"]): row for row in stored if row["version"] == version}
            changes = 0
            new = []
            for (level, code), text in wanted.items():
                row = own.get((level, code))
                if row is None:
                    new.append(
                        Indicator(
                            version=version,
                            level=level,
                            code=code,
                            text=text,
                            label=labels.get((level, code), ""),
                            active=True,
                        )
                    )
                elif row["text"] != text or not row["active"]:
                    await Indicator.update({Indicator.text: text, Indicator.active: True}).where(
                        Indicator.id == row["id"]
                    )
                    changes += 1
            if new:
                await Indicator.insert(*new)
                changes += len(new)
            retired = [
                row["id"]
                for row in stored
                if row["active"]
                and (row["version"] != version or (row["level"], row["code"]) not in wanted)
            ]
            if retired:
                await Indicator.update({Indicator.active: False}).where(Indicator.id.is_in(retired))
                changes += len(retired)
        # Other processes see the new dictionary when their cache entry expires (CACHE_SECONDS).
        self._cache.forget("indicators")
        return changes

    async def list_indicators(self, level: int | None) -> list[IndicatorOut]:
        if level is not None and level not in model.LEVEL_TEXT:
            raise InvalidInput("bad_level", "满意度应为1至5。", "level must be 1-5", "level")
        current = await self.indicators()
        levels = [level] if level is not None else sorted(current.by_level, reverse=True)
        return [item for lv in levels for item in current.by_level.get(lv, ())]

    # --- transactions --------------------------------------------------------------------------

    def rating_deadline(self, occurred_at: datetime) -> tuple[datetime, bool]:
        return model.rating_deadline(
            occurred_at, self.calendar, self.settings.rating_window_working_days, self.zone
        )

    def _aware(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=self.zone)

    def _check_transaction(
        self, data: TransactionIn, now: datetime
    ) -> tuple[Applicant, Agent, Handling]:
        model.check_project_no(data.project_no)
        model.check_item_code(data.item_code)
        model.check_department_code(data.department_code)
        model.check_area_code(data.area_code)
        applicant = model.check_applicant(
            Applicant(
                type=data.applicant.type,
                name=data.applicant.name.strip(),
                cert_type=data.applicant.cert_type.strip(),
                cert_no=data.applicant.cert_no.strip().upper(),
                phone=data.applicant.phone.strip(),
            )
        )
        given_agent = data.applicant.agent
        agent = (
            model.check_agent(
                Agent(
                    name=given_agent.name.strip(),
                    cert_type=given_agent.cert_type.strip(),
                    cert_no=given_agent.cert_no.strip().upper(),
                )
            )
            if given_agent is not None
            else Agent()
        )
        handling = model.check_handling(
            project_name=data.project_name,
            online=data.online,
            item_kind=data.item_kind,
            case_kind=data.case_kind,
            promised_days=data.promised_days,
        )
        if not data.records:
            raise InvalidInput(
                "no_records",
                "至少需要一条服务记录（records）。",
                "records must hold at least one service record",
                "records",
            )
        seen: set[int] = set()
        for index, record in enumerate(data.records):
            where = f"records[{index}]"
            if not 1 <= record.service_number <= 999:
                raise InvalidInput(
                    "bad_service_number",
                    f"第{index + 1}条服务记录的序号应为1至999。",
                    f"{where}.service_number must be 1-999",
                    f"{where}.service_number",
                )
            if record.service_number in seen:
                raise InvalidInput(
                    "duplicate_service_number",
                    f"服务记录序号 {record.service_number} 重复。",
                    f"service_number {record.service_number} appears twice",
                    f"{where}.service_number",
                )
            seen.add(record.service_number)
            if not record.name.strip() or len(record.name) > 100:
                raise InvalidInput(
                    "bad_record_name",
                    f"第{index + 1}条服务记录缺少名称或名称过长（最多100字）。",
                    f"{where}.name must be 1-100 characters",
                    f"{where}.name",
                )
            occurred = self._aware(record.occurred_at)
            assert occurred is not None
            if occurred > now + CLOCK_SKEW:
                raise InvalidInput(
                    "record_in_future",
                    f"第{index + 1}条服务记录的发生时间晚于当前时间，请核对业务系统时钟。",
                    f"{where}.occurred_at lies in the future",
                    f"{where}.occurred_at",
                )
            if record.window_no:
                model.check_code(record.window_no, "window_no", "窗口编号")
            if record.staff_no:
                model.check_code(record.staff_no, "staff_no", "工作人员编号")
        return applicant, agent, handling

    async def register_transaction(
        self, client_id: int, data: TransactionIn, now: datetime
    ) -> TransactionOut:
        applicant, agent, handling = self._check_transaction(data, now)
        department = (
            await Department.select(Department.id)
            .where(Department.code == data.department_code)
            .first()
        )
        if department is None:
            raise InvalidInput(
                "unknown_department",
                f"部门编码 {data.department_code} 不在本县事项目录中，请先由管理员导入部门。",
                f"department {data.department_code} is not in the catalog",
                "department_code",
            )
        item = (
            await ServiceItem.select(ServiceItem.id)
            .where(ServiceItem.code == data.item_code)
            .first()
        )
        if item is None:
            raise InvalidInput(
                "unknown_item",
                f"事项编码 {data.item_code} 不在本县事项目录中，请核对或先导入该事项。",
                f"service item {data.item_code} is not in the catalog",
                "item_code",
            )
        fields: dict[Any, Any] = {
            "item": item["id"],
            "department": department["id"],
            "area_code": data.area_code,
            "applicant_type": applicant.type,
            "applicant_name": applicant.name,
            "applicant_cert_type": applicant.cert_type,
            "applicant_cert_no": applicant.cert_no,
            "applicant_phone": applicant.phone,
            "applicant_identified": applicant.identified,
            "accepted_at": self._aware(data.accepted_at),
            "finished_at": self._aware(data.finished_at),
            # Every call states the whole transaction: an override left out goes back to NULL,
            # that is, to what the service item says.
            "project_name": handling.project_name,
            "online": handling.online,
            "item_kind": _value(handling.item_kind),
            "case_kind": _value(handling.case_kind),
            "promised_days": handling.promised_days,
            "agent_name": agent.name,
            "agent_cert_type": agent.cert_type,
            "agent_cert_no": agent.cert_no,
        }
        async with self.db.write():
            existing = (
                await ServiceTransaction.select(
                    ServiceTransaction.id, ServiceTransaction.client, *self._columns(fields)
                )
                .where(ServiceTransaction.project_no == data.project_no)
                .first()
            )
            created = existing is None
            if existing is None:
                inserted = await ServiceTransaction.insert(
                    ServiceTransaction(
                        project_no=data.project_no,
                        client=client_id,
                        created_at=now,
                        updated_at=now,
                        **fields,
                    )
                ).returning(ServiceTransaction.id)
                transaction_id = inserted[0]["id"]
            else:
                transaction_id = existing["id"]
                if existing["client"] not in (None, client_id):
                    raise Forbidden(
                        "project_owned_by_other_client",
                        f"办件 {data.project_no} 由其他业务系统登记，本系统无权修改。",
                        "this project_no was registered by another integration client",
                        "project_no",
                    )
                if any(_differs(existing[name], value) for name, value in fields.items()):
                    await ServiceTransaction.update({**fields, "updated_at": now}).where(
                        ServiceTransaction.id == transaction_id
                    )
            records = await self._store_records(transaction_id, data, applicant, now)
        return TransactionOut(project_no=data.project_no, created=created, records=records)

    @staticmethod
    def _columns(fields: dict[str, Any]) -> list[Any]:
        return [getattr(ServiceTransaction, name) for name in fields]

    async def _store_records(
        self, transaction_id: int, data: TransactionIn, applicant: Applicant, now: datetime
    ) -> list[ServiceRecordOut]:
        stored = {
            row["service_number"]: row
            for row in await ServiceRecord.select().where(
                ServiceRecord.service_transaction == transaction_id
            )
        }
        out: list[ServiceRecordOut] = []
        for record in data.records:
            occurred = self._aware(record.occurred_at)
            assert occurred is not None
            deadline, estimated = self.rating_deadline(occurred)
            values: dict[Any, Any] = {
                "name": record.name.strip(),
                "occurred_at": occurred,
                "window_no": record.window_no,
                "staff_no": record.staff_no,
                "rating_deadline": deadline,
                "deadline_estimated": estimated,
            }
            row = stored.get(record.service_number)
            if row is None:
                inserted = await ServiceRecord.insert(
                    ServiceRecord(
                        service_transaction=transaction_id,
                        service_number=record.service_number,
                        created_at=now,
                        **values,
                    )
                ).returning(ServiceRecord.id)
                record_id = inserted[0]["id"]
                await _enqueue(OutboxKind.service_record, record_id, now)
            else:
                record_id = row["id"]
                if any(_differs(row[name], value) for name, value in values.items()):
                    await ServiceRecord.update(values).where(ServiceRecord.id == record_id)
                    await _enqueue(OutboxKind.service_record, record_id, now)
            token = self.tokens.issue(record_id, deadline, applicant.identified)
            out.append(
                ServiceRecordOut(
                    service_number=record.service_number,
                    rating_token=token,
                    rating_url=f"{self.settings.public_base_url}/r/{token}",
                    rating_deadline=deadline,
                    deadline_estimated=estimated,
                )
            )
        return out

    # --- evaluations ---------------------------------------------------------------------------

    async def submit_evaluation(
        self, data: EvaluationIn, device_key: str | None, now: datetime
    ) -> EvaluationOut:
        indicators = await self.indicators()
        rating = model.check_rating(
            channel=data.channel,
            level=data.level,
            tags=data.tags,
            comment=data.comment,
            assess_number=data.assess_number,
            idempotency_key=data.idempotency_key,
            client_time=self._aware(data.client_time),
            indicators=indicators.codes,
            comment_max_chars=self.settings.comment_max_chars,
        )
        target = await self._target(data, rating, device_key, now)
        if self.db.is_sqlite:
            return await self._store_rating_in_transaction(target, rating, indicators.version, now)
        return await self._store_rating_in_one_statement(target, rating, indicators.version, now)

    async def _target(
        self, data: EvaluationIn, rating: RatingInput, device_key: str | None, now: datetime
    ) -> _Target:
        if device_key:
            device = await self.authenticate_device(device_key)
            if rating.channel != device.kind:
                raise Forbidden(
                    "channel_not_for_device",
                    f"本设备是{'窗口评价器' if device.kind == DeviceKind.window else '自助终端'}，"
                    f"评价渠道应为 {device.kind}。",
                    f"a {device.kind} device must submit channel {device.kind!r}",
                    "channel",
                )
            if not data.project_no or data.service_number is None:
                raise InvalidInput(
                    "missing_record",
                    "设备评价需要提供办件编号 project_no 和服务记录序号 service_number。",
                    "a device rating needs project_no and service_number",
                    "project_no",
                )
            return _Target(
                record_id=None,
                project_no=data.project_no,
                service_number=data.service_number,
                identifies_applicant=device.kind == DeviceKind.window or data.applicant_verified,
                device=device,
            )
        if data.rating_token:
            if rating.channel not in model.TOKEN_CHANNELS:
                raise InvalidInput(
                    "channel_needs_device",
                    "窗口评价器和自助终端的评价须由登记的设备提交（X-Device-Key）。",
                    "window and kiosk ratings must come from a registered device (X-Device-Key)",
                    "channel",
                )
            claims = self.tokens.verify(data.rating_token, now)
            return _Target(
                record_id=claims.record_id,
                project_no=None,
                service_number=None,
                identifies_applicant=claims.real_name,
                device=None,
            )
        raise Unauthenticated(
            "missing_credentials",
            "缺少评价凭证：请使用评价链接（rating_token），或由登记的评价设备提交（X-Device-Key）。",
            "provide a rating_token, or submit from a registered device with X-Device-Key",
            "rating_token",
        )

    async def _store_rating_in_one_statement(
        self, target: _Target, rating: RatingInput, version: str, now: datetime
    ) -> EvaluationOut:
        """PostgreSQL: rating and outbox row in one statement, shared with concurrent ratings."""
        row = RatingRow(
            record_id=target.record_id,
            project_no=target.project_no,
            service_number=target.service_number,
            assess_number=rating.assess_number,
            channel=rating.channel.value,
            level=rating.level,
            tags=",".join(rating.tags),
            comment=rating.comment,
            identifies_applicant=target.identifies_applicant,
            device_id=target.device.id if target.device else None,
            device_window=target.device.window_no if target.device else "",
            idempotency_key=rating.idempotency_key,
            indicator_version=version,
            client_time=rating.client_time,
            received_at=now,
            request_id=current_request_id(),
        )
        if model.is_bad(rating.level) and target.identifies_applicant:
            due = self.tickets.accept_due(now)
            row = replace(
                row,
                ticket_due_at=due.at,
                ticket_warn_at=due.warn_at,
                ticket_due_estimated=due.estimated,
            )
        if self._batcher is None:
            slots = max(1, min(WRITE_SLOTS, self.db.pool_size - 1))
            self._batcher = RatingBatcher(self.db.pool, slots, self._statements)
        stored = await self._batcher.insert(row)
        if stored is None:
            outcome = await self._check_rateable(target, rating, now)
            if isinstance(outcome, EvaluationOut):
                return outcome
            # Every rule passes now: a follow-up batched with its first rating, or a lost race.
            async with self.db.pool.acquire() as connection:
                stored = (await insert_ratings(connection, self._statements, [row])).get(
                    rating.idempotency_key
                )
            if stored is None:
                raise _already_rated(rating.assess_number)
        # Two requests with one key can race into one statement or two: the key's first body
        # wins, and only a request whose body is the stored one hears 201.
        _refuse_if_reused(stored, _stored_for(stored, target), rating)
        return _evaluation_out(stored, rating)

    async def _store_rating_in_transaction(
        self, target: _Target, rating: RatingInput, version: str, now: datetime
    ) -> EvaluationOut:
        async with self.db.write():
            record = await self._check_rateable(target, rating, now)
            if isinstance(record, EvaluationOut):
                return record
            real_name = target.identifies_applicant and bool(record["applicant_identified"])
            inserted = await Evaluation.insert(
                Evaluation(
                    service_record=record["id"],
                    assess_number=rating.assess_number,
                    channel=rating.channel.value,
                    level=rating.level,
                    tags=",".join(rating.tags),
                    comment=rating.comment,
                    real_name=real_name,
                    device=target.device.id if target.device else None,
                    idempotency_key=rating.idempotency_key,
                    indicator_version=version,
                    client_time=rating.client_time,
                    received_at=now,
                    request_id=current_request_id(),
                )
            ).returning(Evaluation.id)
            await _enqueue(OutboxKind.evaluation, inserted[0]["id"], now)
            ticket_id = None
            if real_name and model.is_bad(rating.level):
                ticket_id = await self.tickets.open(inserted[0]["id"], now)
        return _evaluation_out(
            {
                "id": inserted[0]["id"],
                "real_name": real_name,
                "received_at": now,
                "project_no": record["project_no"],
                "service_number": record["service_number"],
                "ticket_id": ticket_id,
            },
            rating,
        )

    async def _check_rateable(
        self, target: _Target, rating: RatingInput, now: datetime
    ) -> dict[str, Any] | EvaluationOut:
        """§3's refusals in order; returns the record row, or the original answer on a replay."""
        original = await _evaluation_by_key(rating.idempotency_key)
        record = await _record(target)
        if original is not None:
            same_record = record is not None and original["service_record"] == record["id"]
            _refuse_if_reused(original, same_record, rating)
            assert record is not None
            ticket_id = await self.tickets.ticket_of(original["id"])
            return _evaluation_out(
                {
                    **original,
                    "ticket_id": ticket_id,
                    "project_no": record["project_no"],
                    "service_number": record["service_number"],
                },
                rating,
            )
        if record is None:
            raise NotFound(
                "unknown_service_record",
                "找不到该办件的服务记录，请核对办件编号和服务序号。",
                "no such service record",
                "project_no",
            )
        if now > record["rating_deadline"]:
            raise Gone(
                "rating_window_closed",
                "本次服务的评价期限已过，无法再评价。感谢您的关注。",
                "the rating window for this service record has closed",
            )
        if (
            target.device is not None
            and target.device.kind == DeviceKind.window
            and record["window_no"]
            and target.device.window_no
            and record["window_no"] != target.device.window_no
        ):
            raise Forbidden(
                "record_of_other_window",
                f"该服务在 {record['window_no']} 号窗口办理，不能在本窗口评价。",
                "this service record was handled at another window",
                "project_no",
            )
        rated = {
            row["assess_number"]
            for row in await Evaluation.select(Evaluation.assess_number).where(
                Evaluation.service_record == record["id"]
            )
        }
        if rating.assess_number in rated:
            raise _already_rated(rating.assess_number)
        if rating.assess_number == 2 and 1 not in rated:
            raise Conflict(
                "follow_up_before_first",
                "请先完成首次评价，再进行追加评价。",
                "a follow-up rating (assess_number 2) needs the first rating",
                "assess_number",
            )
        return record


@dataclass(frozen=True)
class _Target:
    record_id: int | None
    project_no: str | None
    service_number: int | None
    identifies_applicant: bool
    device: DeviceIdentity | None


# What a request names that the stored rating under its key must match, with the Chinese label.
_DIFFERENCE_TEXT = {
    "record": "服务记录",
    "assess_number": "评价次数",
    "channel": "评价渠道",
    "level": "满意度",
    "tags": "评价指标",
    "comment": "评价内容",
}


def _stored_for(stored: Any, target: _Target) -> bool:
    """Whether the row stored under a key is of the service record this request names."""
    if target.record_id is not None:
        return bool(stored["service_record"] == target.record_id)
    return (stored["project_no"], stored["service_number"]) == (
        target.project_no,
        target.service_number,
    )


def _refuse_if_reused(stored: Any, same_record: bool, rating: RatingInput) -> None:
    """409 naming what differs when `rating` is not the one stored under its idempotency key."""
    asked = {
        "assess_number": rating.assess_number,
        "channel": rating.channel.value,
        "level": rating.level,
        "tags": ",".join(rating.tags),
        "comment": rating.comment,
    }
    differences = (["record"] if not same_record else []) + [
        field for field, value in asked.items() if stored[field] != value
    ]
    if differences:
        raise _key_reused(differences)


def _key_reused(differences: list[str]) -> Conflict:
    zh = "、".join(_DIFFERENCE_TEXT[field] for field in differences)
    return Conflict(
        "idempotency_key_reused",
        f"该幂等键已用于另一条不同的评价（不同之处：{zh}），已保存的是先到的那一条；"
        "请为新评价生成新的幂等键。",
        "idempotency_key was already used for a different rating (differs in: "
        f"{', '.join(differences)}); the first one stands",
        "idempotency_key",
    )


def _already_rated(assess_number: int) -> Conflict:
    if assess_number == 1:
        return Conflict(
            "already_rated",
            "该服务已经评价过了，每次服务只能评价一次；如需补充意见，可在评价期限内追加评价一次。",
            "this service record already has its rating",
            "assess_number",
        )
    return Conflict(
        "already_followed_up",
        "该服务已经追加评价过了，不能再次追加。",
        "this service record already has its follow-up rating",
        "assess_number",
    )


async def _evaluation_by_key(idempotency_key: str) -> dict[str, Any] | None:
    return (
        await Evaluation.select(  # type: ignore[no-any-return]
            Evaluation.id,
            Evaluation.service_record,
            Evaluation.assess_number,
            Evaluation.channel,
            Evaluation.level,
            Evaluation.tags,
            Evaluation.comment,
            Evaluation.real_name,
            Evaluation.received_at,
        )
        .where(Evaluation.idempotency_key == idempotency_key)
        .first()
    )


async def _record(target: _Target) -> dict[str, Any] | None:
    query = ServiceRecord.select(
        ServiceRecord.id,
        ServiceRecord.rating_deadline,
        ServiceRecord.window_no,
        ServiceRecord.service_number,
        ServiceRecord.service_transaction.project_no.as_alias("project_no"),
        ServiceRecord.service_transaction.applicant_identified.as_alias("applicant_identified"),
    )
    if target.record_id is not None:
        query = query.where(ServiceRecord.id == target.record_id)
    else:
        query = query.where(
            (ServiceRecord.service_transaction.project_no == target.project_no)
            & (ServiceRecord.service_number == target.service_number)
        )
    row = await query.first()
    if row is not None:
        row["rating_deadline"] = as_utc(row["rating_deadline"])
    return row  # type: ignore[no-any-return]


async def _enqueue(kind: OutboxKind, ref_id: int, now: datetime) -> None:
    await Outbox.insert(Outbox(kind=kind.value, ref_id=ref_id, created_at=now, next_attempt_at=now))


def _current_version(active_rows: Sequence[dict[str, Any]]) -> str:
    """The version of the active row written last; rows in id order."""
    return str(active_rows[-1]["version"]) if active_rows else ""


def _value(member: StrEnum | None) -> str | None:
    return None if member is None else member.value


def _differs(stored: Any, new: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(new, datetime):
        return as_utc(stored) != as_utc(new)
    if isinstance(stored, date) or isinstance(new, date):
        return stored != new
    return bool(stored != new)


def _evaluation_out(row: Any, rating: RatingInput) -> EvaluationOut:
    return EvaluationOut(
        id=row["id"],
        project_no=row["project_no"],
        service_number=row["service_number"],
        assess_number=rating.assess_number,
        channel=rating.channel.value,
        level=rating.level,
        tags=list(rating.tags),
        comment=rating.comment,
        real_name=bool(row["real_name"]),
        received_at=as_utc(row["received_at"]),
        ticket_id=row["ticket_id"],
    )


__all__ = ["Channel", "DeviceIdentity", "IndicatorSet", "Intake"]
