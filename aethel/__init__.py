"""Aethel Synchrony engine: batches, dependency analysis, the ParallelExecutor, traces."""

from aethel.analysis import (
    DependencyDag,
    conflict_report,
    critical_path,
    dependency_dag,
    dependency_graph,
    independent_sets,
    serial_order,
)
from aethel.batchfile import batch_from_json, batch_to_json, dump_batch, load_batch, loads_batch
from aethel.context import ExecutionContext
from aethel.errors import (
    AethelError,
    BatchFormatError,
    CircularDependencyError,
    ExecutionTimeout,
    InputError,
    UndeclaredAccessError,
    WorkerCrashedError,
)
from aethel.executor import ExecutionResult, ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import (
    Call,
    Deposit,
    GuardedWithdraw,
    Hash,
    Read,
    Sleep,
    Spin,
    Transfer,
    Withdraw,
)
from aethel.outcome import Outcome
from aethel.trace import Event, read_jsonl, write_jsonl

__all__ = [
    "AethelError", "Batch", "BatchFormatError", "Call", "CircularDependencyError",
    "DependencyDag", "Deposit", "Event", "ExecutionContext", "ExecutionResult",
    "ExecutionTimeout", "GuardedWithdraw", "Hash", "InputError", "Outcome", "ParallelExecutor",
    "Read", "Sleep", "Spin", "Transaction", "Transfer", "UndeclaredAccessError", "Withdraw",
    "WorkerCrashedError", "batch_from_json", "batch_to_json", "conflict_report", "critical_path",
    "dependency_dag", "dependency_graph", "dump_batch", "independent_sets", "load_batch",
    "loads_batch", "read_jsonl", "serial_order", "write_jsonl",
]
