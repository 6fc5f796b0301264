"""The embedded default's SQLite engine lends open connections instead of opening one a query.

Checked against a real SQLite file: connections are reused, a connection comes back out of any
transaction (a failed statement, a failed transaction, a cancelled one), writers still exclude each
other, and an engine nobody closed does not hold the process open at exit.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from piccolo.columns import Integer, Varchar
from piccolo.table import Table

from evaluation_service.kernel.database import Database, PooledSQLiteEngine


class Note(Table, tablename="pool_note"):
    number = Integer(unique=True)
    text = Varchar(length=20)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'pool.sqlite'}", pool_size=3)
    database.bind([Note])
    await database.start()
    await Note.create_table()
    yield database
    await database.close()


def engine_of(db: Database) -> PooledSQLiteEngine:
    assert isinstance(db.engine, PooledSQLiteEngine)
    return db.engine


async def test_queries_and_transactions_reuse_one_connection(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = []
    real_connect = aiosqlite.connect

    def counting_connect(*args: object, **kwargs: object) -> aiosqlite.Connection:
        opened.append(1)
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aiosqlite, "connect", counting_connect)
    for number in range(5):
        await Note.insert(Note(number=number, text="x"))
        async with db.write():
            await Note.update({Note.text: "y"}).where(Note.number == number)
        assert await Note.count() == number + 1
    # The fixture's create_table left one idle connection: nothing new was opened.
    assert opened == []


async def test_foreign_keys_are_on_for_a_lent_connection(db: Database) -> None:
    rows = await db.engine.run_ddl("PRAGMA foreign_keys")
    assert rows == [{"foreign_keys": 1}]
    async with db.write():
        rows = await db.engine.run_ddl("PRAGMA foreign_keys")
    assert rows == [{"foreign_keys": 1}]


async def test_a_failed_statement_leaves_no_transaction_behind(db: Database) -> None:
    await Note.insert(Note(number=1, text="first"))
    # A statement run alone (Piccolo's insert wraps itself in a transaction; raw SQL does not):
    # sqlite3 opened a transaction for it before it failed.
    with pytest.raises(Exception, match="UNIQUE"):
        await Note.raw("INSERT INTO pool_note (number, text) VALUES (1, 'again')")
    engine = engine_of(db)
    assert engine._idle and not any(c.in_transaction for c in engine._idle)
    # Another process's writer is not kept out by a transaction left open on an idle connection.
    async with aiosqlite.connect(db.engine.path, timeout=0.5) as other:
        await other.execute("BEGIN IMMEDIATE")
        await other.execute("INSERT INTO pool_note (number, text) VALUES (2, 'other')")
        await other.commit()
    assert sorted(r["number"] for r in await Note.select(Note.number)) == [1, 2]


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back(db: Database) -> None:
    engine = engine_of(db)
    connection = await engine.borrow()
    await connection.execute("BEGIN IMMEDIATE")
    await connection.execute("INSERT INTO pool_note (number, text) VALUES (9, 'half done')")
    await engine.give_back(connection)
    assert not connection.in_transaction
    assert await Note.count() == 0


async def test_a_rolled_back_transaction_is_gone_and_its_connection_is_clean(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write():
            await Note.insert(Note(number=7, text="rolled back"))
            raise RuntimeError("the use case refused")
    assert await Note.count() == 0
    assert not any(c.in_transaction for c in engine_of(db)._idle)
    async with db.write():
        await Note.insert(Note(number=7, text="kept"))
    assert await Note.select(Note.text).output(as_list=True) == ["kept"]


async def test_a_cancelled_transaction_gives_its_connection_back_clean(db: Database) -> None:
    inside = asyncio.Event()

    async def write_forever() -> None:
        async with db.write():
            await Note.insert(Note(number=3, text="cancelled"))
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(write_forever())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await Note.count() == 0
    assert not any(c.in_transaction for c in engine_of(db)._idle)


async def test_concurrent_writers_and_readers_lose_nothing(db: Database) -> None:
    async def write(number: int) -> None:
        async with db.write():
            count = await Note.count()
            await Note.insert(Note(number=number, text=str(count)))

    async def read() -> int:
        return await Note.count()

    await asyncio.gather(*(write(n) for n in range(40)), *(read() for _ in range(40)))
    assert await Note.count() == 40
    # Writers were serialised: each saw the ones before it, so the counts they saw are 0..39.
    seen = sorted(int(t) for t in await Note.select(Note.text).output(as_list=True))
    assert seen == list(range(40))
    assert len(engine_of(db)._idle) <= 3


async def test_close_closes_the_idle_connections(db: Database) -> None:
    await Note.count()
    idle = list(engine_of(db)._idle)
    assert idle
    await db.close()
    assert engine_of(db)._idle == []
    for connection in idle:
        with pytest.raises(ValueError, match=r"closed|no active connection"):
            await connection.execute("SELECT 1")


def test_an_engine_nobody_closed_does_not_hold_the_process_open(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from evaluation_service.kernel.database import Database

        async def main():
            await KEPT.start()
            await KEPT.engine.run_ddl("SELECT 1")
            print("queried", flush=True)

        # Held by a module, as an app is: alive until after the interpreter waits for threads.
        KEPT = Database("sqlite:///{tmp_path / "exit.sqlite"}")
        asyncio.run(main())
        """
    )
    # A hang detector, not a timing: the process exits at once or never.
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "queried\n"
