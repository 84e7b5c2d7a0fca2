"""What the command line prints: text from files and from code under test, made safe for a
terminal.

A reason, a path or a name can carry control characters (an escape sequence that rewrites
the screen, a carriage return that hides a line), bidirectional overrides that make text
read in another order than it runs, or lone surrogates that cannot be encoded. Every line
the commands print goes through :func:`echo`, which shows such characters as escapes.
"""

from __future__ import annotations

import re

import click

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with every unsafe character (see the module) written as ``\\xNN`` or
    ``\\uNNNN``; newlines and tabs are kept."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def echo(message: object = "", err: bool = False) -> None:
    """``click.echo`` of :func:`printable` text."""
    click.echo(printable(str(message)), err=err)
