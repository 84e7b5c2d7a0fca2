"""Errors raised by the engine.

Input errors (:class:`InputError` and subclasses) mean the batch or a file is
invalid; the CLI turns them into exit code 2 with one message. An
:class:`EnvironmentFailure` means the machine, not the input, failed (a full disk, a
folder that cannot be written); the CLI turns it into exit code 3. Transaction
failures (:class:`TransactionFailure`) abort one transaction and are recorded
as its outcome. Execution errors (timeouts, crashed workers) abort a whole
batch after it has been rolled back.
"""

from __future__ import annotations

from collections.abc import Callable


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` (``Type`` alone when the message is empty) for anything raised by
    code the project does not control; never raises, whatever ``exc``'s ``__str__`` does."""
    name, message = _text(lambda: type(exc).__name__), _text(lambda: str(exc))
    return f"{name}: {message}" if message else name


def _text(produce: Callable[[], object]) -> str:
    """``produce()`` as a plain ``str``, or ``<unprintable>`` if that raises anything."""
    try:
        return str.__str__(produce())  # an exact str, even from a str subclass
    except BaseException:
        return "<unprintable>"


class AethelError(Exception):
    """Base of every error the project raises on purpose."""


class InputError(AethelError):
    """Invalid input: a batch, a trace or an argument. ``where`` names the field or line."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class EnvironmentFailure(AethelError):
    """The environment failed (disk, permissions). ``where`` names the option or file."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class BatchFormatError(InputError):
    """A batch document does not follow docs/batch-format.md."""


class DuplicateTransactionError(InputError):
    """Two transactions share an id."""


class UnknownDependencyError(InputError):
    """An ``after`` list names a transaction that is not in the batch."""


class UnknownAccountError(InputError):
    """An operation names an account that the batch does not declare."""


class CircularDependencyError(InputError):
    """Explicit ``after`` dependencies form a cycle; ``cycle`` lists it, first id repeated last."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("explicit dependencies form a cycle: " + " → ".join(cycle))


class TransactionFailure(AethelError):
    """A transaction cannot complete; it aborts and leaves no write behind."""


class InsufficientFundsError(TransactionFailure):
    """A transfer or withdrawal exceeds the balance."""


class AmountOverflowError(TransactionFailure):
    """A balance would leave [0, 2^63-1]."""


class UndeclaredAccessError(TransactionFailure):
    """A transaction touched an account outside its declared read or write set."""


class TransactionCancelled(TransactionFailure):
    """The batch was cancelled (timeout) while the transaction ran."""


class ExecutionError(AethelError):
    """A batch could not finish; its effects were rolled back before this was raised.

    ``completed`` and ``pending`` count transactions; ``trace`` holds the events recorded;
    ``final_states`` the balances after the rollback (the batch's initial balances).
    """

    def __init__(self, message: str, completed: int, pending: int, trace: list | None = None,
                 final_states: dict[str, int] | None = None):
        self.completed = completed
        self.pending = pending
        self.trace = trace or []
        self.final_states = final_states or {}
        super().__init__(f"{message} ({completed} completed, {pending} pending; rolled back)")


class ExecutionTimeout(ExecutionError):
    """The batch exceeded the executor's timeout."""


class WorkerCrashedError(ExecutionError):
    """A worker process died while running the batch."""


class ExecutionInterrupted(ExecutionError):
    """The batch was stopped from outside (a signal: see :meth:`ParallelExecutor.interrupt`)."""
