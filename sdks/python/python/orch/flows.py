"""`@flow`: a function whose call is a flow run (a subflow run, linked to
its parent, inside another flow: see `_subflows`)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, Optional, TypeVar, overload

from . import _context, _engine, _native, _timeout
from ._subflows import SubflowCall
from .exceptions import FlowTimeoutError
from .logging import get_run_logger, install_print_hook
from .tasks import RetryDelay

__all__ = ["Flow", "flow"]

F = TypeVar("F", bound=Callable[..., Any])


class _FlowInterrupted(FlowTimeoutError):
    """Raised in a sync flow's thread past its timeout, to stop it."""

#: Exit code after a cancel (128 + SIGTERM), as the Rust SDK.
EXIT_CANCELLED = 143
#: How long logs and task states may take to reach the server at the end.
FINAL_FLUSH_SECONDS = 30.0


def open_run() -> _context.RunShared:
    """The run this process executes: the worker's (`ORCH_API_URL` and
    `ORCH_FLOW_RUN_ID`), or a local one (`local-<uuid>`) without them. With
    several servers (`ORCH_API_URLS`, comma-separated), the client fails over
    between them as the worker does."""
    api_url = os.environ.get("ORCH_API_URLS", "").strip() or os.environ.get("ORCH_API_URL", "")
    flow_run_id = os.environ.get("ORCH_FLOW_RUN_ID", "")
    if api_url and flow_run_id:
        _native.check_protocol()
        return _context.RunShared(flow_run_id, _native.Client(api_url, flow_run_id))
    return _context.RunShared(f"local-{uuid.uuid4()}", None)


def close_run(shared: _context.RunShared, wait: bool) -> None:
    """Flushes what is queued for the server and stops the run's thread pool."""
    if shared.executor is not None:
        shared.executor.shutdown(wait=wait, cancel_futures=not wait)
    if shared.client is not None and not shared.client.flush(FINAL_FLUSH_SECONDS):
        sys.stderr.write("orch: some task states or log lines could not reach the server\n")


def _running_subflows(shared: _context.RunShared) -> "list[_context.RunShared]":
    """The subflow runs `shared`'s code is running, nested ones included."""
    with shared.lock:
        direct = list(shared.subflows)
    found = []
    for subflow in direct:
        found.append(subflow)
        found.extend(_running_subflows(subflow))
    return found


class _SignalGuard:
    """While a top-level flow runs in the main thread: SIGTERM / SIGINT (a
    cancel from the worker) report the unfinished task runs Cancelled, flush
    and end the process with exit code 143."""

    def __init__(self, shared: _context.RunShared) -> None:
        self.shared = shared
        self.previous: Dict[int, Any] = {}

    def __enter__(self) -> "_SignalGuard":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                try:
                    self.previous[signum] = signal.signal(signum, self._handle)
                except (ValueError, OSError):
                    pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        reason = f"the flow run was cancelled ({signal.Signals(signum).name})"
        sys.stderr.write(f"orch: {reason}: stopping\n")
        _engine.cancel_run(self.shared, reason)
        # The subflow runs' task states first; the server ends the subflow
        # runs themselves with this run (Cancelled) once the worker reports it.
        for shared in _running_subflows(self.shared):
            if shared.client is not None:
                shared.client.flush(2.0)
        if self.shared.client is not None:
            self.shared.client.flush(5.0)
        sys.stderr.flush()
        os._exit(EXIT_CANCELLED)

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            try:
                signal.signal(signum, handler)
            except (ValueError, OSError):
                pass


class Flow:
    """A function whose call is a flow run. Made by `@flow`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: Optional[str] = None,
        retries: int = 0,
        retry_delay_seconds: RetryDelay = 0,
        timeout_seconds: Optional[float] = None,
        log_prints: bool = False,
        description: Optional[str] = None,
        version: Optional[str] = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {fn!r}")
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.retries = int(retries)
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.isasync = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def with_options(self, **options: Any) -> "Flow":
        """A copy with some options changed."""
        current: Dict[str, Any] = dict(
            name=self.name,
            retries=self.retries,
            retry_delay_seconds=self.retry_delay_seconds,
            timeout_seconds=self.timeout_seconds,
            log_prints=self.log_prints,
            description=self.description,
            version=self.version,
        )
        current.update(options)
        return Flow(self.fn, **current)

    def _context(self, shared: _context.RunShared) -> _context.FlowRunContext:
        """The context of a top-level run of this flow."""
        if self.log_prints:
            install_print_hook()
        return _context.FlowRunContext(shared, self.name, self.log_prints)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the flow: a flow run of its own at the top level (reporting to
        the server when started by a worker), and inside another flow a
        subflow: a flow run of its own too, linked to the parent, whose error
        raises here. An async flow returns a coroutine."""
        if self.isasync:
            return self._call_async(args, kwargs)
        parent = _context.current_flow()
        if parent is not None:
            return self._subflow(parent, args, kwargs)
        shared = open_run()
        ok = False
        try:
            with _SignalGuard(shared):
                value = self._attempts(self._context(shared), args, kwargs)
            ok = True
            return value
        finally:
            close_run(shared, wait=ok)

    def _subflow(self, parent: _context.FlowRunContext, args: Any, kwargs: Any) -> Any:
        """Runs this flow as a subflow run of `parent`'s run."""
        if self.log_prints:
            install_print_hook()
        call = SubflowCall(self, parent, args, kwargs)
        try:
            value = self._attempts(call.context, call.args, call.kwargs, call)
        except BaseException as error:
            call.failed(error)
            raise
        return call.completed(value)

    async def _subflow_async(self, parent: _context.FlowRunContext, args: Any, kwargs: Any) -> Any:
        """`_subflow` for an async flow; the server calls run off the event loop."""
        if self.log_prints:
            install_print_hook()
        loop = asyncio.get_running_loop()
        start = contextvars.copy_context()
        call = await loop.run_in_executor(None, start.run, SubflowCall, self, parent, args, kwargs)
        try:
            value = await self._attempts_async(call.context, call.args, call.kwargs, call)
        except BaseException as error:
            await loop.run_in_executor(None, call.failed, error)
            raise
        return await loop.run_in_executor(None, call.completed, value)

    def _attempts(
        self, context: _context.FlowRunContext, args: Any, kwargs: Any, call: Optional[SubflowCall] = None
    ) -> Any:
        token = _context.flow_run_var.set(context)
        try:
            logger = get_run_logger()
            attempt = 1
            while True:
                try:
                    return self._body(context, args, kwargs)
                except FlowTimeoutError as error:
                    logger.error(str(error))
                    raise
                except Exception as error:
                    if attempt > self.retries or context.shared.cancel.is_set():
                        logger.error(f"flow {self.name!r} failed: {type(error).__name__}: {error}")
                        raise
                    delay = _engine.retry_delay(self, attempt)  # type: ignore[arg-type]
                    note = f"flow attempt {attempt} failed: {type(error).__name__}: {error}; retrying in {delay:g}s"
                    logger.warning(note)
                    if call is not None:
                        call.retrying(note)
                    time.sleep(delay)
                    attempt += 1
        finally:
            _context.flow_run_var.reset(token)

    retry_jitter_factor = None

    def _body(self, context: _context.FlowRunContext, args: Any, kwargs: Any) -> Any:
        def timed_out() -> FlowTimeoutError:
            message = f"flow {self.name!r} timed out after {self.timeout_seconds:g}s"
            _engine.cancel_run(context.shared, message)
            return FlowTimeoutError(message)

        return _timeout.call_with_timeout(
            lambda: self.fn(*args, **kwargs), self.timeout_seconds, f"orch-flow-{self.name}", _FlowInterrupted, timed_out
        )

    async def _call_async(self, args: Any, kwargs: Any) -> Any:
        parent = _context.current_flow()
        if parent is not None:
            return await self._subflow_async(parent, args, kwargs)
        shared = open_run()
        ok = False
        try:
            with _SignalGuard(shared):
                value = await self._attempts_async(self._context(shared), args, kwargs)
            ok = True
            return value
        finally:
            close_run(shared, wait=ok)

    async def _attempts_async(
        self, context: _context.FlowRunContext, args: Any, kwargs: Any, call: Optional[SubflowCall] = None
    ) -> Any:
        token = _context.flow_run_var.set(context)
        try:
            logger = get_run_logger()
            attempt = 1
            while True:
                try:
                    if self.timeout_seconds:
                        try:
                            return await asyncio.wait_for(self.fn(*args, **kwargs), self.timeout_seconds)
                        except asyncio.TimeoutError:
                            message = f"flow {self.name!r} timed out after {self.timeout_seconds:g}s"
                            _engine.cancel_run(context.shared, message)
                            raise FlowTimeoutError(message) from None
                    return await self.fn(*args, **kwargs)
                except FlowTimeoutError as error:
                    logger.error(str(error))
                    raise
                except Exception as error:
                    if attempt > self.retries or context.shared.cancel.is_set():
                        logger.error(f"flow {self.name!r} failed: {type(error).__name__}: {error}")
                        raise
                    delay = _engine.retry_delay(self, attempt)  # type: ignore[arg-type]
                    note = f"flow attempt {attempt} failed: {type(error).__name__}: {error}; retrying in {delay:g}s"
                    logger.warning(note)
                    if call is not None:
                        await asyncio.get_running_loop().run_in_executor(None, call.retrying, note)
                    await asyncio.sleep(delay)
                    attempt += 1
        finally:
            _context.flow_run_var.reset(token)

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"


@overload
def flow(__fn: F) -> Flow: ...


@overload
def flow(
    __fn: None = None,
    *,
    name: Optional[str] = None,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    timeout_seconds: Optional[float] = None,
    log_prints: bool = False,
    description: Optional[str] = None,
    version: Optional[str] = None,
) -> Callable[[F], Flow]: ...


def flow(__fn: Optional[Callable[..., Any]] = None, **options: Any) -> Any:
    """Makes a function a flow: `@flow` or `@flow(name=, retries=,
    retry_delay_seconds=, timeout_seconds=, log_prints=)`, as in Prefect.
    The flow's name defaults to the function's, with `_` as `-`."""
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)
