"""A third-party executor with one deliberate bug, verified through the executor protocol.

``OneWave`` is the worked example of docs/examples/waves_executor.py with its dependency
analysis ignored: every transaction runs in one wave.
"""

from __future__ import annotations

import waves_executor


class OneWave(waves_executor.WavesExecutor):
    """Runs the whole batch as one wave, whatever the dependencies."""

    def execute(self, batch):
        original = waves_executor.independent_sets
        waves_executor.independent_sets = lambda graph: [
            sorted(graph.nodes, key=lambda n: graph.nodes[n]["serial"])]
        try:
            return super().execute(batch)
        finally:
            waves_executor.independent_sets = original
