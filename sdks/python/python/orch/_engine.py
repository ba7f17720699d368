"""How a task run goes: created (Pending), its inputs resolved, its
concurrency slots taken, then attempts (Running / Retrying) until it
Completes, Fails with its retries spent, or the run is Cancelled; each
state reported through the native TaskRun, as the Rust SDK does."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from . import _context, _native, _timeout
from .exceptions import RunCancelled, TaskTimeoutError, UpstreamTaskError
from .futures import OrchFuture, State
from .logging import get_run_logger

if TYPE_CHECKING:
    from .tasks import Task

_FINAL = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


class TaskRunHandle:
    """One task run of this process: its native record, and its future if submitted."""

    __slots__ = ("record", "id", "name", "flow", "future", "lock", "final")

    def __init__(self, task: "Task[Any, Any]", flow: _context.FlowRunContext) -> None:
        self.flow = flow
        self.name = task.name
        self.record = _native.TaskRun(
            flow.flow_run_id, self.name, list(task.tags), task.retries, flow.client
        )
        self.id: str = self.record.id
        self.future: Optional[OrchFuture[Any]] = None
        self.lock = threading.Lock()
        self.final = False
        with flow.shared.lock:
            flow.shared.active.add(self)

    def enter(self, kind: str, name: str, message: str = "", wait: bool = True) -> bool:
        """Enters a state (ignored once a final state was entered)."""
        if not self.lock.acquire(timeout=-1 if wait else 0.5):
            return False
        try:
            if self.final:
                return False
            self.record.enter(kind, name, message)
            if kind in _FINAL:
                self.final = True
                with self.flow.shared.lock:
                    self.flow.shared.active.discard(self)
            if self.future is not None:
                self.future._set_state(State(kind, name, message))
            return True
        finally:
            self.lock.release()

    def cancelled(self) -> RunCancelled:
        """Reports Cancelled; the error to raise."""
        self.enter("CANCELLED", "Cancelled", "the flow run was cancelled")
        return RunCancelled(f"task run {self.name!r} was cancelled: {self.flow.shared.cancel_reason or 'the flow run was cancelled'}")


def flow_or_local() -> _context.FlowRunContext:
    """The calling flow's context, or a local one for a task called outside any flow."""
    flow = _context.current_flow()
    if flow is None:
        shared = _context.RunShared(f"local-{uuid.uuid4()}", None)
        flow = _context.FlowRunContext(shared, "(no flow)")
    return flow


def cancel_run(shared: _context.RunShared, reason: str) -> None:
    """Marks the run cancelled and reports its unfinished task runs
    Cancelled, and so for the subflow runs it is running."""
    shared.cancel_reason = reason
    shared.cancel.set()
    if shared.client is not None:
        shared.client.cancel()
    with shared.lock:
        active = list(shared.active)
        subflows = list(shared.subflows)
    for subflow in subflows:
        cancel_run(subflow, reason)
    for handle in active:
        try:
            handle.enter("CANCELLED", "Cancelled", reason, wait=False)
        except Exception:
            pass


# -- inputs -------------------------------------------------------------------


def _resolve(value: Any, shared: _context.RunShared, upstream: Set[str]) -> Any:
    """`value` with futures replaced by their results; records edges."""
    if isinstance(value, OrchFuture):
        upstream.add(value.task_run_id)
        try:
            return value.result()
        except BaseException as error:
            raise UpstreamTaskError(
                f"upstream task run {value.task_name!r} failed: {type(error).__name__}: {error}"
            ) from error
    producer = shared.producer(value)
    if producer is not None:
        upstream.add(producer)
        return value
    kind = type(value)
    if kind is list or kind is tuple:
        return kind(_resolve(item, shared, upstream) for item in value)
    if kind is dict:
        return {key: _resolve(item, shared, upstream) for key, item in value.items()}
    return value


def resolve_inputs(
    args: Tuple[Any, ...], kwargs: Dict[str, Any], wait_for: Optional[Iterable[Any]], shared: _context.RunShared
) -> Tuple[Tuple[Any, ...], Dict[str, Any], List[str]]:
    """Arguments with futures resolved, and the upstream task run ids."""
    upstream: Set[str] = set()
    for future in wait_for or ():
        if isinstance(future, OrchFuture):
            upstream.add(future.task_run_id)
            future.wait()
    args = tuple(_resolve(a, shared, upstream) for a in args)
    kwargs = {k: _resolve(v, shared, upstream) for k, v in kwargs.items()}
    return args, kwargs, sorted(upstream)


# -- results and errors -------------------------------------------------------


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    return repr(value)


def result_json(value: Any) -> str:
    """A task's result as JSON for the server, summarised if large."""
    try:
        text = json.dumps(value, default=_default)
    except Exception as error:  # circular, ...
        return json.dumps({"unserializable": str(error)})
    if len(text) > _native.MAX_RESULT_BYTES:
        return json.dumps({"truncated": True, "bytes": len(text.encode())})
    return text


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _traceback(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()


def _humanize(seconds: float) -> str:
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


def retry_delay(task: "Task[Any, Any]", attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based)."""
    delays = task.retry_delay_seconds
    if callable(delays):
        delays = delays(task.retries)
    if isinstance(delays, (list, tuple)):
        base = float(delays[min(attempt - 1, len(delays) - 1)]) if delays else 0.0
    else:
        base = float(delays or 0)
    if task.retry_jitter_factor:
        base += random.uniform(0, base * task.retry_jitter_factor)
    return base


# -- attempts -----------------------------------------------------------------


def _task_context(task: "Task[Any, Any]", handle: TaskRunHandle, attempt: int, upstream: List[str]) -> _context.TaskRunContext:
    log_prints = task.log_prints if task.log_prints is not None else handle.flow.log_prints
    return _context.TaskRunContext(handle.id, handle.name, attempt, log_prints, upstream)


class _TaskInterrupted(TaskTimeoutError):
    """Raised in a sync task's thread past its timeout, to stop it."""


def _call_with_timeout(fn: Callable[[], Any], timeout: Optional[float], name: str) -> Any:
    """`fn()`; with a timeout, in a thread of its own, stopped past it by
    raising the timeout error in that thread (see `_timeout`)."""

    def timed_out() -> TaskTimeoutError:
        return TaskTimeoutError(f"task {name!r} timed out after {_humanize(timeout or 0)}")

    return _timeout.call_with_timeout(fn, timeout, f"orch-timeout-{name}", _TaskInterrupted, timed_out)


def _cpu_measured(handle: TaskRunHandle, fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn`, adding the CPU time of the thread that runs it
    (`time.thread_time()`) to the task run's."""

    def measured() -> Any:
        start = time.thread_time()
        try:
            return fn()
        finally:
            try:
                handle.record.add_cpu_seconds(time.thread_time() - start)
            except RuntimeError:  # an abandoned (timed-out) attempt ending late
                pass

    return measured


class _CpuSteps:
    """An awaitable running coroutine `coro`, timing each of its steps
    (`time.thread_time()` around each `send`/`throw`) and adding their sum
    to the task run's CPU time when it ends: the event loop's thread runs
    other tasks between the steps, which are not counted."""

    __slots__ = ("coro", "handle")

    def __init__(self, coro: Any, handle: TaskRunHandle) -> None:
        self.coro = coro
        self.handle = handle

    def __await__(self) -> Any:
        coro, total = self.coro, 0.0
        sent: Any = None
        thrown: Optional[BaseException] = None
        try:
            while True:
                start = time.thread_time()
                try:
                    yielded = coro.send(sent) if thrown is None else coro.throw(thrown)
                except StopIteration as stop:
                    return stop.value
                finally:
                    total += time.thread_time() - start
                sent, thrown = None, None
                try:
                    sent = yield yielded
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as error:  # cancellation, a timeout: into the task
                    thrown = error
        finally:
            try:
                self.handle.record.add_cpu_seconds(total)
            except RuntimeError:
                pass


def _succeeded(handle: TaskRunHandle, value: Any, upstream: List[str]) -> Any:
    handle.record.set_upstream(upstream)
    handle.record.set_result_json(result_json(value))
    handle.enter("COMPLETED", "Completed")
    handle.flow.shared.remember(value, handle.id)
    return value


def _failed(task: "Task[Any, Any]", handle: TaskRunHandle, error: BaseException, attempt: int, upstream: List[str]) -> Optional[float]:
    """After a failed attempt: the delay before the next one, or None when
    the task has failed for good (reported, with its traceback)."""
    shared = handle.flow.shared
    logger = get_run_logger()
    if attempt <= task.retries and not shared.cancel.is_set() and not isinstance(error, UpstreamTaskError):
        delay = retry_delay(task, attempt)
        note = f"attempt {attempt} failed: {_short(error)}; retrying in {_humanize(delay)}"
        logger.warning(note)
        handle.enter("SCHEDULED", "AwaitingRetry", note)
        return delay
    text = _traceback(error)
    logger.error(f"task run failed after {attempt} attempt(s): {text}")
    handle.record.set_upstream(upstream)
    handle.record.set_error(text)
    handle.enter("FAILED", "TimedOut" if isinstance(error, TaskTimeoutError) else "Failed", _short(error))
    return None


def run_sync(task: "Task[Any, Any]", handle: TaskRunHandle, args: Tuple[Any, ...], kwargs: Dict[str, Any], wait_for: Optional[Iterable[Any]]) -> Any:
    """Runs a sync task to its end in this thread; returns its value or raises."""
    shared = handle.flow.shared
    try:
        args, kwargs, upstream = resolve_inputs(args, kwargs, wait_for, shared)
    except UpstreamTaskError as error:
        _fail_unstarted(handle, error)
        raise
    if not handle.record.take_slots():
        raise handle.cancelled()
    try:
        attempt = 1
        while True:
            if shared.cancel.is_set():
                raise handle.cancelled()
            handle.record.set_attempt(attempt)
            handle.enter("RUNNING", "Running" if attempt == 1 else "Retrying")
            token = _context.task_run_var.set(_task_context(task, handle, attempt, upstream))
            try:
                call = _cpu_measured(handle, lambda: task.fn(*args, **kwargs))
                value = _call_with_timeout(call, task.timeout_seconds, handle.name)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as error:
                if shared.cancel.is_set():
                    raise handle.cancelled() from error
                delay = _failed(task, handle, error, attempt, upstream)
                if delay is None:
                    raise
            else:
                return _succeeded(handle, value, upstream)
            finally:
                _context.task_run_var.reset(token)
            if shared.cancel.wait(delay):
                raise handle.cancelled()
            attempt += 1
    finally:
        handle.record.release_slots()


async def run_async(task: "Task[Any, Any]", handle: TaskRunHandle, args: Tuple[Any, ...], kwargs: Dict[str, Any], wait_for: Optional[Iterable[Any]]) -> Any:
    """Runs an async task to its end on the running event loop."""
    shared = handle.flow.shared
    loop = asyncio.get_running_loop()
    try:
        if any(isinstance(a, OrchFuture) for a in list(args) + list(kwargs.values())) or wait_for:
            args, kwargs, upstream = await loop.run_in_executor(None, resolve_inputs, args, kwargs, wait_for, shared)
        else:
            args, kwargs, upstream = resolve_inputs(args, kwargs, None, shared)
    except UpstreamTaskError as error:
        _fail_unstarted(handle, error)
        raise
    if task.tags and shared.client is not None:
        if not await loop.run_in_executor(None, handle.record.take_slots):
            raise handle.cancelled()
    try:
        attempt = 1
        while True:
            if shared.cancel.is_set():
                raise handle.cancelled()
            handle.record.set_attempt(attempt)
            handle.enter("RUNNING", "Running" if attempt == 1 else "Retrying")
            token = _context.task_run_var.set(_task_context(task, handle, attempt, upstream))
            try:
                call = task.fn(*args, **kwargs)
                if asyncio.iscoroutine(call):
                    call = _CpuSteps(call, handle)
                if task.timeout_seconds:
                    try:
                        value = await asyncio.wait_for(call, task.timeout_seconds)
                    except asyncio.TimeoutError:
                        raise TaskTimeoutError(
                            f"task {handle.name!r} timed out after {_humanize(task.timeout_seconds)}"
                        ) from None
                else:
                    value = await call
            except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
                raise
            except BaseException as error:
                if shared.cancel.is_set():
                    raise handle.cancelled() from error
                delay = _failed(task, handle, error, attempt, upstream)
                if delay is None:
                    raise
            else:
                return _succeeded(handle, value, upstream)
            finally:
                _context.task_run_var.reset(token)
            await asyncio.sleep(delay)
            attempt += 1
    finally:
        if task.tags and shared.client is not None:
            await loop.run_in_executor(None, handle.record.release_slots)


def _fail_unstarted(handle: TaskRunHandle, error: BaseException) -> None:
    get_run_logger().error(f"task run {handle.name!r} not run: {error}")
    handle.record.set_error(str(error))
    handle.enter("FAILED", "Failed", str(error))
