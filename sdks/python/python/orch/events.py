"""Custom events: `emit_event("no-data", payload={...})` records an event of
the run, on which automations with an `event` trigger of that name fire."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from . import _context
from .logging import get_run_logger

__all__ = ["emit_event"]


def emit_event(
    event: str,
    resource: Optional[Dict[str, str]] = None,
    occurred: Any = None,
    related: Optional[List[Dict[str, str]]] = None,
    payload: Optional[Dict[str, Any]] = None,
    id: Any = None,
    follows: Any = None,
) -> Optional[Dict[str, Any]]:
    """Records the event `event` of the current flow run (Prefect's signature;
    `resource` and `related` are kept in the payload, `occurred`, `id` and
    `follows` are not used). Returns what was recorded, or None outside a run.

    Raises:
        ValueError: the server refused it (empty name, payload too large).
        ConnectionError: the server could not be reached.
    """
    flow = _context.current_flow()
    if flow is None:
        return None
    body: Dict[str, Any] = dict(payload or {})
    if resource:
        body.setdefault("resource", resource)
    if related:
        body.setdefault("related", related)
    text = json.dumps(body, default=str)
    if flow.client is None:
        if not event:
            raise ValueError('an event needs a name, e.g. "no-data"')
        get_run_logger().info(f"event {event!r}: {text}")
    else:
        flow.client.emit_event(event, text)
    return {"event": event, "payload": body}
