"""`@task`: a tracked step of a flow, with retries, timeouts, tags,
futures (`.submit`) and mapping (`.map`)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from typing import Any, Callable, Dict, Generic, Iterable, List, Optional, Sequence, TypeVar, Union, overload

from . import _context, _engine
from .futures import OrchFuture, OrchFutureList

__all__ = ["Task", "task", "exponential_backoff", "unmapped"]

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

RetryDelay = Union[float, Sequence[float], Callable[[int], Sequence[float]], None]


def exponential_backoff(backoff_factor: float) -> Callable[[int], List[float]]:
    """Delays `backoff_factor * 2**n` seconds for `retry_delay_seconds`
    (as Prefect's `exponential_backoff`)."""

    def delays(retries: int) -> List[float]:
        return [backoff_factor * 2**n for n in range(max(retries, 1))]

    return delays


class unmapped:
    """Wraps an argument of `task.map(...)` that is passed whole to every call."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Task(Generic[R]):
    """A function whose calls are task runs. Made by `@task`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: Optional[str] = None,
        retries: int = 0,
        retry_delay_seconds: RetryDelay = 0,
        retry_jitter_factor: Optional[float] = None,
        timeout_seconds: Optional[float] = None,
        tags: Optional[Iterable[str]] = None,
        log_prints: Optional[bool] = None,
        description: Optional[str] = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        if retries < 0:
            raise ValueError(f"task {name or fn.__name__!r}: retries must be 0 or more, got {retries}")
        self.fn = fn
        self.name = name or fn.__name__
        self.retries = int(retries)
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_jitter_factor = retry_jitter_factor
        self.timeout_seconds = timeout_seconds
        self.tags = list(tags or [])
        self.log_prints = log_prints
        self.description = description or inspect.getdoc(fn)
        self.isasync = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def with_options(self, **options: Any) -> "Task[R]":
        """A copy with some options changed (`name=`, `retries=`, `tags=`...)."""
        current: Dict[str, Any] = dict(
            name=self.name,
            retries=self.retries,
            retry_delay_seconds=self.retry_delay_seconds,
            retry_jitter_factor=self.retry_jitter_factor,
            timeout_seconds=self.timeout_seconds,
            tags=self.tags,
            log_prints=self.log_prints,
            description=self.description,
        )
        current.update(options)
        return Task(self.fn, **current)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task and returns its value (raises its error once its retries
        are spent). An async task returns a coroutine inside an event loop, and
        runs to its end when called from sync code."""
        flow = _engine.flow_or_local()
        if self.isasync:
            coroutine = self._call_async(flow, args, kwargs)
            return coroutine if _in_event_loop() else asyncio.run(coroutine)
        token = _context.flow_run_var.set(flow)
        try:
            return _engine.run_sync(self, _engine.TaskRunHandle(self, flow), args, kwargs, None)
        finally:
            _context.flow_run_var.reset(token)

    async def _call_async(self, flow: _context.FlowRunContext, args: Any, kwargs: Any) -> Any:
        token = _context.flow_run_var.set(flow)
        try:
            return await _engine.run_async(self, _engine.TaskRunHandle(self, flow), args, kwargs, None)
        finally:
            _context.flow_run_var.reset(token)

    def submit(self, *args: Any, wait_for: Optional[Iterable[Any]] = None, **kwargs: Any) -> OrchFuture[R]:
        """Starts the task on the flow's thread pool; returns its future at once.
        Futures among the arguments (or in `wait_for`) are waited for first and
        recorded as the task run's upstream edges."""
        flow = _engine.flow_or_local()
        handle = _engine.TaskRunHandle(self, flow)
        future: OrchFuture[R] = OrchFuture(handle.id, handle.name)
        handle.future = future
        token = _context.flow_run_var.set(flow)
        try:
            context = contextvars.copy_context()
        finally:
            _context.flow_run_var.reset(token)

        def job() -> None:
            try:
                if self.isasync:
                    value = context.run(asyncio.run, _engine.run_async(self, handle, args, kwargs, wait_for))
                else:
                    value = context.run(_engine.run_sync, self, handle, args, kwargs, wait_for)
            except BaseException as error:
                future._future.set_exception(error)
            else:
                future._future.set_result(value)

        flow.shared.pool().submit(job)
        return future

    def map(self, *args: Any, wait_for: Optional[Iterable[Any]] = None, **kwargs: Any) -> OrchFutureList[R]:
        """Submits one task run per item: iterable arguments (lists, tuples,
        futures of lists, ...) are mapped item by item, all of the same length;
        wrap an iterable in `unmapped(...)` to pass it whole to every run."""
        names = list(range(len(args))) + list(kwargs)
        values = list(args) + list(kwargs.values())
        mapped: Dict[Any, List[Any]] = {}
        for key, value in zip(names, values):
            if isinstance(value, unmapped):
                continue
            if isinstance(value, OrchFuture):
                value = value.result()
            if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
                continue
            mapped[key] = list(value)
        if not mapped:
            raise TypeError(f"task {self.name!r}.map(...) needs at least one iterable argument to map over")
        lengths = {len(items) for items in mapped.values()}
        if len(lengths) != 1:
            detail = ", ".join(f"{k if isinstance(k, str) else f'argument {k}'}: {len(v)}" for k, v in mapped.items())
            raise ValueError(f"task {self.name!r}.map(...): the mapped arguments differ in length ({detail})")
        futures: OrchFutureList[R] = OrchFutureList()
        for index in range(lengths.pop()):
            call_args = []
            for position, value in enumerate(args):
                call_args.append(mapped[position][index] if position in mapped else _unwrap(value))
            call_kwargs = {k: (mapped[k][index] if k in mapped else _unwrap(v)) for k, v in kwargs.items()}
            futures.append(self.submit(*call_args, wait_for=wait_for, **call_kwargs))
        return futures

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, unmapped) else value


@overload
def task(__fn: F) -> Task[Any]: ...


@overload
def task(
    __fn: None = None,
    *,
    name: Optional[str] = None,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    retry_jitter_factor: Optional[float] = None,
    timeout_seconds: Optional[float] = None,
    tags: Optional[Iterable[str]] = None,
    log_prints: Optional[bool] = None,
    description: Optional[str] = None,
) -> Callable[[F], Task[Any]]: ...


def task(__fn: Optional[Callable[..., Any]] = None, **options: Any) -> Any:
    """Makes a function a task: `@task` or `@task(name=, retries=,
    retry_delay_seconds=, retry_jitter_factor=, timeout_seconds=, tags=,
    log_prints=)`, on sync and async functions, as in Prefect.

    `retry_delay_seconds` is a number, a list (one delay per retry, the last
    repeated) or `exponential_backoff(factor)`. Tags with a concurrency limit
    on the server (`orch concurrency-limit create TAG N`) are honoured.
    """
    if __fn is not None:
        return Task(__fn, **options)
    return lambda fn: Task(fn, **options)
