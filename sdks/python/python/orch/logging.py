"""Run loggers: `get_run_logger()` and `log_prints`.

Lines logged through a run logger go to the server tagged with their flow
run and task run (orchestrated), or to the console (stderr) when the flow
runs locally. With `log_prints=True` on a flow or task, `print(...)` inside
it is logged at INFO the same way.
"""

from __future__ import annotations

import builtins
import io
import logging as _logging
import sys
import threading
from typing import Any, MutableMapping, Optional, Tuple

from . import _context

__all__ = ["get_run_logger", "MissingContextError", "RunLogger"]

#: Python level -> the server's level names.
_LEVELS = {
    _logging.DEBUG: "DEBUG",
    _logging.INFO: "INFO",
    _logging.WARNING: "WARN",
    _logging.ERROR: "ERROR",
    _logging.CRITICAL: "ERROR",
}


class MissingContextError(RuntimeError):
    """`get_run_logger()` was called outside of a flow or task run."""


def _server_level(levelno: int) -> str:
    if levelno >= _logging.ERROR:
        return "ERROR"
    if levelno >= _logging.WARNING:
        return "WARN"
    if levelno >= _logging.INFO:
        return "INFO"
    if levelno >= _logging.DEBUG:
        return "DEBUG"
    return "TRACE"


class _RunHandler(_logging.Handler):
    """Ships records of run loggers to the server, or prints them locally."""

    def __init__(self) -> None:
        super().__init__(_logging.NOTSET)
        self._console = _logging.StreamHandler(sys.stderr)
        self._console.setFormatter(
            _logging.Formatter(
                "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(orch_label)s - %(message)s",
                "%H:%M:%S",
            )
        )

    def emit(self, record: _logging.LogRecord) -> None:
        run: Optional[Tuple[Any, str, str]] = getattr(record, "orch_run", None)
        if run is None:
            return
        client, task_run_id, label = run
        try:
            if client is not None:
                message = record.getMessage()
                if record.exc_info:
                    message += "\n" + _format_exception(record)
                client.log(_server_level(record.levelno), message, task_run_id or None)
            else:
                record.orch_label = label
                self._console.handle(record)
        except Exception:  # a log line must never break a task
            self.handleError(record)


def _format_exception(record: _logging.LogRecord) -> str:
    return _logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]


_logger = _logging.getLogger("orch.runs")
_logger.setLevel(_logging.DEBUG)
_logger.propagate = False
_logger.addHandler(_RunHandler())


class RunLogger(_logging.LoggerAdapter):
    """A logger bound to one flow run or task run (what `get_run_logger` returns)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra["orch_run"] = self.extra["orch_run"]  # type: ignore[index]
        kwargs["extra"] = extra
        return msg, kwargs


def _run_logger(flow: _context.FlowRunContext, task: Optional[_context.TaskRunContext]) -> RunLogger:
    if task is not None:
        label = f"Task run {task.task_name!r}"
        task_run_id = task.task_run_id
    else:
        label = f"Flow run {flow.flow_name!r}"
        task_run_id = ""
    return RunLogger(_logger, {"orch_run": (flow.client, task_run_id, label)})


def get_run_logger() -> RunLogger:
    """The logger of the calling flow or task: its lines reach the run's logs
    on the server, tagged with the task run (or the console, locally).

    Raises:
        MissingContextError: outside of a flow or task run.
    """
    flow = _context.current_flow()
    if flow is None:
        raise MissingContextError(
            "get_run_logger() needs a flow or task run: call it inside a function "
            "decorated with @flow or @task"
        )
    return _run_logger(flow, _context.current_task())


# -- log_prints ---------------------------------------------------------------

_original_print = builtins.print
_patch_lock = threading.Lock()
_patched = False


def _prints_logged() -> bool:
    task = _context.current_task()
    if task is not None:
        return task.log_prints
    flow = _context.current_flow()
    return flow is not None and flow.log_prints


def _print(*args: Any, sep: Optional[str] = " ", end: Optional[str] = "\n", file: Any = None, flush: bool = False) -> None:
    if (file is None or file is sys.stdout) and _prints_logged():
        buffer = io.StringIO()
        _original_print(*args, sep=sep, end="", file=buffer)
        get_run_logger().info(buffer.getvalue())
        return
    _original_print(*args, sep=sep, end=end, file=file, flush=flush)


def install_print_hook() -> None:
    """Routes `print` to the run logger inside runs with `log_prints=True`
    (elsewhere `print` is unchanged)."""
    global _patched
    with _patch_lock:
        if not _patched:
            builtins.print = _print
            _patched = True
