"""What the run-count and run-tag triggers (migrations 0420, 0450) cost a state change.

`python3 tests/benches/trigger_cost.py [RUNS]` (default 20000) makes a scratch
SQLite database with orch's own migrations, inserts RUNS runs, and moves each
through Pending, Running (which sets its start time, as the server does) and
Completed (64 changes per transaction, each the UPDATE of the run and the
INSERT of its history row), once with the triggers
and once without, twice. It prints the CPU time per state change; the
difference is the triggers' cost (figures: docs/benchmarks.md, "Throughput").
Python's sqlite3 module adds the same overhead to both.
"""
import glob
import os
import sqlite3
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS = sorted(glob.glob(os.path.join(HERE, '..', '..', 'crates', 'orch-store', 'migrations', 'sqlite', '*.sql')))


def fresh(path, triggers):
    for name in (path, path + '-wal', path + '-shm'):
        if os.path.exists(name):
            os.remove(name)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute('PRAGMA journal_mode=WAL')
    db.execute('PRAGMA synchronous=NORMAL')
    for migration in MIGRATIONS:
        db.executescript(open(migration).read())
    if not triggers:
        for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='flow_runs'").fetchall():
            db.execute(f'DROP TRIGGER {name}')
    return db


def run(path, runs, triggers):
    db = fresh(path, triggers)
    db.execute("INSERT INTO flows (id, name, created_at) VALUES ('f', 'etl', 0)")
    ids = [uuid.uuid4().hex for _ in range(runs)]
    db.execute('BEGIN')
    for i, run_id in enumerate(ids):
        db.execute(
            "INSERT INTO flow_runs (id, name, flow_id, state_type, state_name, state_message, "
            "state_timestamp, parameters, tags, expected_start, created_at, updated_at) "
            "VALUES (?, ?, 'f', 'SCHEDULED', 'Scheduled', '', ?, '{}', '[]', ?, ?, ?)",
            (run_id, f'r{i}', i, i, i, i))
    db.execute('COMMIT')
    started = time.process_time()
    for state in ('PENDING', 'RUNNING', 'COMPLETED'):
        for first in range(0, runs, 64):
            db.execute('BEGIN IMMEDIATE')
            for run_id in ids[first:first + 64]:
                if state == 'RUNNING':
                    db.execute(
                        "UPDATE flow_runs SET state_type = ?, state_name = ?, state_timestamp = 1, "
                        "updated_at = 1, start_time = 7200000000 WHERE id = ?",
                        (state, state.title(), run_id))
                else:
                    db.execute(
                        "UPDATE flow_runs SET state_type = ?, state_name = ?, state_timestamp = 1, "
                        "updated_at = 1 WHERE id = ?", (state, state.title(), run_id))
                db.execute(
                    "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, "
                    "timestamp) VALUES (?, NULL, ?, ?, '', 1)", (run_id, state, state.title()))
            db.execute('COMMIT')
    cpu = time.process_time() - started
    db.close()
    return cpu / (3 * runs) * 1e6


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, 'orch.db')
        for _ in range(2):
            for triggers in (True, False):
                cost = run(path, runs, triggers)
                print(f"triggers {'on ' if triggers else 'off'}: {cost:.1f} µs of CPU per state change "
                      "(UPDATE + history INSERT)", flush=True)


if __name__ == '__main__':
    main()
