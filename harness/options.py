"""Parsing of the command line's list-valued options (shared by ``verify`` and ``bench``)."""

from __future__ import annotations

from aethel.errors import InputError


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
