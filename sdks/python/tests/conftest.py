"""The unit tests run flows locally: no orch server variables."""

import os

import pytest


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ORCH_API_URL", "ORCH_API_URLS", "ORCH_FLOW_RUN_ID", "ORCH_PARAMETERS", "ORCH_PARAMETERS_FILE", "ORCH_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
