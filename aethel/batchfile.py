"""The batch JSON format (docs/batch-format.md): load with validation, dump for round trips.

Every error is a :class:`~aethel.errors.BatchFormatError` (or another
:class:`~aethel.errors.InputError`) naming the field, e.g.
``transactions[3].ops[0].amount: must be in [0, 2^63-1], got -5``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from aethel.allowed import check_allowed, is_module_name
from aethel.errors import BatchFormatError
from aethel.files import MAX_INPUT_BYTES, parse_json, read_input, write_atomic
from aethel.model import MODES, Batch, Transaction, check_amount, check_floor
from aethel.operations import (
    Call,
    Deposit,
    GuardedWithdraw,
    Hash,
    Operation,
    Read,
    Sleep,
    Spin,
    Transfer,
    Withdraw,
    resolve_function,
)

MAX_ARGS_DEPTH = 32
"""How deeply the ``args`` of a ``call`` may nest (the object itself is level 1)."""
_OP_FIELDS = {
    "transfer": {"from", "to", "amount"},
    "deposit": {"account", "amount"},
    "withdraw": {"account", "amount"},
    "guarded_withdraw": {"account", "other", "amount", "floor"},
    "read": {"account"},
    "spin": {"us", "iterations"},
    "hash": {"bytes"},
    "sleep": {"ms"},
    "call": {"function", "reads", "writes", "args"},
}
_TX_FIELDS = {"id", "ops", "reads", "writes", "after"}
_BATCH_FIELDS = {"version", "mode", "accounts", "transactions"}


def load_batch(path: str | Path, max_bytes: int = MAX_INPUT_BYTES) -> Batch:
    """Read and validate a batch file (a regular file of at most ``max_bytes``)."""
    return loads_batch(read_input(path, "batch file", max_bytes), str(path))


def loads_batch(raw: str | bytes, where: str = "batch") -> Batch:
    """Parse and validate a batch document from text or bytes."""
    return batch_from_json(parse_json(raw, where))


def batch_from_json(doc: Any) -> Batch:
    """Build a batch from a parsed JSON document."""
    if not isinstance(doc, dict):
        raise BatchFormatError("a batch must be a JSON object", "batch")
    _no_unknown(doc, _BATCH_FIELDS, "batch")
    version = doc.get("version", 1)
    if type(version) is not int or version != 1:
        raise BatchFormatError(f"only version 1 is supported, got {version!r}", "version")
    mode = doc.get("mode", "independent")
    if mode not in MODES:
        raise BatchFormatError(f"must be one of {', '.join(MODES)}, got {mode!r}", "mode")
    accounts = doc.get("accounts")
    if not isinstance(accounts, dict):
        raise BatchFormatError("must be an object mapping account names to balances", "accounts")
    txs = doc.get("transactions")
    if not isinstance(txs, list):
        raise BatchFormatError("must be a list", "transactions")
    return Batch(accounts, tuple(_transaction(t, f"transactions[{i}]") for i, t in enumerate(txs)),
                 mode)


def _transaction(doc: Any, where: str) -> Transaction:
    if not isinstance(doc, dict):
        raise BatchFormatError("a transaction must be an object", where)
    _no_unknown(doc, _TX_FIELDS, where)
    tx_id = doc.get("id")
    if not isinstance(tx_id, str) or not tx_id:
        raise BatchFormatError("must be a non-empty string", f"{where}.id")
    ops = doc.get("ops")
    if not isinstance(ops, list):
        raise BatchFormatError("must be a list of operations", f"{where}.ops")
    return Transaction(
        tx_id,
        tuple(_operation(op, f"{where}.ops[{i}]") for i, op in enumerate(ops)),
        frozenset(_names(doc.get("reads", []), f"{where}.reads")),
        frozenset(_names(doc.get("writes", []), f"{where}.writes")),
        tuple(_names(doc.get("after", []), f"{where}.after")),
    )


def _operation(doc: Any, where: str) -> Operation:
    if not isinstance(doc, dict):
        raise BatchFormatError("an operation must be an object", where)
    kind = doc.get("op")
    if not isinstance(kind, str) or kind not in _OP_FIELDS:
        raise BatchFormatError(f"unknown operation {kind!r} (known: {', '.join(_OP_FIELDS)})",
                               f"{where}.op")
    _no_unknown(doc, _OP_FIELDS[kind] | {"op"}, where)
    if kind == "transfer":
        return Transfer(_name(doc, "from", where), _name(doc, "to", where), _amount(doc, where))
    if kind == "deposit":
        return Deposit(_name(doc, "account", where), _amount(doc, where))
    if kind == "withdraw":
        return Withdraw(_name(doc, "account", where), _amount(doc, where))
    if kind == "guarded_withdraw":
        return GuardedWithdraw(_name(doc, "account", where), _name(doc, "other", where),
                               _amount(doc, where),
                               check_floor(_field(doc, "floor", where), f"{where}.floor"))
    if kind == "read":
        return Read(_name(doc, "account", where))
    if kind == "spin":
        if ("us" in doc) == ("iterations" in doc):
            raise BatchFormatError("spin takes exactly one of 'us' or 'iterations'", where)
        key = "us" if "us" in doc else "iterations"
        return Spin(**{key: _count(doc[key], f"{where}.{key}")})
    if kind == "hash":
        return Hash(_count(_field(doc, "bytes", where), f"{where}.bytes"))
    if kind == "sleep":
        ms = _field(doc, "ms", where)
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) \
                or not 0 <= ms <= 86_400_000:
            raise BatchFormatError(f"must be a number of milliseconds >= 0, got {ms!r}",
                                   f"{where}.ms")
        return Sleep(ms)
    return _call(doc, where)


def _call(doc: dict[str, Any], where: str) -> Call:
    function = _field(doc, "function", where)
    module, _, attr = function.partition(":") if isinstance(function, str) else ("", "", "")
    if not is_module_name(module) or not is_module_name(attr):
        raise BatchFormatError("must be 'module:function'", f"{where}.function")
    check_allowed(function, f"{where}.function")
    try:
        resolve_function(function)
    except Exception as exc:  # any import-time failure of user code is bad input
        raise BatchFormatError(f"cannot import {function!r}: {type(exc).__name__}: {exc}",
                               f"{where}.function") from None
    args = doc.get("args", {})
    if not isinstance(args, dict):
        raise BatchFormatError("must be an object", f"{where}.args")
    if _depth(args) > MAX_ARGS_DEPTH:
        raise BatchFormatError(f"nested more than {MAX_ARGS_DEPTH} levels deep",
                               f"{where}.args")
    return Call(function, tuple(_names(doc.get("reads", []), f"{where}.reads")),
                tuple(_names(doc.get("writes", []), f"{where}.writes")),
                tuple(sorted(args.items())))


def _depth(value: Any) -> int:
    """How many lists and objects nest in ``value`` (0 for a scalar), counted without
    recursion and only up to one level past :data:`MAX_ARGS_DEPTH`."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list) and deepest <= MAX_ARGS_DEPTH:
            deepest = max(deepest, level)
            stack.extend((child, level + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _field(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise BatchFormatError(f"missing field {key!r}", where)
    return doc[key]


def _name(doc: dict[str, Any], key: str, where: str) -> str:
    value = _field(doc, key, where)
    if not isinstance(value, str) or not value:
        raise BatchFormatError(f"must be a non-empty account name, got {value!r}",
                               f"{where}.{key}")
    return value


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BatchFormatError("must be a list of non-empty strings", where)
    return value


def _amount(doc: dict[str, Any], where: str) -> int:
    return check_amount(_field(doc, "amount", where), f"{where}.amount")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
        raise BatchFormatError(f"must be a whole number >= 0, got {value!r}", where)
    return value


def _no_unknown(doc: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(doc) - known)
    if unknown:
        raise BatchFormatError(f"unknown field {unknown[0]!r}", where)


def operation_to_json(op: Operation) -> dict[str, Any]:
    """One operation in the batch format."""
    match op:
        case Transfer():
            return {"op": "transfer", "from": op.src, "to": op.dst, "amount": op.amount}
        case Deposit() | Withdraw():
            return {"op": op.kind, "account": op.account, "amount": op.amount}
        case GuardedWithdraw():
            return {"op": "guarded_withdraw", "account": op.account, "other": op.other,
                    "amount": op.amount, "floor": op.floor}
        case Read():
            return {"op": "read", "account": op.account}
        case Spin():
            return {"op": "spin", **({"us": op.us} if op.iterations is None
                                     else {"iterations": op.iterations})}
        case Hash():
            return {"op": "hash", "bytes": op.nbytes}
        case Sleep():
            return {"op": "sleep", "ms": op.ms}
        case Call():
            return {"op": "call", "function": op.function, "reads": list(op.call_reads),
                    "writes": list(op.call_writes), "args": dict(op.args)}
    raise TypeError(f"not an operation: {op!r}")


def batch_to_json(batch: Batch) -> dict[str, Any]:
    """The batch as a JSON document that :func:`batch_from_json` reads back unchanged."""
    txs = []
    for tx in batch.transactions:
        derived_reads = {a for op in tx.ops for a in op.reads}
        derived_writes = {a for op in tx.ops for a in op.writes}
        doc: dict[str, Any] = {"id": tx.id, "ops": [operation_to_json(op) for op in tx.ops]}
        if tx.reads - derived_reads:
            doc["reads"] = sorted(tx.reads - derived_reads)
        if tx.writes - derived_writes:
            doc["writes"] = sorted(tx.writes - derived_writes)
        if tx.after:
            doc["after"] = list(tx.after)
        txs.append(doc)
    return {"version": 1, "mode": batch.mode, "accounts": dict(batch.accounts),
            "transactions": txs}


def dump_batch(batch: Batch, path: str | Path) -> None:
    """Write ``batch`` as JSON (atomically)."""
    write_atomic(path, json.dumps(batch_to_json(batch), indent=1) + "\n")
