"""The linearizability search of Wing & Gong, with Lowe's cache (as in Porcupine and Knossos).

The calls and returns of a partition's operations form a doubly linked list in time order.
The search walks it from the head: at a call it tries to make that operation take effect
(the model's ``step``); if it may, and the pair (set of linearized operations, state) is
new, the operation is lifted out of the list, pushed on a stack, and the walk restarts
from the head. Reaching a return means the operation returning there cannot have taken
effect yet in any order tried: the search backtracks by popping the last operation and
trying the next call after it. The history is linearizable when every completed operation
has been lifted; ``info`` operations have no return, so they may take effect at any time
after their call or never. A model may add a pruner that tells, for a new state, that
some operation can no longer take effect (the kv model: a get whose value cannot be
built any more): the search then backtracks at once. Each partition is searched alone;
partitions are interleaved in rounds of a fixed step budget, or spread over processes, so
a slow partition never delays the verdict of a violating one.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from harness.history.formats import Event
from harness.history.model import Input, Model, describe
from harness.history.operations import Operation, operations

OUTCOMES = ("linearizable", "not linearizable", "unknown")
ROUND_STEPS = 4096
"""Search steps a partition takes before the next partition's turn."""
EXPLAIN_STEPS = 65536
"""Steps of the plain search (without the model's pruner) that explains a violation."""
WARMUP = 0.2
"""Seconds partitions are interleaved in this process before the rest go to processes."""
WORKER_POLL = 0.2
"""Seconds between looks at whether a worker process has died."""
_RET = -1  # match of a return entry
_NORET = -2  # match of an info operation's call: it has no return


@dataclass
class PartitionResult:
    """The search of one partition. ``prefix`` is the longest sequence of operations found
    that takes effect in order (all of them when linearizable), ``state`` the model's state
    after it (``state_text`` in words); when the search was stuck there, ``culprit`` is the
    operation that had to take effect next and could not, and ``candidates`` each operation
    that could have come next with why it does not work."""

    key: Any
    outcome: str
    operations: list[Operation]
    prefix: list[Operation]
    state: Hashable
    state_text: str
    culprit: Operation | None
    candidates: list[tuple[Operation, str]]
    steps: int
    cache_entries: int
    seconds: float


@dataclass
class Result:
    """The verdict on a history: ``outcome`` is one of :data:`OUTCOMES`."""

    outcome: str
    model: str
    fail: str
    partitions: list[PartitionResult]
    seconds: float
    timeout: float | None = None

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.partitions)

    @property
    def cache_entries(self) -> int:
        return sum(p.cache_entries for p in self.partitions)


class _Search:
    """The resumable search of one partition (see the module)."""

    def __init__(self, ops: list[Operation], model: Model, prune: bool = True) -> None:
        self.ops, self.model = ops, model
        order = sorted([(op.call, 0, i) for i, op in enumerate(ops)]
                       + [(op.ret, 1, i) for i, op in enumerate(ops) if op.ret != math.inf])
        size = len(order)
        self.head, tail = size, size + 1
        self.op_of = [i for _, _, i in order] + [-1, -1]
        position = {(kind, i): k for k, (_, kind, i) in enumerate(order)}
        self.match = [_RET if kind else position.get((1, i), _NORET) for _, kind, i in order]
        self.match += [_RET, _RET]
        self.nxt = list(range(1, size + 1)) + [0, tail]
        self.prv = [self.head] + list(range(size - 1)) + [self.head, size - 1]
        if not size:
            self.nxt[self.head], self.prv[tail] = tail, self.head
        self.inputs = [Input(op.f, op.value) for op in ops]
        self.outputs = [op.status for op in ops]
        self.bits = [1 << i for i in range(len(ops))]
        self.pure = [op.status == "fail" or op.f in model.readonly for op in ops]
        self.memo: list[dict[Hashable, tuple[bool, Hashable]]] = [{} for _ in ops]
        self.cache: dict[int, set[Hashable]] = {}
        self.hopeless = model.pruner(ops) if prune else None
        self.entry = self.nxt[self.head]
        self.state = model.init()
        self.linearized = 0
        self.stack_entries: list[int] = []
        self.stack_states: list[Hashable] = []
        self.remaining = sum(op.ret != math.inf for op in ops)
        self.steps = self.cache_entries = 0
        self.seconds = 0.0
        self.best_depth = -1
        self.best: tuple[list[int], Hashable, int | None, list[int]] = ([], self.state, None, [])
        self.outcome = "linearizable" if not self.remaining else None

    def run(self, budget: int) -> str | None:
        """Search for at most ``budget`` steps; the outcome, or None if not finished."""
        if self.outcome:
            return self.outcome
        started = time.perf_counter()
        nxt, prv, match, op_of = self.nxt, self.prv, self.match, self.op_of
        memo, cache, step = self.memo, self.cache, self.model.step
        inputs, outputs, head, tail = self.inputs, self.outputs, self.head, self.head + 1
        bits, pure, hopeless = self.bits, self.pure, self.hopeless
        stack_entries, stack_states = self.stack_entries, self.stack_states
        entry, state, linearized = self.entry, self.state, self.linearized
        remaining, added = self.remaining, 0
        left = budget
        while left:
            left -= 1
            returns = match[entry]
            if returns != _RET:
                op = op_of[entry]
                known = memo[op]
                effect = known.get(state)
                if effect is None:
                    effect = known[state] = step(state, inputs[op], outputs[op])
                if not effect[0]:
                    entry = nxt[entry]
                    continue
                after, lifted = effect[1], linearized | bits[op]
                seen = cache.get(lifted)
                if seen is None:
                    cache[lifted] = {after}
                elif after not in seen:
                    seen.add(after)
                elif pure[op]:
                    entry = tail
                    continue
                else:
                    entry = nxt[entry]
                    continue
                added += 1
                if hopeless is not None and not pure[op] and hopeless(after, lifted) is not None:
                    entry = nxt[entry]
                    continue
                stack_entries.append(entry)
                stack_states.append(state)
                state, linearized = after, lifted
                before, following = prv[entry], nxt[entry]
                nxt[before], prv[following] = following, before
                if returns >= 0:
                    before, following = prv[returns], nxt[returns]
                    nxt[before], prv[following] = following, before
                    remaining -= 1
                    if not remaining:
                        self.outcome = "linearizable"
                        self._remember(None, state)
                        break
                entry = nxt[head]
                continue
            if entry != tail and len(stack_entries) > self.best_depth:
                self._remember(entry, state)
            while True:
                if not stack_entries:
                    self.outcome = "not linearizable"
                    break
                entry, state = stack_entries.pop(), stack_states.pop()
                op = op_of[entry]
                linearized ^= bits[op]
                returns = match[entry]
                if returns >= 0:
                    nxt[prv[returns]] = prv[nxt[returns]] = returns
                    remaining += 1
                nxt[prv[entry]] = prv[nxt[entry]] = entry
                if not pure[op]:
                    break
            if self.outcome:
                break
            entry = nxt[entry]
        self.entry, self.state, self.linearized, self.remaining = entry, state, linearized, \
            remaining
        self.steps += budget - left
        self.cache_entries += added
        self.seconds += time.perf_counter() - started
        return self.outcome

    def _remember(self, stuck: int | None, state: Hashable) -> None:
        """Keep the current prefix as the longest; ``stuck`` is the return entry reached
        (None: every operation took effect)."""
        frontier, entry = [], self.nxt[self.head]
        while stuck is not None and entry != stuck:
            frontier.append(entry)
            entry = self.nxt[entry]
        self.best_depth = len(self.stack_entries)
        self.best = (list(self.stack_entries), state, stuck, frontier)

    def result(self, key: Any) -> PartitionResult:
        """The partition's result. A violation found with the model's pruner is explained
        by the plain search when that settles within :data:`EXPLAIN_STEPS` or gets
        further (so the culprit is an operation that cannot take effect, not one that the
        pruner ruled out on another's account); its steps count too."""
        shown, steps, entries, seconds = self, self.steps, self.cache_entries, self.seconds
        if self.outcome == "not linearizable" and self.hopeless is not None:
            plain = _Search(self.ops, self.model, prune=False)
            plain.run(EXPLAIN_STEPS)
            if plain.outcome or plain.best_depth > self.best_depth:
                shown = plain
            steps, entries = steps + plain.steps, entries + plain.cache_entries
            seconds += plain.seconds
        prefix_entries, state, stuck, frontier = shown.best
        culprit = None if stuck is None else self.ops[self.op_of[stuck]]
        linearized = sum(self.bits[self.op_of[e]] for e in prefix_entries)
        candidates = []
        for entry in frontier:
            op = self.op_of[entry]
            ok, after = self.model.step(state, self.inputs[op], self.outputs[op])
            blocked = None if not ok or self.hopeless is None or self.pure[op] else \
                self.hopeless(after, linearized | self.bits[op])
            rest = ("the other operations cannot all take effect in any order"
                    if blocked is None else
                    f"{describe(self.ops[blocked])} can no longer take effect")
            why = f"it could take effect here ({self.model.describe_state(after)}), but " \
                f"then {rest}" if ok else \
                self.model.refusal(state, self.inputs[op], self.outputs[op])
            candidates.append((self.ops[op], why))
        candidates.sort(key=lambda c: c[0] is not culprit)
        return PartitionResult(key, self.outcome or "unknown", self.ops,
                               [self.ops[self.op_of[e]] for e in prefix_entries], state,
                               self.model.describe_state(state),
                               culprit if self.outcome != "linearizable" else None,
                               candidates if self.outcome != "linearizable" else [],
                               steps, entries, seconds)


def _interleave(searches: dict[int, _Search], until: float) -> int | None:
    """Run the searches round-robin until each finished, one is not linearizable (its
    index is returned) or ``until`` (a ``time.monotonic``) passed."""
    pending = [i for i, s in searches.items() if s.outcome is None]
    while pending and time.monotonic() < until:
        for i in list(pending):
            outcome = searches[i].run(ROUND_STEPS)
            if outcome == "not linearizable":
                return i
            if outcome:
                pending.remove(i)
    return None


def _worker(share: int, parts: dict[int, _Search | list[Operation]], model: Model,
            until: float, results: Any) -> None:
    """A process's share of the partitions (searches carried on from where they were, in a
    forked process, or started afresh from their operations): each result is put on
    ``results`` once known (all of them, finished or not, by ``until``), then
    ``(None, share)``."""
    searches = {i: part if isinstance(part, _Search) else _Search(part, model)
                for i, part in parts.items()}
    sent: set[int] = set()
    while len(sent) < len(searches):
        violating = _interleave(searches, min(until, time.monotonic() + 0.05))
        out = time.monotonic() >= until
        for i, search in searches.items():
            if i not in sent and (search.outcome or out or violating is not None):
                results.put((i, search.result(None)))
                sent.add(i)
        if violating is not None:
            break
    results.put((None, share))


def _in_processes(searches: dict[int, _Search], model: Model, until: float, jobs: int
                  ) -> dict[int, PartitionResult]:
    """Finish the unfinished searches in ``jobs`` processes: forked, where they carry on
    from where this process left them, when this process runs no other thread (forking
    one that does can deadlock the child); else spawned, where they start afresh. A worker
    that dies leaves the partitions it did not report to the caller."""
    pending = [i for i, s in searches.items() if s.outcome is None]
    fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    results = ctx.Queue()
    shares = [pending[j::jobs] for j in range(min(jobs, len(pending)))]
    workers = [ctx.Process(target=_worker, daemon=True, name="aethel-history",
                           args=(j, {i: searches[i] if fork else searches[i].ops
                                     for i in share}, model, until, results))
               for j, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    found: dict[int, PartitionResult] = {}
    running = set(range(len(workers)))
    try:
        while running and time.monotonic() < until + 1.0:
            try:
                index, partial = results.get(timeout=WORKER_POLL)
            except queue.Empty:
                running -= {j for j in running if not workers[j].is_alive()}
                continue
            if index is None:
                running.discard(partial)
                continue
            found[index] = partial
            if partial.outcome == "not linearizable":
                break
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()
        results.close()
    return found


def check(history: list[Event], model: Model, fail: str = "drop", timeout: float | None = None,
          jobs: int = 1, where: str = "history") -> Result:
    """Whether ``history`` is linearizable with respect to ``model``.

    ``fail`` is ``"drop"`` (failed operations had no effect: Knossos) or ``"assert"``
    (a failed cas stays as the claim that the state differed from its ``old``: Porcupine's
    etcd model). After ``timeout`` seconds the outcome is ``"unknown"``; with ``jobs`` > 1
    partitions that a short first round does not settle are searched in that many processes.
    The search stops at the first partition that is not linearizable (the others that were
    not finished are ``"unknown"``).
    """
    started = time.monotonic()
    until = started + timeout if timeout is not None else math.inf
    ops = operations(history, model, fail, where)
    parts = model.partition(ops)
    searches = dict(enumerate(_Search(p, model) for p in parts))
    found: dict[int, PartitionResult] = {}
    violating = None
    if jobs > 1 and len(parts) > 1:
        violating = _interleave(searches, min(until, started + WARMUP))
        unfinished = sum(s.outcome is None for s in searches.values())
        if violating is None and unfinished > 1:
            found = _in_processes(searches, model, until, jobs)
    if violating is None and all(p.outcome != "not linearizable" for p in found.values()):
        _interleave({i: s for i, s in searches.items() if i not in found}, until)
    results = [found.get(i) or s.result(None) for i, s in searches.items()]
    for part, result in zip(parts, results, strict=True):
        result.key = part[0].key
    outcome = ("not linearizable" if any(r.outcome == "not linearizable" for r in results)
               else "unknown" if any(r.outcome == "unknown" for r in results)
               else "linearizable")
    return Result(outcome, model.name, fail, results, time.monotonic() - started, timeout)

