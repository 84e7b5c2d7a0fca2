"""A throwaway PostgreSQL cluster: ``initdb`` and ``pg_ctl`` in a temporary folder.

The server listens on a Unix socket in that folder only (``listen_addresses = ''``), trusts
local connections and is tuned for tests (no fsync). PostgreSQL refuses to run as root: a
root process runs ``initdb`` and the server as the ``postgres`` user (else ``nobody``), the
owner of the folder. Every failure is an :class:`~aethel.errors.EnvironmentFailure` in one
sentence.

    with PostgresServer() as server:
        connect(server.dsn)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from aethel.errors import EnvironmentFailure

START_TIMEOUT = 60
"""Seconds ``initdb`` and the server's start may each take."""
STOP_TIMEOUT = 60
"""Seconds the server's stop may take."""
SUPERUSER = "postgres"
"""The cluster's superuser, whom its DSN names."""
PORT = 5432
"""The port in the socket's name (the socket is in the cluster's own folder)."""
SETTINGS = {
    "listen_addresses": "",
    "port": str(PORT),
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "256",
    "deadlock_timeout": "50ms",
}
"""Settings appended to the cluster's postgresql.conf (the socket folder is added)."""
OWNERS = ("postgres", "nobody")
"""Users a root process runs the cluster as, the first that exists."""


def find_bindir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, then ``PATH``, then
    the newest ``/usr/lib/postgresql/*/bin``."""
    candidates: list[Path] = []
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               timeout=30, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    except OSError:
        pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates.extend(Path(p) for p in sorted(versions, key=_version, reverse=True))
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise EnvironmentFailure("PostgreSQL's initdb and pg_ctl were not found (pg_config "
                             "--bindir, PATH, /usr/lib/postgresql/*/bin): install PostgreSQL, "
                             "or set AETHEL_PG_DSN to a running server")


def _version(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _owner() -> pwd.struct_passwd | None:
    """The user to run the cluster as when this process is root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in OWNERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise EnvironmentFailure("PostgreSQL refuses to run as root and neither a 'postgres' nor "
                             "a 'nobody' user exists to run it as")


class PostgresServer:
    """A cluster in a fresh temporary folder; :meth:`start` it, :meth:`stop` it (which
    removes the folder). ``dsn`` connects to its ``postgres`` database as superuser."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir
        self.folder: Path | None = None
        self._owner: pwd.struct_passwd | None = None

    @property
    def dsn(self) -> str:
        """The libpq connection string of the running server."""
        if self.folder is None:
            raise EnvironmentFailure("the PostgreSQL server is not running")
        return f"host={self.folder} port={PORT} user={SUPERUSER} dbname=postgres"

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; return ``self``."""
        bindir = self.bindir or find_bindir()
        self._owner = _owner()
        folder = Path(tempfile.mkdtemp(prefix="aethel-pg-"))
        self.folder = folder
        try:
            if self._owner is not None:
                os.chown(folder, self._owner.pw_uid, self._owner.pw_gid)
            data = folder / "data"
            self._run([bindir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust",
                       "-E", "UTF8", "--locale=C", "--no-sync"], "initdb", START_TIMEOUT)
            settings = {**SETTINGS, "unix_socket_directories": str(folder)}
            with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
                for name, value in settings.items():
                    conf.write(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n")
            log = folder / "server.log"
            self._run([bindir / "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT), "-D", data,
                       "-l", log], "pg_ctl start", START_TIMEOUT + 10, log)
        except BaseException:
            self._remove()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, else immediate) and remove its folder; idempotent."""
        if self.folder is None:
            return
        bindir = self.bindir or find_bindir()
        data = self.folder / "data"
        try:
            if (data / "postmaster.pid").exists():
                try:
                    self._run([bindir / "pg_ctl", "stop", "-w", "-m", "fast", "-t",
                               str(STOP_TIMEOUT), "-D", data], "pg_ctl stop", STOP_TIMEOUT + 10)
                except EnvironmentFailure:
                    self._run([bindir / "pg_ctl", "stop", "-w", "-m", "immediate", "-D", data],
                              "pg_ctl stop", STOP_TIMEOUT + 10)
        finally:
            self._remove()

    def _remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _run(self, command: list[str | Path], what: str, timeout: float,
             log: Path | None = None) -> None:
        """Run a PostgreSQL program as the cluster's owner; fail in one sentence (the last
        line of its output, or of ``log`` if that exists)."""
        owner = self._owner
        extra = {} if owner is None else {"user": owner.pw_uid, "group": owner.pw_gid,
                                          "extra_groups": []}
        try:
            done = subprocess.run([str(part) for part in command], cwd=self.folder,
                                  capture_output=True, text=True, timeout=timeout, check=False,
                                  **extra)
        except subprocess.TimeoutExpired:
            raise EnvironmentFailure(f"{what} did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise EnvironmentFailure(f"{what} could not be run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            output = done.stderr + done.stdout
            if log is not None and log.is_file():
                output = log.read_text(errors="replace")
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise EnvironmentFailure(f"{what} failed: {why}")

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
