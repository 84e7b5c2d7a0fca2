"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os

import pytest

from aethel.allowed import ENV


@pytest.fixture(autouse=True)
def _isolated_allow_list(monkeypatch):
    """Whatever a test (or a command it runs with ``--allow-module``) adds to the modules
    ``call`` operations may use is undone after it."""
    monkeypatch.setenv(ENV, os.environ.get(ENV, ""))
