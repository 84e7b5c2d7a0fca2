"""Parsing of the command line's list-valued options (shared by several commands)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from aethel.allowed import ENV, allow
from aethel.errors import InputError

F = TypeVar("F", bound=Callable)


def _allow(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    allow(value)


def allow_module_option(command: F) -> F:
    """``--allow-module MOD`` (repeatable): let ``call`` operations name functions of
    ``MOD`` (see :mod:`aethel.allowed`); applied before the command runs."""
    return click.option(
        "--allow-module", "allow_modules", multiple=True, metavar="MOD", expose_value=False,
        callback=_allow,
        help=f"Allow `call` operations to run functions of module MOD (exact name; "
             f"repeatable; also {ENV}=MOD,MOD). aethel.examples is always allowed.")(command)


def choose_names(values: tuple[str, ...], known: tuple[str, ...], option: str
                 ) -> tuple[str, ...] | None:
    """Comma-separated or repeated names, checked against ``known`` and deduplicated in
    order; None if none were given."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        return None
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"choose from {', '.join(known)}; got unknown "
                         f"{', '.join(map(repr, unknown))}", option)
    return tuple(dict.fromkeys(names))
