import asyncio
import threading
import time

import pytest

import orch
from orch import flow, task
from orch._context import current_flow, current_task


def test_a_task_called_in_a_flow_returns_its_value():
    @task
    def double(x):
        return 2 * x

    @flow
    def f():
        return double(21)

    assert f() == 42


def test_a_task_failing_twice_succeeds_on_its_third_attempt_after_the_listed_delays():
    attempts = []

    @task(retries=2, retry_delay_seconds=[0.05, 0.1])
    def flaky():
        attempts.append((current_task().attempt, time.monotonic()))
        if len(attempts) < 3:
            raise RuntimeError(f"transient failure {len(attempts)}")
        return "ok"

    @flow
    def f():
        return flaky()

    assert f() == "ok"
    assert [a for a, _ in attempts] == [1, 2, 3]
    assert attempts[1][1] - attempts[0][1] >= 0.05
    assert attempts[2][1] - attempts[1][1] >= 0.1


def test_a_task_whose_retries_run_out_raises_its_own_error():
    calls = []

    @task(retries=1)
    def broken():
        calls.append(1)
        raise ValueError("always")

    @flow
    def f():
        broken()

    with pytest.raises(ValueError, match="always"):
        f()
    assert len(calls) == 2


def test_a_task_past_its_timeout_fails_with_a_timeout_error():
    @task(timeout_seconds=0.1)
    def slow():
        time.sleep(2)

    @flow
    def f():
        slow()

    with pytest.raises(orch.TaskTimeoutError, match="timed out after 100ms"):
        f()


def test_submit_runs_tasks_in_parallel_and_futures_resolve_as_arguments():
    barrier = threading.Barrier(2, timeout=5)

    @task
    def meet(x):
        barrier.wait()  # both must be running at once
        return x

    @task
    def add(a, b):
        return a + b

    @flow
    def f():
        a, b = meet.submit(1), meet.submit(2)
        total = add.submit(a, b)
        assert total.state.type in ("PENDING", "RUNNING", "COMPLETED")
        return total.result()

    assert f() == 3


def test_map_makes_one_run_per_item_and_keeps_unmapped_arguments_whole():
    @task
    def scale(x, factor):
        return x * factor

    @flow
    def f():
        futures = scale.map([1, 2, 3], orch.unmapped(10))
        orch.wait(futures)
        assert all(fut.state.is_completed() for fut in futures)
        return futures.result()

    assert f() == [10, 20, 30]


def test_map_refuses_arguments_of_different_lengths():
    @task
    def pair(a, b):
        return a, b

    @flow
    def f():
        pair.map([1, 2], [1])

    with pytest.raises(ValueError, match="differ in length"):
        f()


def test_a_failed_upstream_future_fails_its_downstream_without_running_it():
    ran = []

    @task
    def broken():
        raise RuntimeError("boom")

    @task
    def after(x):
        ran.append(x)

    @flow
    def f():
        return after.submit(broken.submit()).result()

    with pytest.raises(orch.UpstreamTaskError, match="upstream task run 'broken' failed"):
        f()
    assert ran == []


def test_as_completed_yields_every_future_and_result_can_return_the_error():
    @task
    def maybe(x):
        if x == 2:
            raise KeyError(x)
        return x

    @flow
    def f():
        futures = maybe.map([1, 2, 3])
        seen = {fut.task_run_id for fut in orch.as_completed(futures)}
        assert seen == {fut.task_run_id for fut in futures}
        assert isinstance(futures[1].result(raise_on_failure=False), KeyError)
        assert futures[1].state.is_failed()
        return futures[0].result() + futures[2].result()

    assert f() == 4


def test_async_tasks_run_on_the_event_loop_with_retries():
    calls = []

    @task(retries=1)
    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0.01)
        if len(calls) == 1:
            raise ConnectionError("first")
        return x + 1

    @flow
    async def f():
        results = await asyncio.gather(fetch(1))
        return results[0]

    assert asyncio.run(f()) == 2
    assert calls == [1, 1]


def test_an_async_task_past_its_timeout_fails():
    @task(timeout_seconds=0.05)
    async def slow():
        await asyncio.sleep(5)

    @flow
    async def f():
        await slow()

    with pytest.raises(orch.TaskTimeoutError):
        asyncio.run(f())


def test_an_async_task_submitted_from_a_sync_flow_runs_on_a_worker_thread():
    @task
    async def one():
        await asyncio.sleep(0)
        return 1

    @flow
    def f():
        return one.submit().result() + one()

    assert f() == 2


def test_a_task_called_outside_a_flow_still_runs():
    @task(retries=1)
    def plain(x):
        return x * 3

    assert plain(2) == 6
    assert current_flow() is None


def test_task_options_can_be_changed_with_with_options():
    @task(retries=1, tags=["a"])
    def t():
        return 1

    other = t.with_options(name="renamed", retries=3)
    assert (other.name, other.retries, other.tags, t.retries) == ("renamed", 3, ["a"], 1)


def test_exponential_backoff_doubles_the_delay():
    assert orch.exponential_backoff(2)(3) == [2, 4, 8]
