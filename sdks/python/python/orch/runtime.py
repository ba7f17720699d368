"""`python -m orch run FILE.py:FLOW`: load a flow from a file and run it
with the run's parameters, as a deployment's entrypoint or locally."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import _native, _params
from .exceptions import ParameterError
from .flows import Flow

__all__ = ["load_flow", "run_flow", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command line or entrypoint."""


def load_flow(spec: str) -> Flow:
    """The flow named by `path/to/file.py:function` (or `package.module:function`).

    Raises:
        UsageError: the file, module or function does not exist, or is not a flow.
    """
    target, sep, attribute = spec.rpartition(":")
    if not sep or not target or not attribute:
        raise UsageError(f"expected FILE.py:FLOW (e.g. flows/etl.py:etl), got {spec!r}")
    if target.endswith(".py") or os.sep in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise UsageError(f"no file {target!r} (from {os.getcwd()}); expected FILE.py:FLOW")
        sys.path.insert(0, str(path.parent))
        name = f"__orch_flow_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"cannot load {target!r} as Python")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    found = getattr(module, attribute, None)
    if found is None:
        flows = [n for n, v in vars(module).items() if isinstance(v, Flow)]
        raise UsageError(f"{target!r} has no {attribute!r}; its flows: {', '.join(flows) or '(none)'}")
    if isinstance(found, Flow):
        return found
    if callable(found):
        return Flow(found)
    raise UsageError(f"{spec!r} is not a flow or function")


def run_flow(flow: Flow, parameters: Dict[str, Any]) -> Any:
    """Runs `flow` with `parameters` (JSON values, converted to its
    annotations; raises ParameterError naming a bad one)."""
    kwargs = _params.bind(flow.fn, parameters, flow.name)
    result = flow(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(result)  # type: ignore[arg-type]
    return result


def _parameters(args: argparse.Namespace) -> Dict[str, Any]:
    orchestrated = bool(os.environ.get("ORCH_API_URL") and os.environ.get("ORCH_FLOW_RUN_ID"))
    parameters: Dict[str, Any] = json.loads(_native.parameters_from_env()) if orchestrated else {}
    if args.params is not None or args.param:
        parameters.update(json.loads(_native.build_overrides(args.params, list(args.param))))
    return parameters


def main(argv: Optional[List[str]] = None) -> int:
    """The command line; returns the exit code (0, 1 failed, 2 usage, 143 cancelled)."""
    parser = argparse.ArgumentParser(prog="python -m orch", description="Run orch flows written in Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a flow: FILE.py:FLOW [--param KEY=VALUE].. [--params JSON]")
    run.add_argument("entrypoint", help="FILE.py:FLOW, e.g. flows/etl.py:etl")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter (JSON value or string)")
    run.add_argument("--params", metavar="JSON", help="parameters as a JSON object")
    sub.add_parser("version", help="print the SDK's version and protocol version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"orch {_native.VERSION} (flow protocol {_native.PROTOCOL_VERSION})")
        return 0
    try:
        _native.check_protocol()
        flow = load_flow(args.entrypoint)
        parameters = _parameters(args)
        kwargs = _params.bind(flow.fn, parameters, flow.name)
    except (UsageError, ParameterError, ValueError, RuntimeError) as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_USAGE
    try:
        result = flow(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(result)  # type: ignore[arg-type]
    except Exception as error:
        sys.stderr.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        sys.stderr.write(f"flow {flow.name} failed: {type(error).__name__}: {error}\n")
        return EXIT_FAILED
    if result is not None:
        try:
            print(json.dumps(result, default=str))
        except (TypeError, ValueError):
            print(repr(result))
    return 0


def entry() -> None:
    """`python -m orch`: exits without waiting for threads a timed-out task left running."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
