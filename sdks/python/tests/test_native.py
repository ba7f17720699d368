"""The native half: task records, the protocol check, parameters, artifacts
and the fork guard."""

import json
import os

import pytest

from orch import _native
from orch.artifacts import create_link_artifact, create_metrics_artifact, create_table_artifact, table_rows
from orch import flow


def test_parameters_come_from_the_file_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCH_PARAMETERS", '{"a": 1}')
    assert json.loads(_native.parameters_from_env()) == {"a": 1}
    path = tmp_path / "p.json"
    path.write_text('{"big": [1, 2]}')
    monkeypatch.setenv("ORCH_PARAMETERS_FILE", str(path))
    assert json.loads(_native.parameters_from_env()) == {"big": [1, 2]}
    monkeypatch.setenv("ORCH_PARAMETERS_FILE", "")
    monkeypatch.setenv("ORCH_PARAMETERS", "[1]")
    with pytest.raises(ValueError, match="ORCH_PARAMETERS is not a JSON object"):
        _native.parameters_from_env()


def test_overrides_parse_like_the_cli():
    assert json.loads(_native.build_overrides('{"a": 1}', ["b=true", "c=x"])) == {"a": 1, "b": True, "c": "x"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _native.build_overrides(None, ["nokey"])


def test_a_newer_worker_protocol_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setenv("ORCH_PROTOCOL", str(_native.PROTOCOL_VERSION))
    _native.check_protocol()
    monkeypatch.setenv("ORCH_PROTOCOL", str(_native.PROTOCOL_VERSION + 1))
    with pytest.raises(RuntimeError, match="upgrade the Python SDK"):
        _native.check_protocol()


def test_a_local_task_record_takes_states_and_refuses_unknown_ones():
    record = _native.TaskRun("local-1", "t", [], 2)
    assert len(record.id) == 36
    record.enter("RUNNING", "Running")
    record.set_attempt(2)
    record.enter("COMPLETED", "Completed")
    with pytest.raises(ValueError):
        record.enter("EXPLODED", "x")
    assert record.take_slots() is True


def test_a_task_record_takes_cpu_time_and_has_no_span_without_traces():
    record = _native.TaskRun("local-1", "t", [], 0)
    record.enter("RUNNING", "Running")
    record.add_cpu_seconds(0.25)
    record.add_cpu_seconds(float("nan"))
    assert record.traceparent is None
    record.enter("COMPLETED", "Completed")


def test_a_client_for_an_unreachable_server_does_not_hang_a_flush():
    client = _native.Client("http://127.0.0.1:9", "00000000-0000-0000-0000-000000000000")
    client.log("INFO", "hello")
    assert client.flush(0.2) is False
    with pytest.raises(ValueError, match="not usable"):
        _native.Client("http://bad url", "x")


def test_a_client_used_after_fork_raises_instead_of_hanging():
    client = _native.Client("http://127.0.0.1:9", "00000000-0000-0000-0000-000000000000")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            client.flush(1.0)
            message = "no error"
        except RuntimeError as error:
            message = str(error)
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    message = os.read(read, 4096).decode()
    assert "cannot be used in process" in message and "after fork()" in message, message


def test_table_rows_accept_prefects_three_shapes():
    assert table_rows([{"a": 1, "b": [1]}]) == [{"a": 1, "b": "[1]"}]
    assert table_rows({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert table_rows([[1, 2.5]]) == [{"0": 1, "1": 2.5}]


def test_artifacts_are_checked_with_the_servers_rules_locally():
    @flow
    def f():
        assert create_table_artifact([{"mae": 1.2}], key="eval") == "local"
        with pytest.raises(ValueError, match="not an http"):
            create_link_artifact("file:///etc/passwd", key="l")
        with pytest.raises(ValueError, match="not a finite number"):
            create_metrics_artifact({"mae": float("nan")}, key="m")
        with pytest.raises(ValueError, match="artifact key"):
            create_table_artifact([], key="bad key!")

    f()
