"""Download and install a pretrained model in the engine worker, with napari's progress bar."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from ..client import Worker, get_worker
from ._lifecycle import refresh_model_lists
from ._task_runner import _run

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

    def gen(should_stop: Callable[[], bool] | None = None) -> Generator[dict, None, dict]:
        return (yield from worker.iter_request("fetch", should_stop=should_stop, name=entry.name))

    def finish(res: dict) -> Path:
        refresh_model_lists()
        return Path(res["path"])

    return _run(
        gen,
        (),
        worker=worker,
        desc=f"downloading {entry.name}",
        finish=finish,
        blocking=blocking,
        start=start,
        preview=None,
        on_done=on_done,
        on_error=on_error,
        label_stages=False,
    )
