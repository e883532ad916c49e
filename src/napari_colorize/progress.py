"""Progress reporting for training: a tqdm bar fed by Keras-style callbacks.

Keras-based methods need a real ``keras.callbacks.Callback``; the lookup
method calls the same hooks by name.  :func:`make_callback` builds the
right kind lazily, so the napari process never imports Keras through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["make_callback", "TqdmHooks"]


class TqdmHooks:
    """Keras callback hooks that drive a tqdm bar (one tick per batch)."""

    def __init__(self, *, desc: str = "training", on_log: Callable[[str, dict], None] | None = None) -> None:
        self._desc = desc
        self._bar = None
        self._on_log = on_log

    def _make_bar(self, total: int | None) -> None:
        from tqdm.auto import tqdm

        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(total=total, desc=self._desc, unit="batch", leave=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        params = getattr(self, "params", None) or {}
        self._make_bar(params.get("steps"))
        epochs = params.get("epochs")
        self._bar.set_description(f"{self._desc} epoch {epoch + 1}" + (f"/{epochs}" if epochs else ""))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is None:
            self._make_bar(None)
        self._bar.update(1)
        if logs:
            self._bar.set_postfix(
                {k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, (int, float))}, refresh=False
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix({k: f"{float(v):.4g}" for k, v in logs.items()}, refresh=True)
            self._bar.close()
            self._bar = None
        if self._on_log is not None:
            self._on_log("epoch", {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def make_callback(hooks: type, *, keras: bool, **kwargs: Any) -> Any:
    """Instantiate ``hooks`` (a class of Keras hook methods), as a real Keras callback if ``keras``."""
    if not keras:
        return hooks(**kwargs)
    import keras as _keras

    cls = type(hooks.__name__ + "Callback", (hooks, _keras.callbacks.Callback), {})
    obj = cls.__new__(cls)
    _keras.callbacks.Callback.__init__(obj)
    hooks.__init__(obj, **kwargs)
    return obj
