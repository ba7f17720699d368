"""Futures of submitted tasks: `task.submit(...)` and `task.map(...)`.

A future passed as an argument to another task is resolved first (its result
is passed) and records the graph edge between the two task runs.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Generic, Iterable, Iterator, List, NamedTuple, Optional, Set, TypeVar

__all__ = ["OrchFuture", "PrefectFuture", "State", "wait", "as_completed", "DoneAndNotDoneFutures", "OrchFutureList"]

R = TypeVar("R")


class State:
    """A task run's state as this process knows it: `type` is one of
    PENDING, SCHEDULED, RUNNING, COMPLETED, FAILED, CANCELLED; `name` is its
    display name (e.g. "AwaitingRetry")."""

    __slots__ = ("type", "name", "message")

    def __init__(self, type: str, name: str, message: str = "") -> None:
        self.type = type
        self.name = name
        self.message = message

    def is_completed(self) -> bool:
        """The task returned a value."""
        return self.type == "COMPLETED"

    def is_failed(self) -> bool:
        """The task failed (its retries spent)."""
        return self.type == "FAILED"

    def is_cancelled(self) -> bool:
        """The run was cancelled before the task ended."""
        return self.type == "CANCELLED"

    def is_final(self) -> bool:
        """The task run has ended."""
        return self.type in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")

    def is_pending(self) -> bool:
        """The task has not started."""
        return self.type in ("PENDING", "SCHEDULED")

    def is_running(self) -> bool:
        """The task is running."""
        return self.type == "RUNNING"

    def __repr__(self) -> str:
        return f"State(type={self.type!r}, name={self.name!r})"


class OrchFuture(Generic[R]):
    """The eventual result of a submitted task run."""

    def __init__(self, task_run_id: str, task_name: str) -> None:
        self.task_run_id = task_run_id
        self.task_name = task_name
        self._future: "concurrent.futures.Future[R]" = concurrent.futures.Future()
        self._state = State("PENDING", "Pending")
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        """The task run's current state."""
        return self._state

    def _set_state(self, state: State) -> None:
        self._state = state

    def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until the task run ends (or `timeout` seconds pass)."""
        concurrent.futures.wait([self._future], timeout=timeout)

    def result(self, timeout: Optional[float] = None, raise_on_failure: bool = True) -> R:
        """The task's return value; raises its exception if it failed (or
        returns the exception with `raise_on_failure=False`).

        Raises:
            TimeoutError: the task run did not end within `timeout` seconds.
        """
        try:
            return self._future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            if not self._future.done():
                raise TimeoutError(
                    f"task run {self.task_name!r} did not end within {timeout} s"
                ) from None
            # The task's own error (a TaskTimeoutError is a TimeoutError too).
            if raise_on_failure:
                raise
            return self._future.exception()  # type: ignore[return-value]
        except BaseException as error:
            if raise_on_failure:
                raise
            return error  # type: ignore[return-value]

    def done(self) -> bool:
        """Whether the task run has ended."""
        return self._future.done()

    def add_done_callback(self, fn: Callable[["OrchFuture[R]"], None]) -> None:
        """Calls `fn(future)` once the task run ends."""
        self._future.add_done_callback(lambda _: fn(self))

    def __repr__(self) -> str:
        return f"OrchFuture({self.task_name!r}, {self._state.type})"


#: Prefect's name for the same thing.
PrefectFuture = OrchFuture


class OrchFutureList(List[OrchFuture[R]]):
    """The futures of `task.map(...)`."""

    def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until every task run has ended."""
        wait(self, timeout=timeout)

    def result(self, timeout: Optional[float] = None, raise_on_failure: bool = True) -> List[R]:
        """Every task's result, in order."""
        return [f.result(timeout=timeout, raise_on_failure=raise_on_failure) for f in self]


class DoneAndNotDoneFutures(NamedTuple):
    """What `wait` returns."""

    done: Set[OrchFuture[Any]]
    not_done: Set[OrchFuture[Any]]


def wait(futures: Iterable[OrchFuture[Any]], timeout: Optional[float] = None) -> DoneAndNotDoneFutures:
    """Waits until every future has ended, or `timeout` seconds have passed."""
    futures = list(futures)
    by_inner = {id(f._future): f for f in futures}
    done, not_done = concurrent.futures.wait([f._future for f in futures], timeout=timeout)
    return DoneAndNotDoneFutures(
        {by_inner[id(f)] for f in done}, {by_inner[id(f)] for f in not_done}
    )


def as_completed(futures: Iterable[OrchFuture[Any]], timeout: Optional[float] = None) -> Iterator[OrchFuture[Any]]:
    """Yields the futures as their task runs end.

    Raises:
        TimeoutError: some did not end within `timeout` seconds.
    """
    futures = list(futures)
    by_inner = {id(f._future): f for f in futures}
    try:
        for inner in concurrent.futures.as_completed([f._future for f in futures], timeout=timeout):
            yield by_inner[id(inner)]
    except concurrent.futures.TimeoutError:
        raise TimeoutError(f"futures did not all end within {timeout} s") from None
