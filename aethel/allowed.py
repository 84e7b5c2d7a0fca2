"""The modules whose functions a ``call`` operation may name: nothing else is ever imported.

Allowed are the sample operations shipped with Aethel (:data:`DEFAULT`), the modules named
in the environment variable ``AETHEL_ALLOW_MODULES`` (comma-separated; the command line's
``--allow-module`` adds to it, and worker processes are given the environment) and the
modules that installed packages register in the entry-point group ``aethel.operations``
(each entry point's value names a module). A module is allowed by its exact name:
allowing ``a.b`` allows neither ``a``, ``a.bc`` nor the submodule ``a.b.c``. Deciding
never imports anything.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib.metadata import entry_points

from aethel.errors import InputError

ENV = "AETHEL_ALLOW_MODULES"
ENTRY_POINT_GROUP = "aethel.operations"
DEFAULT = frozenset({"aethel.examples"})


def is_module_name(name: str) -> bool:
    """Whether ``name`` is a dotted Python module name (``a``, ``a.b``)."""
    return all(part.isidentifier() and part.isascii() for part in name.split("."))


def allow(modules: Iterable[str], where: str = "--allow-module") -> None:
    """Allow ``modules`` in this process and in every process it starts from now on."""
    names = [m.strip() for m in modules]
    for name in names:
        if not is_module_name(name):
            raise InputError(f"must be a dotted module name, got {name!r}", where)
    if not names:
        return
    merged = _from_env(os.environ.get(ENV, "")) | frozenset(names)
    os.environ[ENV] = ",".join(sorted(merged))


def allowed_modules() -> frozenset[str]:
    """Every module allowed now: the default, the environment and the entry points."""
    return DEFAULT | _from_env(os.environ.get(ENV, "")) | _registered()


def check_allowed(function: str, where: str) -> None:
    """Raise :class:`InputError` naming ``where`` unless ``function``'s module is allowed."""
    module = function.partition(":")[0]
    if module not in allowed_modules():
        hint = (f"; allow it with --allow-module {module} or {ENV}" if is_module_name(module)
                else "")
        raise InputError(f"{module!r} is not an allowed module{hint}", where)


@functools.lru_cache(maxsize=8)
def _from_env(value: str) -> frozenset[str]:
    return frozenset(name.strip() for name in value.split(",") if name.strip())


@functools.cache
def _registered() -> frozenset[str]:
    return frozenset(ep.module for ep in entry_points(group=ENTRY_POINT_GROUP))
