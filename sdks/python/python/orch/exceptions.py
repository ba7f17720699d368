"""Errors the SDK raises."""

from __future__ import annotations

__all__ = [
    "OrchError",
    "ParameterError",
    "TaskTimeoutError",
    "FlowTimeoutError",
    "UpstreamTaskError",
    "RunCancelled",
    "MissingContextError",
]

from .logging import MissingContextError


class OrchError(Exception):
    """Base of the SDK's errors."""


class ParameterError(OrchError, ValueError):
    """A run's parameters do not fit its flow function (the message names the parameter)."""


class TaskTimeoutError(OrchError, TimeoutError):
    """An attempt of a task ran past its `timeout_seconds`."""


class FlowTimeoutError(OrchError, TimeoutError):
    """A flow ran past its `timeout_seconds`."""


class UpstreamTaskError(OrchError):
    """A task was not run because a task whose result it needs failed."""


class RunCancelled(OrchError):
    """The flow run was cancelled (or timed out) before the task ended."""
