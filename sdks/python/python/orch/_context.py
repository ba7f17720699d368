"""Run contexts: which flow run and task run the current code belongs to.

Kept in `contextvars`, copied into the threads tasks run on, so that logs,
artifacts and nested tasks know their run wherever they are called from.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from . import _native

#: How many tasks of one flow run run at once on its thread pool.
MAX_WORKERS = 32


@dataclass(eq=False)
class RunShared:
    """What the code of one flow run shares across its threads: its id and
    connection, its cancel flag, its thread pool, its unfinished task runs
    and the subflow runs it is running (cancelled with it)."""

    flow_run_id: str
    client: Optional[_native.Client]
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: id(value) -> (task run id, value): results of tasks, to record edges
    #: when they are passed to other tasks (the value is kept alive so that
    #: its id is not reused).
    results: Dict[int, Tuple[str, Any]] = field(default_factory=dict)
    #: Task runs not yet in a final state (reported Cancelled on a cancel).
    active: Set[Any] = field(default_factory=set)
    executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
    cancel_reason: str = ""
    #: Subflow runs of this run whose code is running now.
    subflows: List["RunShared"] = field(default_factory=list)

    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The run's thread pool, made on first use."""
        with self.lock:
            if self.executor is None:
                self.executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=MAX_WORKERS, thread_name_prefix="orch-task"
                )
            return self.executor

    def remember(self, value: Any, task_run_id: str) -> None:
        """Records that `value` came out of `task_run_id` (not for scalars)."""
        if value is None or isinstance(value, (bool, int, float, str, bytes)):
            return
        with self.lock:
            self.results[id(value)] = (task_run_id, value)

    def producer(self, value: Any) -> Optional[str]:
        """The task run that returned `value`, if one of this run did."""
        entry = self.results.get(id(value))
        if entry is not None and entry[1] is value:
            return entry[0]
        return None


@dataclass
class FlowRunContext:
    """The flow (or subflow) whose code is running."""

    shared: RunShared
    flow_name: str
    log_prints: bool = False
    #: A subflow run, whose states this process reports (a top-level run's
    #: are the worker's).
    subflow: bool = False

    @property
    def flow_run_id(self) -> str:
        """The flow run's id (`local-...` without a server)."""
        return self.shared.flow_run_id

    @property
    def client(self) -> Optional[_native.Client]:
        """The connection to the server, or None when running locally."""
        return self.shared.client


@dataclass
class TaskRunContext:
    """The task whose code is running."""

    task_run_id: str
    task_name: str
    attempt: int
    log_prints: bool
    upstream: List[str] = field(default_factory=list)


flow_run_var: contextvars.ContextVar[Optional[FlowRunContext]] = contextvars.ContextVar(
    "orch_flow_run", default=None
)
task_run_var: contextvars.ContextVar[Optional[TaskRunContext]] = contextvars.ContextVar(
    "orch_task_run", default=None
)


def current_flow() -> Optional[FlowRunContext]:
    """The flow run context of the calling code, if any."""
    return flow_run_var.get()


def current_task() -> Optional[TaskRunContext]:
    """The task run context of the calling code, if any."""
    return task_run_var.get()
