"""The pytest plugin, used the way a user's own test suite uses it."""

from __future__ import annotations

import os
from pathlib import Path

pytest_plugins = ["pytester"]

USER_TESTS = '''
from hypothesis import given, settings
from aethel.executor import ParallelExecutor
from harness.campaign.strategies import batches
from tests.broken_executors import OneWave

GOOD = ParallelExecutor("thread", 2)
BAD = OneWave(workers=2)

@settings(max_examples=20, database=None, derandomize=True)
@given(batch=batches(contention="high"))
def test_good_executor(aethel_check, batch):
    aethel_check(GOOD, batch)

@settings(max_examples=100, database=None, derandomize=True)
@given(batch=batches(contention="high"))
def test_bad_executor(aethel_check, batch):
    aethel_check(BAD, batch)
'''


def test_plugin_fixture_passes_a_correct_executor_and_explains_a_broken_one(pytester,
                                                                            monkeypatch):
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.path.join(root, "docs",
                                                                             "examples")]))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAIL dependency order*", "*t1*t0*"])
