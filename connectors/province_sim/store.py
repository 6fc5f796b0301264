"""What the simulated province holds, in SQLite (WAL), so a restart forgets nothing.

Records, ratings and rectification results keyed as the province keys them (projectNo +
serviceNumber, + assessNumber); per key, how often it was received and how often accepted (the
"exactly once as counted by the province" that tests prove); refusals by text; and for every
accepted item when it was accepted, beside its own serviceTime/assessTime, so lag can be measured.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.province_sim.model import Item, Kind

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    kind TEXT NOT NULL,
    project_no TEXT NOT NULL,
    service_number TEXT NOT NULL,
    assess_number TEXT NOT NULL,           -- '' for service records
    fields TEXT NOT NULL,                  -- the item as received, JSON
    event_time TEXT NOT NULL,              -- serviceTime / assessTime / rectifyTime (China time)
    event_epoch REAL NOT NULL,
    accepted_epoch REAL NOT NULL,
    accepted_day TEXT NOT NULL,            -- yyyy-MM-dd, China time
    PRIMARY KEY (kind, project_no, service_number, assess_number)
);
CREATE INDEX IF NOT EXISTS held_by_day ON held (accepted_day, kind);
CREATE INDEX IF NOT EXISTS held_by_time ON held (kind, accepted_epoch);
CREATE TABLE IF NOT EXISTS receipts (
    kind TEXT NOT NULL,
    project_no TEXT NOT NULL,
    service_number TEXT NOT NULL,
    assess_number TEXT NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, project_no, service_number, assess_number)
);
CREATE TABLE IF NOT EXISTS refusals (
    text TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Accepted:
    """One item to store, with the times the store keeps beside it."""

    item: Item
    event_epoch: float
    accepted_epoch: float
    accepted_day: str


def _key4(kind: Kind, key: Sequence[str]) -> tuple[str, str, str, str]:
    assess = key[2] if len(key) > 2 else ""
    return (kind.value, key[0], key[1], assess)


class Store:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection, used only from the event loop's thread (the app never awaits inside a
        # transaction), so checks and writes of one call cannot interleave with another call.
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- reads -------------------------------------------------------------------------------

    def holds(self, kind: Kind, key: Sequence[str]) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM held WHERE kind=? AND project_no=? AND service_number=?"
            " AND assess_number=?",
            _key4(kind, key),
        ).fetchone()
        return row is not None

    def day(self, day: str) -> dict[str, list[list[str]]]:
        rows = self.db.execute(
            "SELECT kind, project_no, service_number, assess_number FROM held"
            " WHERE accepted_day=? AND kind IN (?, ?) ORDER BY accepted_epoch",
            (day, Kind.RECORD.value, Kind.RATING.value),
        ).fetchall()
        records = [[p, s] for kind, p, s, _ in rows if kind == Kind.RECORD.value]
        ratings = [[p, s, a] for kind, p, s, a in rows if kind == Kind.RATING.value]
        return {"records": records, "ratings": ratings}

    def counts(self) -> dict[str, dict[str, int]]:
        out = {kind.value: {"distinct": 0, "receipts": 0} for kind in Kind}
        for kind, distinct in self.db.execute("SELECT kind, count(*) FROM held GROUP BY kind"):
            out[kind]["distinct"] = distinct
        for kind, received in self.db.execute(
            "SELECT kind, sum(received) FROM receipts GROUP BY kind"
        ):
            out[kind]["receipts"] = int(received or 0)
        return out

    def refusals(self) -> dict[str, int]:
        rows = self.db.execute("SELECT text, count FROM refusals ORDER BY count DESC, text")
        return {text: count for text, count in rows}

    def project_keys(self, project_nos: Iterable[str]) -> list[dict[str, Any]]:
        wanted = list(dict.fromkeys(project_nos))
        marks = ",".join("?" * len(wanted))
        rows = self.db.execute(
            "SELECT kind, project_no, service_number, assess_number, received, accepted"
            f" FROM receipts WHERE project_no IN ({marks})"
            " ORDER BY kind, project_no, service_number, assess_number",
            wanted,
        ).fetchall()
        return [
            {
                "kind": kind,
                "key": [p, s, *([a] if a else [])],
                "receipts": received,
                "accepted": accepted,
            }
            for kind, p, s, a, received, accepted in rows
        ]

    def latest_ratings(self, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT project_no, service_number, assess_number,"
            " json_extract(fields, '$.satisfaction'), json_extract(fields, '$.evalDetail'),"
            " event_time, event_epoch, accepted_epoch FROM held WHERE kind=?"
            " ORDER BY accepted_epoch DESC, rowid DESC LIMIT ?",
            (Kind.RATING.value, limit),
        ).fetchall()
        return [
            {
                "projectNo": p,
                "serviceNumber": s,
                "assessNumber": a,
                "satisfaction": "" if level is None else str(level),
                "evalDetail": detail or "",
                "assessTime": event_time,
                "accepted_epoch": accepted,
                "lag_ms": round((accepted - event_epoch) * 1000),
            }
            for p, s, a, level, detail, event_time, event_epoch, accepted in rows
        ]

    def rating_lags_ms(self, limit: int) -> list[float]:
        rows = self.db.execute(
            "SELECT (accepted_epoch - event_epoch) * 1000 FROM held WHERE kind=?"
            " ORDER BY accepted_epoch DESC LIMIT ?",
            (Kind.RATING.value, limit),
        )
        return [float(lag) for (lag,) in rows]

    # --- writes ------------------------------------------------------------------------------

    def record_call(
        self,
        received: Sequence[tuple[Kind, Sequence[str]]],
        accepted: Sequence[Accepted],
        refusal: str | None,
    ) -> None:
        """One call's outcome in one transaction: receipts for every key received, the accepted
        items (none when the call is refused), and the refusal's text."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO receipts (kind, project_no, service_number, assess_number, received)"
                " VALUES (?, ?, ?, ?, 1)"
                " ON CONFLICT (kind, project_no, service_number, assess_number)"
                " DO UPDATE SET received = received + 1",
                [_key4(kind, key) for kind, key in received],
            )
            self.db.executemany(
                "INSERT INTO held (kind, project_no, service_number, assess_number, fields,"
                " event_time, event_epoch, accepted_epoch, accepted_day)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *_key4(a.item.kind, a.item.key),
                        a.item.as_json(),
                        a.item.event_time,
                        a.event_epoch,
                        a.accepted_epoch,
                        a.accepted_day,
                    )
                    for a in accepted
                ],
            )
            self.db.executemany(
                "UPDATE receipts SET accepted = accepted + 1 WHERE kind=? AND project_no=?"
                " AND service_number=? AND assess_number=?",
                [_key4(a.item.kind, a.item.key) for a in accepted],
            )
            if refusal is not None:
                self.refuse(refusal)

    def refuse(self, text: str) -> None:
        self.db.execute(
            "INSERT INTO refusals (text, count) VALUES (?, 1)"
            " ON CONFLICT (text) DO UPDATE SET count = count + 1",
            (text,),
        )

    def reset(self) -> None:
        with self.db:
            self.db.execute("BEGIN")
            for table in ("held", "receipts", "refusals"):
                self.db.execute(f"DELETE FROM {table}")
