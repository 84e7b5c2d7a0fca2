"""Input and output files: bounded reads of regular files, strict JSON, atomic writes.

Inputs (batches, traces, counterexamples, summaries, results) may come from elsewhere:
only regular files are read, never more than a byte limit (whatever ``st_size`` says), and
JSON with a duplicate key is rejected; every problem is an :class:`InputError`. Outputs
are written to a temporary file in the target's folder and renamed over the target, so a
failed write leaves the previous file or none; a failure of the disk or of permissions is
an :class:`EnvironmentFailure`. :func:`check_output` refuses, before any work, an output
that is one of the inputs and a destination that cannot be written.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from aethel.errors import EnvironmentFailure, InputError

MAX_INPUT_BYTES = 512 * 1024 * 1024
"""Bytes a batch, counterexample, summary or result file may hold."""
MAX_TRACE_BYTES = 8 * 1024 * 1024 * 1024
"""Bytes a trace may hold (it is read line by line, not at once)."""
MAX_LINE_BYTES = 64 * 1024 * 1024
"""Bytes one line of a trace may hold."""


@contextmanager
def _open_input(path: str | Path, what: str) -> Iterator[IO[bytes]]:
    """``path`` opened for reading if it is a regular file; never blocks on a FIFO."""
    where = str(path)
    irregular = f"the {what} is not a regular file (it is a directory, FIFO or device)"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(irregular, where)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", where) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the first look
            raise InputError(irregular, where)
        try:
            yield fh
        except OSError as exc:
            raise InputError(f"cannot read {what}: {exc.strerror}", where) from None


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (a ``what``, for messages), at most ``limit``
    of them."""
    where = str(path)
    with _open_input(path, what) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"file is over the {limit}-byte limit", where)
    return data


def input_lines(path: str | Path, what: str, limit: int = MAX_TRACE_BYTES) -> Iterator[str]:
    """The lines of the regular UTF-8 text file ``path`` (a ``what``), read one by one: at
    most ``limit`` bytes in all and :data:`MAX_LINE_BYTES` per line."""
    where = str(path)
    total = 0
    with _open_input(path, what) as fh:
        for number in itertools.count(1):
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            total += len(raw)
            if total > limit:
                raise InputError(f"file is over the {limit}-byte limit", where)
            if len(raw) > MAX_LINE_BYTES:
                raise InputError(f"line is over the {MAX_LINE_BYTES}-byte limit",
                                 f"{where}: line {number}")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"the {what} is not UTF-8 text",
                                 f"{where}: line {number}") from None


class DuplicateKey(Exception):
    """A key that appears twice in one JSON object (``args[0]`` is the key)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON ``object_pairs_hook`` that refuses a key appearing twice
    (:class:`DuplicateKey`)."""
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return doc


def parse_json(raw: str | bytes, where: str) -> Any:
    """Parse one JSON document; invalid JSON, nesting too deep for the parser and a key
    that appears twice in one object are :class:`InputError`."""
    try:
        return json.loads(raw, object_pairs_hook=unique_keys)
    except DuplicateKey as exc:
        raise InputError(f"duplicate key {exc.args[0]!r}", where) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long int literals
        raise InputError(f"not valid JSON ({exc})", where) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", where) from None


def read_json(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES) -> Any:
    """:func:`parse_json` of :func:`read_input`."""
    return parse_json(read_input(path, what, limit), str(path))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once resolved, or (when both
    exist) the same device and inode — through a symbolic or a hard link."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_output(path: Path, where: str, inputs: Iterable[Path] = ()) -> None:
    """Before any work: refuse an output that is one of ``inputs`` (:class:`InputError`)
    or whose folder cannot be written (:class:`EnvironmentFailure`)."""
    for source in inputs:
        if same_file(path, source):
            raise InputError(f"{path} is the input file {source}; refusing to overwrite it",
                             where)
    check_folder(path.parent, where)


def check_folder(folder: Path, where: str) -> None:
    """Raise :class:`EnvironmentFailure` unless a file can be created in ``folder``."""
    probe = _temporary(folder / "probe")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write in folder {folder}: {exc.strerror}",
                                 where) from None


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """A text file that replaces ``path`` only once everything was written and synced.

    On any failure the temporary file is removed and ``path`` is left as it was; an
    ``OSError`` becomes an :class:`EnvironmentFailure` naming ``path``."""
    path = Path(path)
    temporary = _temporary(path)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(temporary)
        raise


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_writer`."""
    with atomic_writer(path) as fh:
        fh.write(text)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name[:150]}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
