"""Ctrl-C, SIGTERM and SIGHUP stop a command the same way: the temporary files are removed, one
line is printed and the status is 128 + the signal."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C (temporary files removed), exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: the signals that arrived during :func:`main` (an interrupt swallowed in a ``__del__`` counts too)
_SIGNALS: list[int] = []


def _on_signal(signum: int, frame: Any) -> None:
    _SIGNALS.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _quiet_unraisable(hook: Any) -> Any:
    """An ``sys.unraisablehook`` that drops interrupts raised in ``__del__`` (they are counted)."""

    def quiet(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
            return
        hook(unraisable)

    return quiet


@contextlib.contextmanager
def _signals_stop_cleanly() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP stop the command the same way; an interrupt is never printed twice."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            old[sig] = signal.signal(sig, _on_signal)
    old_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable(old_hook)
    del _SIGNALS[:]
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        sys.unraisablehook = old_hook


def _release_dask_threads() -> None:
    """After a stop by a signal: end the threads of dask's default pool, and let dask make a new one.

    A signal that arrives while that pool is starting a worker thread can leave the thread
    unregistered: nobody tells it to stop, and the interpreter then waits for it forever at exit
    (seen as a hang after ``stopped by SIGHUP``). Shutting the pool down wakes every one of its
    threads, such an orphan included (they share one work queue); a thread still computing a
    chunk ends with that chunk.
    """
    threaded = sys.modules.get("dask.threaded")
    pool = getattr(threaded, "default_pool", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
        threaded.default_pool = None  # a later compute makes a new one


def _exit_at_once(signum: int, frame: Any) -> None:
    """After the command: a late signal ends the process at once, quietly (its work is saved)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(128 + signum)
