"""SQLite as the database under test: ``aethel verify --executor
harness.targets.sqlite:SQLiteExecutor`` (docs/targets.md).

One database file in a fresh temporary folder, in WAL mode, with one connection per worker.
SQLite has one writer at a time and is serializable by construction; what is under test is
how it gets there. :class:`SQLiteExecutor` begins a transaction that declares writes with
``BEGIN IMMEDIATE`` (it takes the write lock first and waits for it, up to the busy
timeout) and a read-only one with a deferred ``BEGIN`` (it reads a snapshot while a writer
goes on). :class:`SQLiteDeferred` begins every transaction deferred: readers and writers
overlap until a write needs the lock, and a transaction whose snapshot is out of date by
then fails with ``SQLITE_BUSY_SNAPSHOT`` and is retried.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.targets.sql import RETRIES, DatabaseError, DatabaseExecutor, worker_count

BUSY_TIMEOUT = 10.0
"""Seconds a statement waits for a lock another connection holds."""
BUSY = (5, 6)
"""SQLITE_BUSY and SQLITE_LOCKED (primary result codes): another connection holds the lock,
or the transaction's snapshot is out of date (``SQLITE_BUSY_SNAPSHOT``); retried."""
SCHEMA = ("CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL, "
          "version TEXT NOT NULL) WITHOUT ROWID")


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun explicitly), usable from the
    worker thread that is handed it."""
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                           check_same_thread=False)


def _error(exc: sqlite3.Error) -> DatabaseError:
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return DatabaseError(name, str(exc), retry=code is not None and code & 0xFF in BUSY)


class SQLiteSession:
    """One worker's connection (the :class:`~harness.targets.sql.Session` of SQLite)."""

    def __init__(self, path: Path, immediate: bool) -> None:
        self.conn = _connect(path)
        self.immediate = immediate

    def _execute(self, query: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(query, params)
        except sqlite3.Error as exc:
            raise _error(exc) from None

    def begin(self, writes: bool) -> None:
        self._execute("BEGIN IMMEDIATE" if writes and self.immediate else "BEGIN")

    def read(self, account: str) -> tuple[int, str]:
        row = self._execute("SELECT balance, version FROM accounts WHERE name = ?",
                            (account,)).fetchone()
        if row is None:
            raise DatabaseError("no row", f"account {account!r} has no row")
        return row[0], row[1]

    def write(self, account: str, value: int, version: str) -> str:
        row = self._execute("SELECT version FROM accounts WHERE name = ?", (account,)).fetchone()
        if row is None:
            raise DatabaseError("no row", f"account {account!r} has no row")
        self._execute("UPDATE accounts SET balance = ?, version = ? WHERE name = ?",
                      (value, version, account))
        return row[0]

    def commit(self) -> None:
        self._execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self._execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


class SQLiteExecutor(DatabaseExecutor):
    """The executor-protocol factory for SQLite: ``SQLiteExecutor(backend=..., workers=...)``.

    ``backend`` is ignored (the workers are threads); ``workers`` connections run the batch
    (at least 2). A database error that is not ``SQLITE_BUSY`` or ``SQLITE_LOCKED`` aborts
    its transaction; those two are retried up to ``retries`` times.
    """

    immediate = True
    """Whether a transaction that declares writes begins with ``BEGIN IMMEDIATE``."""

    def __init__(self, backend: str = "thread", workers: int = 2, retries: int = RETRIES
                 ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="aethel-sqlite-"))
        path = self.folder / "accounts.db"
        self.admin = _connect(path)
        self.admin.execute("PRAGMA journal_mode = WAL")
        self.admin.execute("PRAGMA synchronous = OFF")
        self.admin.execute(SCHEMA)
        super().__init__([SQLiteSession(path, self.immediate)
                          for _ in range(worker_count(workers))], retries)

    def load(self, accounts: Mapping[str, int]) -> None:
        with self.admin:
            self.admin.execute("BEGIN IMMEDIATE")
            self.admin.execute("DELETE FROM accounts")
            self.admin.executemany("INSERT INTO accounts VALUES (?, ?, 'init')",
                                   accounts.items())

    def balances(self) -> dict[str, int]:
        return dict(self.admin.execute("SELECT name, balance FROM accounts"))

    def close(self) -> None:
        super().close()
        self.admin.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class SQLiteDeferred(SQLiteExecutor):
    """:class:`SQLiteExecutor` beginning every transaction deferred."""

    immediate = False
