"""Per-task overhead of the orch Python SDK (and of Prefect, when it is
installed in the same interpreter): a flow calling a trivial task N times.

    python sdks/python/benches/overhead.py [N]            # orch, locally
    ORCH_API_URL=... ORCH_FLOW_RUN_ID=... python ...      # orch, reporting to a server
    python sdks/python/benches/overhead.py 2000 --prefect  # Prefect 3 (pip install prefect)

Prints microseconds per task for direct calls and for .map, minus the cost of
calling the plain function: wall time, and the CPU time of this process (all
its threads, the SDK's shipper included), which other processes on a busy
machine do not inflate.
"""

import sys
import time


def plain(x):
    return x + 1


#: When the last flow body returned: the flow call's time after it is the
#: run's end (with a server: waiting until every report is stored).
body_ended = [0.0]


def measure(label, run, n):
    run(10)  # warm up
    started, cpu_started = time.perf_counter(), time.process_time()
    run(n)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ending = time.perf_counter() - started - (body_ended[0] - started)
    base_started = time.perf_counter()
    for i in range(n):
        plain(i)
    base = time.perf_counter() - base_started
    print(
        f"{label}: {n} tasks in {elapsed:.3f} s: {(elapsed - base) / n * 1e6:.1f} us per task "
        f"(CPU of this process, all threads: {(cpu - base) / n * 1e6:.1f} us per task; "
        f"the run's end after the flow body: {ending * 1e3:.0f} ms)"
    )


def orch_bench(n):
    import logging

    from orch import flow, task

    logging.getLogger("orch.runs").setLevel(logging.WARNING)
    add = task(plain)

    @flow
    def calls(n):
        for i in range(n):
            add(i)
        body_ended[0] = time.perf_counter()

    @flow
    def mapped(n):
        result = add.map(range(n)).result()
        body_ended[0] = time.perf_counter()
        return result

    measure("orch direct calls", calls, n)
    measure("orch .map", mapped, n)


def prefect_bench(n):
    from prefect import flow, task

    add = task(plain)

    @flow
    def calls(n):
        for i in range(n):
            add(i)
        body_ended[0] = time.perf_counter()

    @flow
    def mapped(n):
        result = add.map(range(n)).result()
        body_ended[0] = time.perf_counter()
        return result

    measure("prefect direct calls", calls, n)
    measure("prefect .map", mapped, n)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 10000
    if "--prefect" in sys.argv:
        prefect_bench(count)
    else:
        orch_bench(count)
