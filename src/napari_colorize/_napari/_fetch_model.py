"""Download and install a pretrained model in the engine worker, with napari's progress bar."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from ..client import Worker, get_worker
from ._lifecycle import refresh_model_lists
from ._notifications import _notify_error
from ._task_runner import _feed, _progress_bar

__all__ = ["fetch_model"]


def fetch_model(
    name: str,
    *,
    blocking: bool = True,
    start: bool = True,
    worker: Worker | None = None,
    on_done: Callable[[Path], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> Any:
    """Download and install a pretrained model of the catalogue in the engine worker.

    The download, its SHA-256 check and the conversion (torch, TensorFlow) run in the worker
    (:func:`napari_colorize.install.fetch`); napari shows the download's progress.  The
    model lists of the Colorize widgets then show the installed model.

    Parameters
    ----------
    name : str
        A catalogue name (:func:`napari_colorize.pretrained.list_pretrained`).
    blocking : bool
        Wait and return the model folder; with ``False`` return the napari ``GeneratorWorker``
        (its ``request_stop()`` cancels the download: nothing is installed).
    start : bool
        With ``blocking=False``: start it at once, or leave that to the caller.
    worker : Worker, optional
        The engine worker (``get_worker("interactive")`` by default).
    on_done, on_error : callable, optional
        Called with the model folder / the exception (non-blocking mode).
    """
    from ..pretrained import get_pretrained

    entry = get_pretrained(name)  # an unknown name: one line, before the worker
    worker = worker or get_worker("interactive")
    stop = threading.Event()

    def gen() -> Generator[dict, None, dict]:
        return (yield from worker.iter_request("fetch", should_stop=stop.is_set, name=entry.name))

    if blocking:
        g = gen()
        pbar = _progress_bar(f"downloading {entry.name}")
        try:
            while True:
                _feed(pbar, next(g))
        except StopIteration as s:
            res = s.value
        finally:
            pbar.close()
        refresh_model_lists()
        return Path(res["path"])

    from napari.qt.threading import create_worker

    tw = create_worker(gen, _start_thread=False, _connect={"errored": on_error or _notify_error})
    state: dict[str, Any] = {"pbar": None}

    def yielded(ev: dict) -> None:
        if state["pbar"] is None:
            state["pbar"] = _progress_bar(f"downloading {entry.name}")
        _feed(state["pbar"], ev)

    def close(*_: Any) -> None:
        if state["pbar"] is not None:
            state["pbar"].close()
            state["pbar"] = None

    def returned(res: dict) -> None:
        refresh_model_lists()
        if on_done is not None:
            on_done(Path(res["path"]))

    tw.yielded.connect(yielded)
    tw.returned.connect(returned)
    tw.finished.connect(close)
    tw.engine_worker = worker  # type: ignore[attr-defined]

    def request_stop() -> None:
        stop.set()
        worker.stop()

    tw.request_stop = request_stop  # type: ignore[attr-defined]
    if start:
        tw.start()
    return tw
