"""``python -m harness.cli``: the ``aethel`` command."""

from harness.cli import entry

entry()
