"""Running an engine request from napari: a progress bar, blocking or in a napari worker thread.

Also the warm-up that starts an engine worker in the background before the first run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..catalogue import resolve_model_path
from ..client import Worker, get_worker
from ..protocol import progress_fraction, progress_message
from ._notifications import _notify_error

__all__ = ["warm_up", "warming"]


def _progress_bar(desc: str) -> Any:
    from napari.utils import progress

    return progress(total=0, desc=desc)


def _feed(pbar: Any, ev: dict, desc: str = "") -> None:
    """Show a progress event on a napari progress bar: its fraction, and its stage after ``desc``."""
    text = progress_message(ev)
    if text is not None and ev.get("stage") != "tiles":
        pbar.set_description(f"{desc}: {text}" if desc else text)
    frac = progress_fraction(ev)
    if frac is not None:
        done, total = frac
        if pbar.total != total:
            pbar.total = total
        pbar.n = done
        pbar.refresh()


def _run(
    gen_fn: Callable[..., Any],
    args: tuple,
    *,
    worker: Worker,
    desc: str,
    finish: Callable[[dict], Any],
    blocking: bool,
    start: bool,
    preview: Any,
    on_done: Callable[[Any], None] | None,
    on_error: Callable[[BaseException], None] | None,
    on_event: Callable[[dict], None] | None = None,
    label_stages: bool = True,
) -> Any:
    """Run an engine request generator with a napari progress bar: blocking, or as a napari worker.

    Blocking returns ``finish(result)``.  Otherwise the ``GeneratorWorker`` is returned (started
    if ``start``) with ``engine_worker`` (a Cancel button stops it), ``preview`` and
    ``request_stop`` (stop the request in flight now, or the next one it makes); ``finish``
    then runs in the GUI thread and ``on_done`` gets its result.  ``on_event`` sees every
    progress event first; ``label_stages`` puts ``desc`` before each stage on the bar.
    """
    feed_desc = desc if label_stages else ""
    if blocking:
        gen = gen_fn(*args)
        pbar = _progress_bar(desc)
        try:
            while True:
                ev = next(gen)
                if on_event is not None:
                    on_event(ev)
                _feed(pbar, ev, feed_desc)
        except StopIteration as s:
            res = s.value
        finally:
            pbar.close()
        return finish(res)

    from napari.qt.threading import create_worker

    def errored(exc: BaseException) -> None:
        (on_error or _notify_error)(exc)

    stop = threading.Event()
    tw = create_worker(gen_fn, *args, stop.is_set, _start_thread=False, _connect={"errored": errored})
    state: dict[str, Any] = {"pbar": None}

    def yielded(ev: dict) -> None:
        if on_event is not None:
            on_event(ev)
        if state["pbar"] is None:
            state["pbar"] = _progress_bar(desc)
        _feed(state["pbar"], ev, feed_desc)

    def close(*_: Any) -> None:
        if state["pbar"] is not None:
            state["pbar"].close()
            state["pbar"] = None

    def returned(res: dict) -> None:
        layers = finish(res)
        if on_done is not None:
            on_done(layers)

    tw.yielded.connect(yielded)
    tw.returned.connect(returned)
    tw.finished.connect(close)
    tw.engine_worker = worker  # type: ignore[attr-defined]
    tw.preview = preview  # type: ignore[attr-defined]

    def request_stop() -> None:
        """Stop this run: its request in flight now, or the next one it makes."""
        stop.set()
        worker.stop()

    tw.request_stop = request_stop  # type: ignore[attr-defined]
    if start:
        tw.start()
    return tw


_WARMING: dict[str, threading.Thread] = {}


def warm_up(model: Any = None, *, role: str = "interactive") -> threading.Thread | None:
    """Start the engine worker in the background and load ``model`` there, so the first run is fast.

    Returns at once; the thread it returns ends when the worker is ready (errors are
    left for the first real run to report).  A worker already running is left alone.

    Parameters
    ----------
    model : str or path, optional
        A model the user is likely to run (loading it may start TensorFlow in the worker).
    role : str
        The worker (see :func:`napari_colorize.client.get_worker`).
    """
    worker = get_worker(role)
    running = _WARMING.get(role)
    if running is not None and running.is_alive():
        return running
    if getattr(worker, "alive", True) or not hasattr(worker, "start"):
        return None
    spec = None
    if model is not None:
        try:
            spec = str(resolve_model_path(model).resolve())
        except Exception:  # a model that is not there: the run will say so
            spec = None

    def run() -> None:
        try:
            worker.start()
            if spec is not None:
                worker.request("describe", model=spec)
        except Exception:  # a failed warm-up costs nothing: the first run starts over and reports
            pass

    thread = threading.Thread(target=run, daemon=True, name=f"colorize-warm-up-{role}")
    _WARMING[role] = thread
    thread.start()
    return thread


def warming(role: str = "interactive") -> bool:
    """Whether :func:`warm_up` is still starting the worker of ``role``."""
    t = _WARMING.get(role)
    return t is not None and t.is_alive()
