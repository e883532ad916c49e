"""One model call: a batch of L in, ab out, padded to the block size, halved on out of memory.

:class:`Predictor` is what the engine needs of a model.  :func:`_predict` sends a batch of
equal-shape planes (``predict_ab_batch`` when the model has it; hinted planes one by one with
``predict_ab(L, hints=...)``) and halves the batch when the model runs out of memory
(:class:`TileOOMWarning`); a batch of one that does not fit raises ``_TileOOM``, which the
callers answer with smaller tiles.  :func:`_predict_padded` reflect-pads to the model's block
size and crops back.  The checks of the L the engine is given are here too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ColorizeError, InputError, user_stacklevel
from ..tiling import pad_to_block

if TYPE_CHECKING:
    from ..hints import Hints


@runtime_checkable
class Predictor(Protocol):
    """What the engine needs from a model.

    ``predict_ab`` is required.  The engine also uses, when present: ``predict_ab_batch``
    ((N, h, w) L -> (N, h, w, 2) ab), ``block_size`` (total downsampling: tiles are
    multiples of it), ``receptive_field`` (px; the default halo), ``default_tile`` and
    ``default_overlap`` (px, for ``tile="auto"``).  Every method's ``Colorizer`` is one.
    With color hints, ``predict_ab(L, hints=...)`` is called tile by tile; ``needs_global_anchor``
    and ``stack_aware`` (see the module docstring) are read when present.
    """

    def predict_ab(self, L: np.ndarray, *, hints: Hints | None = None) -> np.ndarray:
        """(h, w) float32 L in 0..100 -> (h, w, 2) float32 ab (``hints=`` only when hints are given)."""
        ...


class ConfidencePredictor(Predictor, Protocol):
    """A :class:`Predictor` with the optional ``predict_confidence`` (see
    :func:`~napari_colorize.engine.confidence.predict_confidence`)."""

    def predict_confidence(self, L: np.ndarray, *, hints: Hints | None = None) -> np.ndarray:
        """(h, w) float32 L in 0..100 -> (h, w) float32 confidence in 0..1."""
        ...


class TileOOMWarning(RuntimeWarning):
    """The model ran out of memory; the engine retried with smaller tiles."""


def is_oom_error(e: BaseException) -> bool:
    """Whether ``e`` is an out-of-memory error of TensorFlow (checked by class name) or torch."""
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & {"ResourceExhaustedError", "OutOfMemoryError"})


class _TileOOM(Exception):
    """Out of memory with a batch of one tile."""


def _is_dask(x: Any) -> bool:
    return hasattr(x, "dask") and hasattr(x, "chunks") and type(x).__module__.startswith("dask")


def _model_int(model: Predictor, name: str, default: int) -> int:
    v = getattr(model, name, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _predict(model: Predictor, x: np.ndarray, hints: Sequence[Any] | None = None) -> np.ndarray:
    """Predict (N, h, w) L -> (N, h, w, 2) ab, halving the batch on out-of-memory.

    ``hints`` holds one dense Hints or None per item: hinted items are predicted one by one
    with ``predict_ab(x_i, hints=h_i)``, the others batched as without hints.
    """
    if hints is not None and any(h is not None for h in hints):
        out = np.empty(x.shape + (2,), np.float32)
        plain = [i for i, h in enumerate(hints) if h is None]
        if plain:
            out[plain] = _predict(model, x[plain])
        for i, h in enumerate(hints):
            if h is None:
                continue
            try:
                ab = np.asarray(model.predict_ab(x[i], hints=h), dtype=np.float32)
            except Exception as e:  # noqa: BLE001 - only OOM is handled here
                if is_oom_error(e):
                    raise _TileOOM(str(e)) from e
                raise
            _check_ab_shape(model, ab.shape, x[i].shape)
            out[i] = ab
        return out
    try:
        if x.shape[0] == 1:
            ab = np.asarray(model.predict_ab(x[0]), dtype=np.float32)[None]
        elif hasattr(model, "predict_ab_batch"):
            ab = np.asarray(model.predict_ab_batch(x), dtype=np.float32)
        else:
            ab = np.stack([np.asarray(model.predict_ab(p), np.float32) for p in x])
    except Exception as e:  # noqa: BLE001 - only OOM is handled here
        if not is_oom_error(e):
            raise
        if x.shape[0] == 1:
            raise _TileOOM(str(e)) from e
        half = x.shape[0] // 2
        warnings.warn(
            f"model out of memory with a batch of {x.shape[0]} tiles; retrying with {half}",
            TileOOMWarning,
            stacklevel=user_stacklevel(),
        )
        return np.concatenate([_predict(model, x[:half]), _predict(model, x[half:])])
    _check_ab_shape(model, ab.shape[1:], x.shape[1:])
    if len(ab) != len(x):
        _check_ab_shape(model, ab.shape, x.shape)
    return ab


def _check_ab_shape(model: Predictor, ab_shape: tuple[int, ...], L_shape: tuple[int, ...]) -> None:
    """A clear error when a model's ab does not have L's shape + (2,)."""
    if tuple(ab_shape) != tuple(L_shape) + (2,):
        raise ColorizeError(
            f"{type(model).__name__} returned ab of shape {tuple(ab_shape)} for L of shape "
            f"{tuple(L_shape)}; expected {tuple(L_shape) + (2,)}"
        )


def _predict_padded(
    model: Predictor, x: np.ndarray, block: int, hints: Sequence[Any] | None = None
) -> np.ndarray:
    """Predict a batch (N, h, w), reflect-padded to the block size and cropped back.

    Hints (one dense Hints or None per item) are padded with "no hint".
    """
    xp, (h, w) = pad_to_block(x, block)
    if hints is not None and xp.shape != x.shape:
        hints = [None if hi is None else _pad_hints(hi, xp.shape[-2:]) for hi in hints]
    return _predict(model, np.ascontiguousarray(xp, dtype=np.float32), hints)[:, :h, :w]


def _hints_class() -> Any:
    from ..hints import Hints

    return Hints


def _pad_hints(h: Any, shape: tuple[int, int]) -> Any:
    """Hints grown at the end of their last two axes to ``shape`` (no hint there)."""
    return h.box((0, 0) + tuple(shape))


def _check_plane(L: np.ndarray) -> np.ndarray:
    from ..methods.colorizer import check_L

    return check_L(L, ndim=2)


def _check_array(L: Any) -> None:
    shape = tuple(L.shape)
    if len(shape) < 2:
        raise InputError(f"L must be an array (..., H, W) with at least 2 dimensions, got shape {shape}")
    if any(s == 0 for s in shape):
        raise InputError(f"L is empty (shape {shape})")
    dt = np.dtype(L.dtype)
    if not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer) or dt.kind == "b"):
        raise InputError(f"L must be numeric, got dtype {dt}")
