"""Database engines for PostgreSQL and the embedded SQLite default, and the one way to write."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

log = logging.getLogger("haochaping")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def engine_for(url: str) -> Engine[Any]:
    if url.startswith("sqlite:///"):
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Piccolo opens one connection per query; the timeout is SQLite's busy wait for the lock.
        return SQLiteEngine(path=str(path), timeout=30)
    return PostgresEngine(config={"dsn": url})


def enable_wal(path: Path) -> None:
    """WAL lets readers go on while one writer writes; the mode is stored in the file itself."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


async def _no_session_reset(connection: Any) -> None:
    """asyncpg's default release runs a reset query (RESET ALL, UNLISTEN …): one more round trip per
    request. No code here sets session state, and asyncpg still rolls back an open transaction."""


class Database:
    """The engine plus the write discipline each backend needs."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.is_sqlite = isinstance(self.engine, SQLiteEngine)
        self.pool_size = pool_size
        # SQLite allows one writer. Serialising writers in-process (and BEGIN IMMEDIATE across
        # processes) is what keeps "database is locked" away from concurrent raters.
        self._write_lock = asyncio.Lock()

    def bind(self, tables: list[type[Table]]) -> None:
        for table in tables:
            table._meta.db = self.engine

    async def start(self) -> None:
        if isinstance(self.engine, PostgresEngine):
            await self.engine.start_connection_pool(
                min_size=min(2, self.pool_size), max_size=self.pool_size, reset=_no_session_reset
            )
        else:
            enable_wal(sqlite_path(self.url))

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Wait for connections in use to come back, then cut whatever has not."""
        if isinstance(self.engine, PostgresEngine) and self.engine.pool is not None:
            pool = self.engine.pool
            try:
                await asyncio.wait_for(pool.close(), timeout=grace_seconds)
            except TimeoutError:
                log.warning("connections still in use after %ss: terminated", grace_seconds)
                pool.terminate()
            self.engine.pool = None

    @property
    def pool(self) -> Any:
        """The asyncpg pool, for the few hot paths written as one SQL statement."""
        assert isinstance(self.engine, PostgresEngine)
        return self.engine.pool

    @asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """One write transaction; on SQLite, one at a time per process and IMMEDIATE across them."""
        if isinstance(self.engine, SQLiteEngine):
            async with (
                self._write_lock,
                self.engine.transaction(transaction_type=TransactionType.immediate),
            ):
                yield
        else:
            async with self.engine.transaction():
                yield

    async def ping(self) -> bool:
        try:
            if isinstance(self.engine, PostgresEngine) and self.engine.pool is not None:
                async with self.engine.pool.acquire() as connection:
                    await connection.fetchval("SELECT 1")
            else:
                await self.engine.run_ddl("SELECT 1")
            return True
        except Exception:
            return False
