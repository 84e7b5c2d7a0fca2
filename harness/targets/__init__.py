"""Databases as executors under test: every transaction of a batch is one database
transaction, all of them at once, and the harness judges what the database did
(docs/targets.md).

* :mod:`harness.targets.sql` — the shared runner: the database-backed Context, retries, the
  trace;
* :mod:`harness.targets.sqlite` — SQLite (``SQLiteExecutor``, ``SQLiteDeferred``);
* :mod:`harness.targets.postgres` — PostgreSQL (``PostgresExecutor``, ``ReadCommitted``,
  ``RepeatableRead``, ``Serializable``);
* :mod:`harness.targets.pgserver` — a throwaway PostgreSQL server.
"""
