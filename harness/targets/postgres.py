"""PostgreSQL as the database under test: ``aethel verify --executor
harness.targets.postgres:PostgresExecutor`` (docs/targets.md).

Every executor makes its own table in the database ``AETHEL_PG_DSN`` names; without it, a
throwaway server (:mod:`harness.targets.pgserver`) is started for the process, stopped when
it exits, and named in ``AETHEL_PG_DSN`` for the processes it starts afterwards (a
campaign's job processes), which share it. The isolation level is ``isolation=``, else the
factory's (:class:`ReadCommitted`, :class:`RepeatableRead`, :class:`Serializable`), else
``AETHEL_PG_ISOLATION``, else serializable. Serialization failures (SQLSTATE 40001) and
deadlocks (40P01) are retried.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import threading
from collections.abc import Mapping

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from aethel.errors import EnvironmentFailure, InputError
from harness.targets.pgserver import PostgresServer
from harness.targets.sql import RETRIES, DatabaseError, DatabaseExecutor, worker_count

DSN_ENV = "AETHEL_PG_DSN"
"""The environment variable holding the libpq connection string of the server to use."""
ISOLATION_ENV = "AETHEL_PG_ISOLATION"
"""The environment variable holding :class:`PostgresExecutor`'s isolation level."""
READ_COMMITTED, REPEATABLE_READ, SERIALIZABLE = "read-committed", "repeatable-read", \
    "serializable"
LEVELS = {READ_COMMITTED: "READ COMMITTED", REPEATABLE_READ: "REPEATABLE READ",
          SERIALIZABLE: "SERIALIZABLE"}
"""Isolation levels by their option name."""
RETRY_STATES = ("40001", "40P01")
"""SQLSTATEs after which a transaction is run again: serialization failure, deadlock."""
LOST_STATES = ("08", "57P")
"""SQLSTATE prefixes of a lost connection or a server shutting down."""
CONNECT_TIMEOUT = 10
"""Seconds a connection attempt may take."""

_TABLES = itertools.count()
_SERVER: list[tuple[int, PostgresServer]] = []
_SERVER_LOCK = threading.Lock()


def server_dsn() -> str:
    """``AETHEL_PG_DSN``, else the DSN of this process's throwaway server (started now if
    need be, stopped at exit, and exported in ``AETHEL_PG_DSN``)."""
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        return dsn
    with _SERVER_LOCK:
        if not _SERVER:
            server = PostgresServer().start()
            _SERVER.append((os.getpid(), server))
            atexit.register(_stop_server)
            os.environ[DSN_ENV] = server.dsn
        return _SERVER[0][1].dsn


def _stop_server() -> None:
    """Stop the throwaway server, in the process that started it only."""
    for pid, server in _SERVER:
        if pid == os.getpid():
            server.stop()


def describe_server(dsn: str) -> str:
    """Where ``dsn`` points, without its password: ``host /tmp/x port 5432 dbname postgres``."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise InputError("is not a libpq connection string", DSN_ENV) from None
    shown = [f"{key} {parts[key]}" for key in ("host", "port", "dbname") if parts.get(key)]
    return " ".join(shown) or "libpq's defaults"


def connect(dsn: str) -> psycopg.Connection:
    """An autocommit connection (transactions are begun explicitly); a server that is down
    or unreachable is an :class:`EnvironmentFailure` in one sentence."""
    where = describe_server(dsn)
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise EnvironmentFailure(f"cannot connect to PostgreSQL ({where}): "
                                 f"{_first_line(exc)}") from None


def _first_line(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class PostgresSession:
    """One worker's connection (the :class:`~harness.targets.sql.Session` of PostgreSQL)."""

    def __init__(self, dsn: str, table: sql.Identifier, isolation: str) -> None:
        self.conn = connect(dsn)
        self.conn.execute("SET enable_seqscan = off")
        self._begin = f"BEGIN ISOLATION LEVEL {LEVELS[isolation]}"
        self._read = sql.SQL("SELECT balance, version FROM {} WHERE name = %s").format(table)
        self._write = sql.SQL(
            "UPDATE {t} SET balance = %s, version = %s FROM "
            "(SELECT version FROM {t} WHERE name = %s FOR UPDATE) AS old "
            "WHERE {t}.name = %s RETURNING old.version").format(t=table)

    def _execute(self, query: str | sql.Composable, params: tuple | None = None
                 ) -> psycopg.Cursor:
        try:
            return self.conn.execute(query, params, prepare=params is not None)
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: psycopg.Error) -> DatabaseError | EnvironmentFailure:
        state = exc.sqlstate
        if self.conn.closed or state is None or state.startswith(LOST_STATES):
            return EnvironmentFailure(f"the connection to PostgreSQL was lost: "
                                      f"{_first_line(exc)}")
        return DatabaseError(f"SQLSTATE {state}", _first_line(exc), state in RETRY_STATES)

    def begin(self, writes: bool) -> None:
        self._execute(self._begin)

    def read(self, account: str) -> tuple[int, str]:
        row = self._execute(self._read, (account,)).fetchone()
        if row is None:
            raise DatabaseError("no row", f"account {account!r} has no row")
        return row[0], row[1]

    def write(self, account: str, value: int, version: str) -> str:
        row = self._execute(self._write, (value, version, account, account)).fetchone()
        if row is None:
            raise DatabaseError("no row", f"account {account!r} has no row")
        return row[0]

    def commit(self) -> None:
        self._execute("COMMIT")

    def rollback(self) -> None:
        self._execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


class PostgresExecutor(DatabaseExecutor):
    """The executor-protocol factory for PostgreSQL: ``PostgresExecutor(backend=...,
    workers=...)``.

    ``backend`` is ignored (the workers are threads); ``workers`` connections run the batch
    (at least 2), on a table of this executor's own, dropped by :meth:`close`. ``isolation``
    is one of :data:`LEVELS`; ``dsn`` a libpq connection string (default
    :func:`server_dsn`).
    """

    level: str | None = None
    """The isolation level this factory fixes (None: ``AETHEL_PG_ISOLATION``, else
    serializable)."""

    def __init__(self, backend: str = "thread", workers: int = 2, isolation: str | None = None,
                 dsn: str | None = None, retries: int = RETRIES) -> None:
        chosen = isolation or self.level or os.environ.get(ISOLATION_ENV) or SERIALIZABLE
        if chosen not in LEVELS:
            where = "isolation" if isolation or self.level else ISOLATION_ENV
            raise InputError(f"must be one of {', '.join(LEVELS)}, got {chosen!r}", where)
        self.isolation = chosen
        dsn = dsn or server_dsn()
        self.table = sql.Identifier(f"aethel_accounts_{os.getpid()}_{next(_TABLES)}")
        self.admin = connect(dsn)
        sessions: list[PostgresSession] = []
        try:
            self.admin.execute(sql.SQL(
                "CREATE TABLE {} (name TEXT PRIMARY KEY, balance BIGINT NOT NULL, "
                "version TEXT NOT NULL)").format(self.table))
            for _ in range(worker_count(workers)):
                sessions.append(PostgresSession(dsn, self.table, chosen))
        except BaseException:
            for session in sessions:
                session.close()
            self._drop()
            raise
        super().__init__(sessions, retries)

    def load(self, accounts: Mapping[str, int]) -> None:
        with self.admin.transaction():
            self.admin.execute(sql.SQL("TRUNCATE {}").format(self.table))
            with self.admin.cursor().copy(sql.SQL(
                    "COPY {} (name, balance, version) FROM STDIN").format(self.table)) as copy:
                for name, balance in accounts.items():
                    copy.write_row((name, balance, "init"))

    def balances(self) -> dict[str, int]:
        rows = self.admin.execute(sql.SQL("SELECT name, balance FROM {}").format(self.table))
        return dict(rows.fetchall())

    def close(self) -> None:
        super().close()
        self._drop()

    def _drop(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.table))
        self.admin.close()


class ReadCommitted(PostgresExecutor):
    """:class:`PostgresExecutor` at READ COMMITTED."""

    level = READ_COMMITTED


class RepeatableRead(PostgresExecutor):
    """:class:`PostgresExecutor` at REPEATABLE READ (snapshot isolation)."""

    level = REPEATABLE_READ


class Serializable(PostgresExecutor):
    """:class:`PostgresExecutor` at SERIALIZABLE."""

    level = SERIALIZABLE
