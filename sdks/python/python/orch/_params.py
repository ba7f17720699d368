"""A run's parameters (JSON) bound to a flow function's signature and
converted to its annotated types, with errors naming the parameter."""

from __future__ import annotations

import collections.abc
import datetime as _dt
import enum
import inspect
import sys
import typing
from typing import Any, Callable, Dict, Mapping

from .exceptions import ParameterError

_NONE = type(None)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _got(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{shown} ({type(value).__name__})"


class _Mismatch(Exception):
    def __init__(self, expected: str, value: Any, where: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.where = where


def _parse_datetime(value: Any) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        if len(text) == 10:  # a date alone
            return _dt.datetime.fromisoformat(text + "T00:00:00")
        return _dt.datetime.fromisoformat(text)
    raise ValueError


def convert(value: Any, tp: Any, where: str = "") -> Any:
    """`value` (from JSON) as type `tp`; raises _Mismatch."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is getattr(__import__("types"), "UnionType", None)):
        if value is None and _NONE in args:
            return None
        for option in args:
            if option is _NONE:
                continue
            try:
                return convert(value, option, where)
            except _Mismatch:
                pass
        raise _Mismatch(" or ".join(_type_name(a) for a in args), value, where)
    if origin is typing.Literal:
        if value in args:
            return value
        raise _Mismatch("one of " + ", ".join(repr(a) for a in args), value, where)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set, frozenset):
        container = origin or tp
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(_type_name(container), value, where)
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise _Mismatch(f"a list of {len(args)} items", value, where)
            return tuple(convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return container(convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping) or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch("dict (a JSON object)", value, where)
        if len(args) == 2:
            return {k: convert(v, args[1], f"{where}[{k!r}]") for k, v in value.items()}
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _Mismatch("bool", value, where)
    if tp is int:
        if isinstance(value, bool):
            raise _Mismatch("int", value, where)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Mismatch("int", value, where)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _Mismatch("float", value, where)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("str", value, where)
    if tp is _dt.datetime:
        try:
            return _parse_datetime(value)
        except (ValueError, TypeError, OverflowError, OSError):
            raise _Mismatch("datetime (ISO 8601, e.g. 2024-05-01T12:00:00Z)", value, where) from None
    if tp is _dt.date:
        try:
            return _dt.date.fromisoformat(value) if isinstance(value, str) else _parse_datetime(value).date()
        except (ValueError, TypeError):
            raise _Mismatch("date (ISO 8601, e.g. 2024-05-01)", value, where) from None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch("one of " + ", ".join(repr(m.value) for m in tp), value, where) from None
    validate = getattr(tp, "model_validate", None)  # pydantic v2
    if callable(validate):
        try:
            return validate(value)
        except Exception as error:
            raise _Mismatch(f"{_type_name(tp)} ({error})", value, where) from None
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except Exception:
            raise _Mismatch(_type_name(tp), value, where) from None
    return value


def bind(fn: Callable[..., Any], parameters: Mapping[str, Any], flow_name: str) -> Dict[str, Any]:
    """Keyword arguments for `fn` from `parameters`, converted to its annotations.

    Raises:
        ParameterError: an unknown or missing parameter, or one of the wrong type.
    """
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    known = [
        name
        for name, p in signature.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [name for name in parameters if name not in known]
    if unknown and not accepts_any:
        raise ParameterError(
            f"flow {flow_name!r} has no parameter {unknown[0]!r}; its parameters are: "
            f"{', '.join(known) or '(none)'}"
        )
    bound: Dict[str, Any] = {}
    for name in known:
        param = signature.parameters[name]
        if name not in parameters:
            if param.default is inspect.Parameter.empty:
                raise ParameterError(
                    f"flow {flow_name!r} needs parameter {name!r} ({_type_name(hints.get(name, Any))}); "
                    f"pass it with --param {name}=VALUE or in the deployment's parameters"
                )
            continue
        tp = hints.get(name, param.annotation)
        try:
            bound[name] = convert(parameters[name], tp, name)
        except _Mismatch as mismatch:
            raise ParameterError(
                f"parameter {mismatch.where or name!r} of flow {flow_name!r} must be "
                f"{mismatch.expected}, got {_got(mismatch.value)}"
            ) from None
    for name in unknown:
        bound[name] = parameters[name]
    return bound
