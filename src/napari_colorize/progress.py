"""Progress reporting: what the engine reports while colorizing, and tqdm bars for training.

The engine reports with a :data:`ProgressCallback` ``(done, total)`` (tiles, or planes when
untiled) through a :class:`TileProgress`, which also polls ``should_stop``.  A progress
*event* crossing a process boundary is defined in :mod:`napari_colorize.protocol`
(:func:`~napari_colorize.protocol.progress_event`).

For training, Keras-based methods need a real ``keras.callbacks.Callback``; the lookup
method calls the same hooks by name.  :func:`make_callback` builds the right kind lazily,
so the napari process never imports Keras through it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import Cancelled

if TYPE_CHECKING:
    from tqdm.auto import tqdm

__all__ = [
    "ProgressCallback",
    "StopCallback",
    "TileProgress",
    "tqdm_progress",
    "make_callback",
    "TqdmHooks",
]

#: called as ``progress(done, total)`` after each batch of tiles (or each plane when untiled)
ProgressCallback = Callable[[int, int], None]
#: polled before each batch; returning True cancels with :class:`~napari_colorize.errors.Cancelled`
StopCallback = Callable[[], bool]
#: Keras's ``logs`` of a callback hook: metric name to value (floats, or numbers of another type)
Logs = dict[str, Any]

_Hooks = TypeVar("_Hooks")


class TileProgress:
    """Counts the engine's work units (thread-safe), reports them and polls for a stop.

    Parameters
    ----------
    total : int
        Work units (tiles, anchor passes, or planes when untiled).
    callback : ProgressCallback, optional
    should_stop : StopCallback, optional
    """

    def __init__(
        self, total: int, callback: ProgressCallback | None = None, should_stop: StopCallback | None = None
    ) -> None:
        self.total = int(total)
        self.done = 0
        self.callback = callback
        self.should_stop = should_stop
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise :class:`Cancelled` when ``should_stop()`` says so."""
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("colorization cancelled")

    def step(self, n: int = 1) -> None:
        """Count ``n`` units done and report."""
        with self._lock:
            self.done = min(self.done + n, self.total) if self.total else self.done + n
            done = self.done
        if self.callback is not None:
            self.callback(done, self.total)


def tqdm_progress(desc: str) -> ProgressCallback:
    """A :data:`ProgressCallback` drawing a tqdm bar of tiles (closed when done).

    The bar's clock starts when this function is called, not at the first report (which comes
    after the first batch of tiles), so its rate is tiles per second of real work.
    """
    from tqdm.auto import tqdm

    state: dict[str, Any] = {"bar": None, "t0": time.time()}

    def progress(done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            bar = state["bar"] = tqdm(total=total, desc=desc, unit="tile", leave=False)
            # tqdm's clock (time.time) starts now; the work started when this callback was made
            bar.start_t = bar.last_print_t = state["t0"]
        bar.total = total
        bar.update(done - bar.n)  # through update, so that tqdm's rate sees the real steps
        bar.refresh()
        if done >= total:
            bar.close()
            state["bar"] = None
            state["t0"] = time.time()

    return progress


class TqdmHooks:
    """Keras callback hooks that drive a tqdm bar (one tick per batch)."""

    def __init__(
        self, *, desc: str = "training", on_log: Callable[[str, dict[str, float]], None] | None = None
    ) -> None:
        self._desc = desc
        self._bar: tqdm | None = None
        self._on_log = on_log

    def _make_bar(self, total: int | None) -> tqdm:
        """A new bar of ``total`` batches (the current one closed), kept as ``self._bar``."""
        from tqdm.auto import tqdm

        if self._bar is not None:
            self._bar.close()
        self._bar = bar = tqdm(total=total, desc=self._desc, unit="batch", leave=True)
        return bar

    def on_train_begin(self, logs: Logs | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        params = getattr(self, "params", None) or {}
        bar = self._make_bar(params.get("steps"))
        epochs = params.get("epochs")
        bar.set_description(f"{self._desc} epoch {epoch + 1}" + (f"/{epochs}" if epochs else ""))

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        bar = self._make_bar(None) if self._bar is None else self._bar
        bar.update(1)
        if logs:
            bar.set_postfix(
                {k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, (int, float))}, refresh=False
            )

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix({k: f"{float(v):.4g}" for k, v in logs.items()}, refresh=True)
            self._bar.close()
            self._bar = None
        if self._on_log is not None:
            self._on_log("epoch", {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def make_callback(hooks: type[_Hooks], *, keras: bool, **kwargs: Any) -> _Hooks:
    """Instantiate ``hooks`` (a class of Keras hook methods), as a real Keras callback if ``keras``.

    With ``keras``, the object is of a subclass of both ``hooks`` and ``keras.callbacks.Callback``.
    """
    if not keras:
        return hooks(**kwargs)
    import keras as _keras

    # a class made at run time: Any, and the return type says what its instance is
    cls: Any = type(hooks.__name__ + "Callback", (hooks, _keras.callbacks.Callback), {})
    obj = cls.__new__(cls)
    _keras.callbacks.Callback.__init__(obj)
    hooks.__init__(obj, **kwargs)
    return obj
