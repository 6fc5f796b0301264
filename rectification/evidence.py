"""Evidence attached to a ticket's results (photos, PDF): checked, stored outside the database.

Files live under VAR_DIR/evidence/<first two hex digits>/<sha256>, so the same file uploaded twice
is stored once and a changed byte is a different file; the row keeps the name, type, size and
checksum, and who uploaded it. Only staff who may read the ticket may fetch a file; liaisons of
the handling department (and supervisors) may add one while the ticket is open. The upload is
written to the audit log in the same transaction as its row.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from evaluation_service.identity.model import Actor, Role, can_read
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from rectification.model import OPEN_STATES, State
from rectification.tables import Ticket, TicketEvent, TicketEvidence

ATTACH_ACTION = "attach_evidence"
# What a file must start with, per accepted type; the name's extension must agree.
KINDS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
    "application/pdf": (b"%PDF-", (".pdf",)),
}
PER_TICKET_MAX = 20
_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,120}$")


@dataclass(frozen=True)
class EvidenceFile:
    id: int
    ticket_id: int
    file_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime


def _refuse(code: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput(code, zh, en, "file")


def content_type_of(file_name: str, data: bytes) -> str:
    """jpg / png / pdf, by the file's own first bytes and its name; anything else is refused."""
    suffix = Path(file_name).suffix.lower()
    for content_type, (magic, suffixes) in KINDS.items():
        if data.startswith(magic) and suffix in suffixes:
            return content_type
    raise _refuse(
        "bad_evidence_type",
        "只能上传 JPG、PNG 图片或 PDF 文件（文件内容须与扩展名一致）。",
        "evidence must be a jpg, png or pdf file",
    )


class Evidence:
    def __init__(self, db: Database, var_dir: Path, max_bytes: int) -> None:
        self.db = db
        self.root = var_dir / "evidence"
        self.max_bytes = max_bytes

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def _ticket(self, ticket_id: int, actor: Actor) -> dict[str, object]:
        row = (
            await Ticket.select(Ticket.id, Ticket.state, Ticket.department)
            .where(Ticket.id == ticket_id)
            .first()
        )
        if row is None or not can_read(actor, row["department"]):
            raise NotFound(
                "unknown_ticket",
                f"工单 {ticket_id} 不存在，或不属于您所在的部门。",
                "no such ticket for this reader",
                "ticket_id",
            )
        return dict(row)

    async def add(
        self, ticket_id: int, actor: Actor, file_name: str, data: bytes, now: datetime
    ) -> EvidenceFile:
        name = file_name.strip().replace("\\", "/").rsplit("/", 1)[-1]
        if not _NAME.match(name):
            raise _refuse("bad_evidence_name", "文件名不正确（最长120字）。", "bad file name")
        if not data:
            raise _refuse("empty_evidence", "请选择要上传的文件。", "the file is empty")
        if len(data) > self.max_bytes:
            limit = f"{self.max_bytes / 1024 / 1024:.1f}".rstrip("0").rstrip(".")
            raise _refuse(
                "evidence_too_large",
                f"文件过大：每个文件不超过 {limit} MB。",
                f"evidence is larger than {self.max_bytes} bytes",
            )
        content_type = content_type_of(name, data)
        if actor.role not in (Role.liaison, Role.supervisor):
            raise Forbidden(
                "wrong_role", "只有部门联络员和监督员可以上传证明材料。", "liaisons only", "file"
            )
        sha256 = hashlib.sha256(data).hexdigest()
        # The file first (content-addressed, so a retry or a twin upload rewrites the same bytes),
        # then the row: a file without a row is harmless, a row without a file never exists.
        target = self.path_of(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            temporary = target.with_suffix(f".{os.getpid()}.part")
            temporary.write_bytes(data)
            os.replace(temporary, target)
        async with self.db.write():
            ticket = await self._ticket(ticket_id, actor)
            if State(str(ticket["state"])) not in OPEN_STATES:
                raise Conflict(
                    "ticket_closed", "工单已办结，不能再上传材料。", "the ticket is closed", "file"
                )
            count = await TicketEvidence.count().where(TicketEvidence.ticket == ticket_id)
            if count >= PER_TICKET_MAX:
                raise Conflict(
                    "too_much_evidence",
                    f"每个工单最多上传 {PER_TICKET_MAX} 个文件。",
                    "too many files on this ticket",
                    "file",
                )
            inserted = await TicketEvidence.insert(
                TicketEvidence(
                    ticket=ticket_id,
                    file_name=name,
                    content_type=content_type,
                    size=len(data),
                    sha256=sha256,
                    uploaded_by=actor.user_id,
                    uploaded_by_name=actor.username,
                    created_at=now,
                )
            ).returning(TicketEvidence.id)
            await TicketEvent.insert(
                TicketEvent(
                    ticket=ticket_id,
                    action=ATTACH_ACTION,
                    actor=actor.user_id,
                    actor_name=actor.username,
                    role=actor.role,
                    from_state=ticket["state"],
                    to_state=ticket["state"],
                    note="",
                    attachments=f"{name}（SHA-256 {sha256[:12]}…）",
                    created_at=now,
                )
            )
        return EvidenceFile(
            inserted[0]["id"], ticket_id, name, content_type, len(data), sha256, actor.username, now
        )

    async def files(self, ticket_id: int, actor: Actor) -> list[EvidenceFile]:
        await self._ticket(ticket_id, actor)
        rows = (
            await TicketEvidence.select()
            .where(TicketEvidence.ticket == ticket_id)
            .order_by(TicketEvidence.id)
        )
        return [
            EvidenceFile(
                r["id"],
                r["ticket"],
                r["file_name"],
                r["content_type"],
                r["size"],
                r["sha256"],
                r["uploaded_by_name"],
                as_utc(r["created_at"]),
            )
            for r in rows
        ]

    async def open(
        self, ticket_id: int, evidence_id: int, actor: Actor
    ) -> tuple[EvidenceFile, Path]:
        for item in await self.files(ticket_id, actor):
            if item.id == evidence_id:
                path = self.path_of(item.sha256)
                if not path.exists():
                    break
                return item, path
        raise NotFound("unknown_evidence", "该材料不存在。", "no such evidence", "evidence_id")
