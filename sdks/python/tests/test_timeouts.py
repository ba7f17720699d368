"""Timeouts of sync tasks and flows stop the function's thread (an error
raised in it, as Prefect 3 does), not only the wait for it."""

import threading
import time

import pytest

import orch
from orch import _timeout, flow, task
from orch._context import current_task

#: Generous bound for a thread to notice the error raised in it (it runs
#: Python code every 10 ms); a bound on a wait, not a timing assertion.
STOP_WITHIN = 30.0


def _threads(prefix):
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def _stopped(prefix):
    """Waits for the threads named `prefix*` to end; whether they did."""
    for thread in _threads(prefix):
        thread.join(STOP_WITHIN)
    return not _threads(prefix)


def test_a_sync_task_looping_in_python_is_stopped_at_its_timeout_and_recorded_timed_out():
    ticks = []

    @task(name="runaway", timeout_seconds=0.3)
    def runaway():
        while True:
            ticks.append(1)
            time.sleep(0.01)

    @flow
    def f():
        future = runaway.submit()
        future.wait()
        return future.state, future

    state, future = f()
    assert (state.type, state.name) == ("FAILED", "TimedOut")
    assert state.message == "TaskTimeoutError: task 'runaway' timed out after 300ms"
    with pytest.raises(orch.TaskTimeoutError, match="timed out after 300ms"):
        future.result()
    assert _stopped("orch-timeout-runaway"), "the timed-out task's thread still runs"
    stopped_at = len(ticks)
    assert stopped_at > 0
    time.sleep(0.1)
    assert len(ticks) == stopped_at


def test_a_timed_out_attempt_is_stopped_and_the_retry_succeeds():
    running = []

    @task(name="slow-then-fast", retries=1, timeout_seconds=0.3)
    def slow_then_fast():
        attempt = current_task().attempt
        running.append(attempt)
        try:
            while attempt == 1:
                time.sleep(0.01)
            return attempt
        finally:
            running.remove(attempt)

    @flow
    def f():
        return slow_then_fast()

    assert f() == 2
    # The first attempt left its loop through its `finally`.
    assert _stopped("orch-timeout-slow-then-fast")
    assert running == []


def test_a_sync_flow_past_its_timeout_is_stopped_too():
    ticks = []

    @flow(name="runaway-flow", timeout_seconds=0.3)
    def runaway_flow():
        while True:
            ticks.append(1)
            time.sleep(0.01)

    with pytest.raises(orch.FlowTimeoutError, match="timed out after 0.3s"):
        runaway_flow()
    assert _stopped("orch-flow-runaway-flow"), "the timed-out flow's thread still runs"
    stopped_at = len(ticks)
    time.sleep(0.1)
    assert len(ticks) == stopped_at


def test_a_call_ending_at_its_deadline_leaves_no_error_behind():
    """The error is sent at most once and cleared if the call ended first:
    calls racing their deadline never raise it outside the call."""
    stray = []
    previous = threading.excepthook
    threading.excepthook = lambda args: stray.append(args.exc_type)
    try:
        outcomes = {"value": 0, "timeout": 0}

        def count_to(n):
            total = 0
            for i in range(n):
                total += i
            return total

        # Calls from well under to well over their deadline.
        for n in range(1000, 301000, 1000):
            try:
                _timeout.call_with_timeout(
                    lambda: count_to(n), 0.005, "orch-timeout-race", orch.TaskTimeoutError, lambda: orch.TaskTimeoutError("late")
                )
                outcomes["value"] += 1
            except orch.TaskTimeoutError:
                outcomes["timeout"] += 1
        assert _stopped("orch-timeout-race")
    finally:
        threading.excepthook = previous
    assert stray == []
    assert sum(outcomes.values()) == 300
    # The caller's thread got no stray error either: it still runs Python.
    assert sum(range(10)) == 45


def test_a_task_without_timeout_runs_in_the_callers_thread():
    @task
    def where():
        return threading.current_thread().name

    @flow
    def f():
        return where(), threading.current_thread().name

    inside, caller = f()
    assert inside == caller
