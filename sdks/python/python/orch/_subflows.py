"""A flow called inside a flow: a subflow run of its own, as in Prefect.

The call is a task run of the parent (the "wrapper", named after the
subflow): futures among its arguments are resolved first and recorded as
its upstream edges, and the parent's graph shows it as a node. The server
makes the subflow run, Running, with its own id, name, parameters and
credential; its task runs, logs and artifacts go to it, and this process
reports its end: Completed, Failed (the error raises in the parent) or
Cancelled. Without a server it is a local run of its own (`local-<uuid>`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import uuid
from typing import TYPE_CHECKING, Any, Dict, NamedTuple, Optional, Tuple

from . import _context, _engine
from .exceptions import FlowTimeoutError, RunCancelled, UpstreamTaskError

if TYPE_CHECKING:
    from .flows import Flow

#: Parameters larger than this (as JSON) are recorded as a summary.
MAX_PARAMETERS_BYTES = 256 * 1024


class _Wrapper(NamedTuple):
    """What a task run handle needs of its task, for the wrapper task run."""

    name: str
    tags: Tuple[str, ...] = ()
    retries: int = 0


def _parameters_json(flow: "Flow", args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> str:
    """The call's arguments by parameter name, as JSON (summarised if large)."""
    try:
        bound = inspect.signature(flow.fn).bind_partial(*args, **kwargs)
        text = json.dumps(dict(bound.arguments), default=_engine._default)
    except Exception as error:  # an unusual signature or value: say so, do not fail
        return json.dumps({"unrecorded": f"{type(error).__name__}: {error}"})
    if len(text) > MAX_PARAMETERS_BYTES:
        return json.dumps({"truncated": True, "bytes": len(text.encode())})
    return text


class SubflowCall:
    """One call of a subflow: its wrapper task run in the parent and its own run."""

    def __init__(self, flow: "Flow", parent: _context.FlowRunContext, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        self.flow = flow
        self.parent = parent
        self.wrapper = _engine.TaskRunHandle(_Wrapper(flow.name), parent)  # type: ignore[arg-type]
        try:
            self.args, self.kwargs, self.upstream = _engine.resolve_inputs(args, kwargs, None, parent.shared)
        except UpstreamTaskError as error:
            self._end_wrapper("FAILED", str(error), error=str(error))
            raise
        self.wrapper.record.set_upstream(self.upstream)
        self.wrapper.enter("RUNNING", "Running")
        self.shared = self._open(_parameters_json(flow, self.args, self.kwargs))
        self.context = _context.FlowRunContext(
            self.shared, flow.name, flow.log_prints or parent.log_prints, subflow=True
        )

    def _open(self, parameters_json: str) -> _context.RunShared:
        """The subflow run's shared state: made by the server, or local."""
        client = self.parent.client
        if client is None:
            shared = _context.RunShared(f"local-{uuid.uuid4()}", None)
        else:
            try:
                child = client.create_subflow(
                    self.wrapper.id, self.flow.name, parameters_json, self.wrapper.record.traceparent
                )
            except (ValueError, ConnectionError, RuntimeError) as error:
                message = f"subflow {self.flow.name!r}: {error}"
                self._end_wrapper("FAILED", message, error=message)
                raise
            shared = _context.RunShared(child.flow_run_id, child)
        with self.parent.shared.lock:
            self.parent.shared.subflows.append(shared)
        if self.parent.shared.cancel.is_set():
            _engine.cancel_run(shared, self.parent.shared.cancel_reason)
        return shared

    @property
    def flow_run_id(self) -> str:
        """The subflow run's id."""
        return self.shared.flow_run_id

    def retrying(self, note: str) -> None:
        """Reports that the subflow runs again (a flow-level retry)."""
        self._report("RUNNING", "Retrying", note)

    def completed(self, value: Any) -> Any:
        """Ends the subflow run and its wrapper Completed; returns `value`."""
        self._close(wait=True)
        self._report("COMPLETED", "", "")
        self.wrapper.record.set_result_json(_engine.result_json(value))
        self._end_wrapper("COMPLETED", "")
        self.parent.shared.remember(value, self.wrapper.id)
        return value

    def failed(self, error: BaseException) -> None:
        """Ends the subflow run and its wrapper after `error`: Cancelled
        when its run (or the parent's) was cancelled, else Failed."""
        cancelled = isinstance(error, (RunCancelled, asyncio.CancelledError, KeyboardInterrupt)) or (
            self.shared.cancel.is_set() and not isinstance(error, FlowTimeoutError)
        )
        self._close(wait=False)
        message = f"{type(error).__name__}: {error}"
        if cancelled:
            reason = self.shared.cancel_reason or "the flow run was cancelled"
            self._report("CANCELLED", "", reason)
            self._end_wrapper("CANCELLED", reason)
        else:
            self._report("FAILED", "", message)
            self._end_wrapper("FAILED", message, error=_engine._traceback(error))

    def _close(self, wait: bool) -> None:
        """Waits for (or drops) the subflow run's task threads; forgets it."""
        if self.shared.executor is not None:
            self.shared.executor.shutdown(wait=wait, cancel_futures=not wait)
        with self.parent.shared.lock:
            if self.shared in self.parent.shared.subflows:
                self.parent.shared.subflows.remove(self.shared)

    def _report(self, kind: str, name: str, message: str) -> None:
        client = self.shared.client
        if client is None:
            return
        try:
            client.report_state(kind, name, message)
        except (ValueError, ConnectionError, RuntimeError) as error:
            # The server ends it with its parent anyway; say so where it is seen.
            sys.stderr.write(f"orch: subflow run {self.flow_run_id}: cannot report {kind}: {error}\n")

    def _end_wrapper(self, kind: str, message: str, error: Optional[str] = None) -> None:
        if error is not None:
            self.wrapper.record.set_error(error)
        self.wrapper.enter(kind, kind.capitalize(), message)
