"""The verdict on a history in plain words: for a violation, the operation that cannot take
effect first, then the order that got furthest and why each other next step fails."""

from __future__ import annotations

from harness.history.model import describe, show
from harness.history.wgl import PartitionResult, Result

SHOWN = 8
"""Operations of the longest order listed (the last ones)."""


def explain(result: Result, shown: int = SHOWN) -> str:
    """``result`` in plain words, one fact per line."""
    checked = sum(len(p.operations) for p in result.partitions)
    parts = len(result.partitions)
    effort = (f"{result.steps} search steps, {result.cache_entries} cache entries, "
              f"{result.seconds:.3g} s")
    scope = f"{checked} operations in {parts} partition{'s' * (parts != 1)}"
    if result.outcome == "linearizable":
        return f"linearizable: {scope} ({result.model} model; {effort})"
    if result.outcome == "unknown":
        done = sum(p.outcome != "unknown" for p in result.partitions)
        return (f"unknown: the search did not finish within {result.timeout:g} s "
                f"({scope}, {done} settled; {effort})")
    lines = [f"NOT LINEARIZABLE: {scope} ({result.model} model; {effort})"]
    for part in result.partitions:
        if part.outcome == "not linearizable":
            lines += _violation(part, result, shown)
    stopped = sum(p.outcome == "unknown" for p in result.partitions)
    if stopped:
        lines.append(f"{stopped} other partition{'s were' if stopped > 1 else ' was'} not "
                     f"finished: the search stops at the first violation.")
    return "\n".join(lines)


def _violation(part: PartitionResult, result: Result, shown: int) -> list[str]:
    culprit = part.culprit
    within = "" if part.key is None else f" (key {show(part.key)})"
    reason = next(why for op, why in part.candidates if op.id == culprit.id)
    lines = [f"Cannot take effect{within}: {describe(culprit)}: {reason}.",
             f"It completed (line {culprit.ret_line}) before it could take effect in any "
             f"order of the operations that respects real time."]
    prefix = part.prefix
    if prefix:
        lines.append(f"The longest order found has {len(prefix)} operation"
                     f"{'s' * (len(prefix) != 1)}; its last ones:")
        first = max(0, len(prefix) - shown)
        lines += [f"  {n}. {describe(op)}" for n, op in enumerate(prefix[first:], first + 1)]
    else:
        lines.append("No operation can take effect first.")
    lines.append(f"After {'it' if prefix else 'none'}, {part.state_text}.")
    others = [(op, why) for op, why in part.candidates if op.id != culprit.id]
    if others:
        lines.append("The other operations that could come next:")
        lines += [f"  - {describe(op)}: {why}" for op, why in others]
    return lines

