"""The command line's shared options and their checks: module allowance, the serial order
runs are judged against, names chosen from a list, and positive numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from aethel.allowed import ENV, allow
from aethel.errors import InputError
from harness.checks.orders import BATCH, ORDERS

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


def order_option(default: str | None = BATCH, also: str = "") -> Callable[[F], F]:
    """``--order batch|any``: judge runs against batch order (what Aethel's engine promises)
    or against any serial order the run fits (what a database promises); ``also`` ends the
    help text."""
    return click.option(
        "--order", type=click.Choice(ORDERS), default=default, show_default=default is not None,
        help="The serial order runs are judged against: 'batch' (batch order, moved only by "
             "'after') or 'any' (a witness order found by strict serializability: serial "
             "equivalence runs the oracle in it, dependency order is not judged; for "
             f"databases, which promise some serial order).{also}")


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


def positive(value: float | None, option: str) -> None:
    """Raise :class:`InputError` at ``option`` unless ``value`` is None or positive."""
    if value is not None and value <= 0:
        raise InputError(f"must be positive, got {value}", option)


def positive_option(ctx: click.Context, param: click.Parameter, value: float | None
                    ) -> float | None:
    """Click callback: :func:`positive` for the option's value."""
    positive(value, param.opts[0])
    return value


def positive_counts(values: tuple[str, ...], option: str) -> tuple[int, ...] | None:
    """Comma-separated or repeated positive integers, sorted and deduplicated; None if none
    were given."""
    items = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not items:
        return None
    try:
        counts = tuple(sorted({int(n) for n in items}))
    except ValueError:
        raise InputError(f"must be positive integers, got {','.join(items)}", option) from None
    positive(counts[0], option)
    return counts
