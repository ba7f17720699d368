"""Artifacts: tables, Markdown, links and metrics published on the run
page (with Prefect's function names and signatures), attached to the task
run whose code publishes them. Artifacts with one key form a series across
runs. Locally (no server) they are checked with the server's rules and logged."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _context, _native
from .logging import get_run_logger

__all__ = [
    "create_table_artifact",
    "create_markdown_artifact",
    "create_link_artifact",
    "create_metrics_artifact",
]

Table = Union[Sequence[Mapping[str, Any]], Mapping[str, Sequence[Any]], Sequence[Sequence[Any]]]


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _cell(item())
        except Exception:
            pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return json.dumps(value, default=str) if isinstance(value, (list, dict, tuple)) else str(value)


def table_rows(table: Table) -> List[Dict[str, Any]]:
    """Rows (column -> scalar) from a list of dicts, a dict of columns or a list of lists."""
    if isinstance(table, Mapping):
        columns = {str(k): list(v) for k, v in table.items()}
        length = max((len(v) for v in columns.values()), default=0)
        return [{k: _cell(v[i]) if i < len(v) else None for k, v in columns.items()} for i in range(length)]
    rows = []
    for row in table:
        if isinstance(row, Mapping):
            rows.append({str(k): _cell(v) for k, v in row.items()})
        else:
            rows.append({str(i): _cell(v) for i, v in enumerate(row)})
    return rows


def _default_key(kind: str) -> str:
    task = _context.current_task()
    flow = _context.current_flow()
    name = task.task_name if task else (flow.flow_name if flow else "artifact")
    return (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "artifact") + f"-{kind}"


def _publish(kind: str, data: Any, key: Optional[str], description: Optional[str]) -> str:
    key = key or _default_key(kind)
    description = description or ""
    data_json = json.dumps(data)
    flow = _context.current_flow()
    client = flow.client if flow is not None else None
    if client is None:
        _native.check_artifact(key, kind, description, data_json)
        if flow is not None:
            shown = data_json if len(data_json) <= 500 else data_json[:497] + "..."
            get_run_logger().info(f"artifact {key!r} ({kind}): {shown}")
        return "local"
    task = _context.current_task()
    return client.create_artifact(key, kind, description, data_json, task.task_run_id if task else None)


def create_table_artifact(table: Table, key: Optional[str] = None, description: Optional[str] = None) -> str:
    """Publishes a table: a list of dicts (rows), a dict of lists (columns)
    or a list of lists. Returns the artifact's id ("local" without a server).

    Raises:
        ValueError: refused by the server's rules (over 10,000 rows, too large...).
    """
    return _publish("table", table_rows(table), key, description)


def create_markdown_artifact(markdown: str, key: Optional[str] = None, description: Optional[str] = None) -> str:
    """Publishes a Markdown document."""
    return _publish("markdown", str(markdown), key, description)


def create_link_artifact(link: str, link_text: Optional[str] = None, key: Optional[str] = None, description: Optional[str] = None) -> str:
    """Publishes a link (http or https) with an optional text."""
    data: Dict[str, Any] = {"url": link}
    if link_text:
        data["title"] = link_text
    return _publish("link", data, key, description)


def create_metrics_artifact(metrics: Mapping[str, float], key: Optional[str] = None, description: Optional[str] = None) -> str:
    """orch's metrics: name -> finite number, charted across the runs of one key."""
    data = {}
    for name, value in metrics.items():
        number = float(value)
        # Not finite: sent as text, for the server's rules to refuse by name.
        data[str(name)] = number if math.isfinite(number) else str(number)
    return _publish("metrics", data, key, description)
