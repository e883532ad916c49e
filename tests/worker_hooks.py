"""Test-only server commands (``_crash``, ``_sleep``, ``_modules``), registered through
``$NAPARI_COLORIZE_SERVER_HANDLERS`` by :func:`hook_env`; production servers never load them."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from napari_colorize.errors import Cancelled
from napari_colorize.server import HANDLERS_ENV


def _crash(server: Any, rid: int, code: int = 1) -> None:
    """Die like a segfault would (tests the client's recovery)."""
    sys.stderr.write("napari-colorize server: crashing on request\n")
    sys.stderr.flush()
    os._exit(code)


def _sleep(server: Any, rid: int, seconds: float = 10.0, cooperative: bool = True) -> dict[str, Any]:
    """Sleep, reporting progress; honours a stop when ``cooperative``."""
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        time.sleep(0.05)
        n += 1
        if n % 4 == 0:
            server.progress(rid, "sleep", done=n, total=int(seconds / 0.05))
        if cooperative and server.stop_requested.is_set():
            raise Cancelled("sleep stopped")
    return {"slept": time.monotonic() - t0}


def _modules(server: Any, rid: int) -> list[str]:
    roots = ("tensorflow", "keras", "napari", "qtpy", "PyQt5", "PyQt6")
    return sorted(m for m in sys.modules if m.split(".")[0] in roots)


HANDLERS = {"_crash": _crash, "_sleep": _sleep, "_modules": _modules}


def hook_env() -> dict[str, str]:
    """Environment variables that make a server load these handlers."""
    here = str(Path(__file__).resolve().parent)
    path = os.environ.get("PYTHONPATH")
    return {HANDLERS_ENV: "worker_hooks", "PYTHONPATH": here + (os.pathsep + path if path else "")}
