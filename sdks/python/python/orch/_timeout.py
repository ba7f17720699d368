"""Timeouts of sync tasks and flows, as Prefect 3 does them: past its
deadline the timeout error is raised *in the thread running the function*
(CPython's `PyThreadState_SetAsyncExc`), so a function looping in Python
stops there.

The function runs in a thread of its own while the caller waits for it
with the timeout: the caller reports the timeout at the deadline even when
the function's thread cannot be interrupted at once. CPython delivers an
asynchronous exception only when the thread runs Python bytecode: a thread
blocked in a C call (`time.sleep`, a socket read, a C extension's loop)
stops when that call returns, and code that catches the error (`except
Exception: pass`) and carries on is not stopped."""

from __future__ import annotations

import contextvars
import ctypes
import threading
from typing import Any, Callable, Dict, Optional, Type


def interrupt(thread_id: int, error: Optional[Type[BaseException]]) -> int:
    """Raises `error` in thread `thread_id` when it next runs Python code
    (None clears one not yet raised). Returns how many threads were set."""
    exc = ctypes.py_object(error) if error is not None else None  # None: NULL
    return int(ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), exc))


class _Watch:
    """The deadline of one call: `expire` (the waiting caller) raises the
    error in the call's thread unless the call has `finish`ed; `finish`
    (the call's thread) clears an error sent but not raised yet. Both under
    one lock, so the error is sent at most once and never outlives the call."""

    __slots__ = ("lock", "thread_id", "finished", "expired")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread_id: Optional[int] = None
        self.finished = False
        self.expired = False

    def expire(self, error: Type[BaseException]) -> None:
        with self.lock:
            self.expired = True
            if not self.finished and self.thread_id is not None:
                interrupt(self.thread_id, error)

    def finish(self) -> None:
        with self.lock:
            self.finished = True
            if self.expired and self.thread_id is not None:
                interrupt(self.thread_id, None)


def call_with_timeout(
    fn: Callable[[], Any],
    timeout: Optional[float],
    thread_name: str,
    interrupt_with: Type[BaseException],
    on_timeout: Callable[[], BaseException],
) -> Any:
    """`fn()`, or past `timeout` seconds the error `on_timeout()` returns,
    raised here, while `interrupt_with` is raised in `fn`'s thread to stop
    it. Without a timeout, `fn()` in this thread."""
    if not timeout:
        return fn()
    outcome: Dict[str, Any] = {}
    done = threading.Event()
    watch = _Watch()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            try:
                outcome["value"] = context.run(fn)
            except BaseException as error:  # noqa: B036 - handed to the caller
                outcome["error"] = error
            finally:
                watch.finish()
        except interrupt_with:
            # Sent as the call ended: nothing left to stop.
            pass
        finally:
            done.set()

    thread = threading.Thread(target=target, name=thread_name, daemon=True)
    thread.start()  # returns once the thread runs: its ident is known
    watch.thread_id = thread.ident
    if not done.wait(timeout):
        watch.expire(interrupt_with)
        raise on_timeout()
    if watch.expired and isinstance(outcome.get("error"), interrupt_with):
        raise on_timeout()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
