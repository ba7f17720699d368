"""orch: Prefect-style flows and tasks in Python, on orch's Rust client.

    from orch import flow, task, get_run_logger

    @task(retries=2, retry_delay_seconds=[1, 5])
    def fetch(symbol: str) -> float: ...

    @flow(log_prints=True)
    def prices(symbols: list[str] = ["BTC"]) -> None:
        for price in fetch.map(symbols).result():
            print(price)

Moving a Prefect flow over means changing `prefect` to `orch` in its
imports. Started by an orch worker (`entrypoint = ["python", "-m", "orch",
"run", "flows/prices.py:prices"]`), task runs, retries, logs, artifacts and
the task graph reach the server; without a server the same file runs
locally (`python -m orch run flows/prices.py:prices --param symbols='["ETH"]'`).
"""

from . import artifacts, events, futures
from ._native import PROTOCOL_VERSION, VERSION as __version__
from .exceptions import (
    FlowTimeoutError,
    MissingContextError,
    OrchError,
    ParameterError,
    RunCancelled,
    TaskTimeoutError,
    UpstreamTaskError,
)
from .flows import Flow, flow
from .futures import OrchFuture, PrefectFuture, as_completed, wait
from .logging import get_run_logger
from .runtime import run_flow
from .tasks import Task, exponential_backoff, task, unmapped

__all__ = [
    "PROTOCOL_VERSION",
    "Flow",
    "FlowTimeoutError",
    "MissingContextError",
    "OrchError",
    "OrchFuture",
    "ParameterError",
    "PrefectFuture",
    "RunCancelled",
    "Task",
    "TaskTimeoutError",
    "UpstreamTaskError",
    "__version__",
    "artifacts",
    "as_completed",
    "events",
    "exponential_backoff",
    "flow",
    "futures",
    "get_run_logger",
    "run_flow",
    "task",
    "unmapped",
    "wait",
]
