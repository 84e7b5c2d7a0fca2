"""Shared pytest configuration: Hypothesis profiles and xdist worker count.

``HYPOTHESIS_PROFILE`` picks ``dev`` (default, quick), ``ci`` (derandomized, no deadline,
bounded examples) or ``thorough`` (many examples).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from aethel.cores import usable_cores

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` means the usable cores (affinity and cgroup quota), not os.cpu_count()."""
    return usable_cores()
