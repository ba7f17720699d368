import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import orch
from orch import flow, get_run_logger, task
from orch import _engine, _subflows
from orch._context import current_flow, current_task


def test_a_flow_called_in_a_flow_is_a_subflow_run_of_its_own():
    seen = {}

    @task
    def step(x):
        seen["task"] = (current_flow().flow_run_id, current_task().task_name)
        return x + 1

    @flow(name="child")
    def child(x):
        seen["child"] = current_flow()
        return step(x)

    @flow
    def parent():
        seen["parent"] = current_flow().flow_run_id
        return child(step(0))

    assert parent() == 2
    inner = seen["child"]
    assert inner.flow_run_id != seen["parent"], "a run of its own"
    assert inner.flow_run_id.startswith("local-") and inner.subflow
    assert inner.flow_name == "child"
    assert seen["task"] == (inner.flow_run_id, "step"), "its tasks are its own, named as they are"


def test_a_failing_subflow_raises_in_its_parent():
    @flow(name="broken-child")
    def child():
        raise ValueError("bad day")

    @flow
    def parent():
        try:
            child()
        except ValueError as error:
            return f"caught {error}"

    assert parent() == "caught bad day"


def test_cancelling_a_run_cancels_the_subflow_runs_it_is_running():
    runs = {}

    @flow(name="waiting-child")
    def child():
        runs["child"] = current_flow().shared
        return current_flow().shared.cancel.wait(5)

    @flow
    def parent():
        runs["parent"] = current_flow().shared
        threading.Timer(0.1, lambda: _engine.cancel_run(runs["parent"], "stop")).start()
        return child()

    assert parent() is True, "the subflow saw the cancel"
    assert runs["child"].cancel_reason == "stop"
    assert runs["parent"].subflows == [], "forgotten once it ended"


def test_a_subflows_parameters_are_recorded_by_name_and_summarised_when_large():
    @flow(name="child")
    def child(symbol, days=3):
        return symbol

    assert json.loads(_subflows._parameters_json(child, ("GOOG",), {"days": 5})) == {"symbol": "GOOG", "days": 5}
    big = json.loads(_subflows._parameters_json(child, ("x" * (_subflows.MAX_PARAMETERS_BYTES + 1),), {}))
    assert big["truncated"] is True


def test_a_flow_past_its_timeout_fails_and_cancels_its_tasks():
    started = []

    @task
    def sleeps():
        started.append(1)
        time.sleep(0.5)

    @flow(timeout_seconds=0.1)
    def slow():
        sleeps()
        sleeps()

    with pytest.raises(orch.FlowTimeoutError, match="timed out after 0.1s"):
        slow()
    time.sleep(0.6)
    assert started == [1], "the second task did not start after the timeout"


def test_flow_retries_rerun_the_flow():
    calls = []

    @flow(retries=2, retry_delay_seconds=0)
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("again")
        return len(calls)

    assert flaky() == 3


def test_an_async_flow_is_awaited():
    @task
    async def one():
        return 1

    @flow
    async def f(x):
        return (await one()) + x

    assert asyncio.run(f(1)) == 2


def test_get_run_logger_outside_a_run_says_where_to_call_it():
    with pytest.raises(orch.MissingContextError, match="@flow or @task"):
        get_run_logger()


def test_flow_names_default_to_the_function_name_with_dashes():
    @flow
    def my_etl_flow():
        pass

    assert my_etl_flow.name == "my-etl-flow"


def _run(source: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return subprocess.run(
        [sys.executable, "-m", "orch", "run", *args], input=None, capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture
def flow_file(tmp_path):
    path = tmp_path / "etl.py"
    path.write_text(
        textwrap.dedent(
            """
            import datetime
            from orch import flow, task, get_run_logger

            @task(retries=1, retry_delay_seconds=0)
            def load(n):
                get_run_logger().info(f"loading {n}")
                return n * 2

            @flow(log_prints=True)
            def etl(n: int, when: datetime.date = datetime.date(2024, 1, 1), tags: list = []):
                print(f"printed {n} {when.isoformat()}")
                return load(n)

            @flow
            def fails():
                raise RuntimeError("bad data")
            """
        )
    )
    return path


def test_python_m_orch_run_converts_parameters_and_prints_the_result(flow_file):
    done = _run("", f"{flow_file}:etl", "--param", "n=21", "--param", "when=2024-05-01")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    assert "printed 21 2024-05-01" in done.stderr
    assert "Task run 'load' - loading 21" in done.stderr


def test_a_parameter_that_does_not_fit_its_annotation_is_refused_by_name(flow_file):
    done = _run("", f"{flow_file}:etl", "--param", "n=lots")
    assert done.returncode == 2
    assert "parameter 'n' of flow 'etl' must be int, got 'lots' (str)" in done.stderr
    done = _run("", f"{flow_file}:etl", "--param", "n=1", "--param", "forse=true")
    assert done.returncode == 2
    assert "no parameter 'forse'" in done.stderr
    done = _run("", f"{flow_file}:etl")
    assert done.returncode == 2 and "needs parameter 'n'" in done.stderr


def test_a_failing_flow_exits_1_with_its_traceback(flow_file):
    done = _run("", f"{flow_file}:fails")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: bad data" in done.stderr


def test_a_bad_entrypoint_is_explained(flow_file):
    done = _run("", f"{flow_file}:nope")
    assert done.returncode == 2 and "has no 'nope'; its flows: etl, fails" in done.stderr
    done = _run("", "missing.py:etl")
    assert done.returncode == 2 and "no file 'missing.py'" in done.stderr
