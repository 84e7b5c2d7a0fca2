"""Small valid documents of every kind Aethel reads, for tests that break them."""

from __future__ import annotations

import copy
from typing import Any

BATCH: dict[str, Any] = {  # never mutate: copy it
    "version": 1, "mode": "independent", "accounts": {"a": 10, "b": 0},
    "transactions": [
        {"id": "t1", "ops": [{"op": "transfer", "from": "a", "to": "b", "amount": 3}]},
        {"id": "t2", "ops": [{"op": "read", "account": "b"}], "after": ["t1"]},
    ],
}


def counterexample() -> dict[str, Any]:
    """A counterexample ``aethel replay`` accepts (it does not reproduce: exit 0)."""
    return {"format": "aethel-counterexample", "version": 1, "executor": "aethel",
            "backend": "thread", "workers": 1, "batch": copy.deepcopy(BATCH),
            "switch_interval": 0.005, "example_timeout": 10.0, "executor_timeout": None}


def summary() -> dict[str, Any]:
    """A campaign summary with a counterexample, as ``aethel verify`` writes it."""
    ce = {**counterexample(), "kind": "violation", "error": None, "transactions": 2,
          "transactions_before_shrinking": 5, "shard": 0, "seed": 0,
          "verdicts": [{"property": "serializability", "ok": False,
                        "lines": ["t2 read b=0, serially 3"],
                        "counterexample": {"txns": ["t1", "t2"]}},
                       {"property": "conservation", "ok": True, "lines": ["holds"]}],
          "trace": [{"event": "START", "txn": "t1", "ts": 0, "worker": 0},
                    {"event": "COMMIT", "txn": "t1", "ts": 1500, "worker": 0},
                    {"event": "START", "txn": "t2", "ts": 100, "worker": 1},
                    {"event": "ABORT", "txn": "t2", "ts": 900}]}
    return {"run_id": "verify-seed0-x", "machine": {"cpus": 2, "python": "3.11"},
            "config": {"executor": "aethel", "backends": ["thread"], "workers": 2, "jobs": 1,
                       "examples": 5, "budget": None, "seed": 0, "profile": "quick"},
            "ok": False, "complete": True, "examples": 5, "shards": 1, "seconds": 1.5,
            "throughput_examples_per_s": 3.3,
            "properties": {"serializability": {"passed": 4, "failed": 1},
                           "conservation": {"passed": 5, "failed": 0}},
            "counterexample": ce, "note": None, "cluster": None,
            "coverage": {"examples": 5, "features": [
                {"feature": "mode.atomic", "group": "modes", "description": "atomic batch",
                 "examples": 5},
                {"feature": "shape.empty", "group": "shapes", "description": "no operations",
                 "examples": 0}]}}
