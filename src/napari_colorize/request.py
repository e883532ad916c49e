"""One colorize request: what to colorize an image with, built once by each entry point.

:class:`ColorizeRequest` is a validated, JSON-round-tripping :class:`~napari_colorize.config.Config`:
the model reference (a name or a folder), the tiling (:class:`~napari_colorize.tiling.TilingOptions`
as a dict), the intensity normalisation, the saturation, the confidence, the stack smoothing and
the hints as a table of points (or a CSV path) — sparse, never a dense image.

The command line, :func:`napari_colorize.colorize` and the napari plugin build one; the client
sends it to the engine process as it is (``request.to_dict()`` in the JSON line) and the server
rebuilds it with :meth:`ColorizeRequest.from_dict`.  Hints that a request cannot carry (a dense
:class:`~napari_colorize.hints.Hints`, painted points of a huge image) travel beside it
(:func:`split_hints`).

This module imports neither the engine, the methods, TensorFlow nor napari.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

import numpy as np

from .color import DEFAULT_PERCENTILES, _check_limits, check_normalize, check_percentiles, check_saturation
from .config import Config, check_nonnegative
from .errors import ConfigError, InputError
from .tiling import TILING_KEYS, TilingOptions

__all__ = ["ColorizeRequest", "REQUEST_KEYS", "split_hints", "check_normalize", "check_stack_smoothing"]


def check_stack_smoothing(stack_smoothing: Any) -> float:
    """``stack_smoothing`` as a float >= 0, else a ConfigError."""
    return check_nonnegative(stack_smoothing, "stack_smoothing")


def _is_dense_hints(hints: Any) -> bool:
    from .hints import is_dense_hints  # light (numpy, scipy); imported when hints come

    return is_dense_hints(hints)


def _points_table(hints: Any) -> np.ndarray | None:
    """``hints`` as a non-empty table of points (N, 5..7) of floats, or None when it is not one."""
    if hints is None or isinstance(hints, (str, os.PathLike, dict)) or _is_dense_hints(hints):
        return None
    try:
        points = np.asarray(hints, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if points.ndim != 2 or points.size == 0:
        return None
    return points


def split_hints(hints: Any) -> tuple[Any, Any]:
    """``(in the request, beside it)``: what of ``hints`` a request carries, and what it cannot.

    A CSV path and a non-empty table of points (rows ``[plane,] y, x, r, g, b[, radius]``) go
    into the request; anything else (a dense :class:`~napari_colorize.hints.Hints`, painted
    points, tuples with nested colors, an empty table) stays beside it, as it is.
    """
    if isinstance(hints, (str, os.PathLike)):
        return os.fspath(hints), None
    points = _points_table(hints)
    if points is not None and 5 <= points.shape[1] <= 7:
        return points, None
    return None, hints


@dataclasses.dataclass(frozen=True, kw_only=True)
class ColorizeRequest(Config):
    """What to colorize an image with: one validated value from the entry points to the engine.

    Parameters
    ----------
    model : str, optional
        A model folder or a built-in model name; None when the caller holds a loaded model.
    tiling : dict
        :class:`~napari_colorize.tiling.TilingOptions` as a dict (missing keys take their
        defaults); :attr:`options` gives the TilingOptions.
    rgb : bool, optional
        Whether the image's last axis is color (guessed when None).
    normalize : {"auto", "dtype", "percentile", "none"}
    percentiles : (low, high)
    limits : (low, high), optional
        How gray intensities become lightness (:func:`~napari_colorize.color.intensity_limits`).
    saturation : float
        Multiplies the predicted ab (0 = gray, 1 = the model's colors).
    confidence : bool
        Also compute the model's per-pixel confidence.
    stack_smoothing : float
        Smoothing of ab along a stack where L does not change; 0 is none.
    hints : table of points, CSV path or None
        Rows ``[plane,] y, x, r, g, b[, radius]`` (as
        :meth:`Hints.from_points <napari_colorize.hints.Hints.from_points>` takes them), or a CSV
        file's path.  Kept as a tuple of rows; :meth:`points` gives the array.

    Raises
    ------
    ConfigError, InputError
        One line naming the bad field (the checks of :mod:`~napari_colorize.color`,
        :mod:`~napari_colorize.tiling` and :func:`check_stack_smoothing`).
    """

    method: ClassVar[str] = "colorize"

    model: str | None = None
    tiling: dict[str, Any] = dataclasses.field(default_factory=dict)
    rgb: bool | None = None
    normalize: str = "auto"
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES
    limits: tuple[float, float] | None = None
    saturation: float = 1.0
    confidence: bool = False
    stack_smoothing: float = 0.0
    hints: Any = None

    def __post_init__(self) -> None:
        # the domain checks first, so that a bad value gets their one line (not a type error)
        # a caller may also pass a TilingOptions or None (kept as its dict), and a model folder as
        # an os.PathLike (kept as a str): the fields' types are what is stored
        tiling: object = self.tiling
        if tiling is None or isinstance(tiling, TilingOptions):
            options = TilingOptions.coerce(tiling)
        elif isinstance(tiling, dict):
            options = TilingOptions.from_dict(tiling)
        else:
            raise ConfigError(f"tiling must be TilingOptions or a dict, got {type(tiling).__name__}")
        fixed: dict[str, object] = {
            "tiling": options.to_dict(),
            "normalize": check_normalize(self.normalize),
            "percentiles": check_percentiles(self.percentiles),
            "limits": None if self.limits is None else _check_limits(self.limits),
            "saturation": check_saturation(self.saturation),
            "stack_smoothing": check_stack_smoothing(self.stack_smoothing),
            "hints": _request_hints(self.hints),
        }
        model: object = self.model
        if isinstance(model, os.PathLike):
            fixed["model"] = os.fspath(model)
        for name, value in fixed.items():
            object.__setattr__(self, name, value)
        super().__post_init__()

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        model: Any = None,
        hints: Any = None,
        options: TilingOptions | dict[str, Any] | None = None,
        **keywords: Any,
    ) -> ColorizeRequest:
        """A request from keyword conveniences: the tiling keys go into ``tiling`` (on top of
        ``options``), the others are fields; None leaves a field at its default (``tile=None``
        is kept: untiled).

        ``model`` that is not a name or a folder (a loaded model) leaves ``model`` None;
        ``hints`` must be what a request carries (see :func:`split_hints`).

        Raises
        ------
        InputError
            An unknown keyword.
        """
        fields = set(REQUEST_KEYS) - {"model", "tiling", "hints"}
        unknown = set(keywords) - set(TILING_KEYS) - fields
        if unknown:
            known = ", ".join((*TILING_KEYS, *sorted(fields)))
            raise InputError(f"unknown colorize option(s) {', '.join(sorted(unknown))}; use {known}")
        tiling = {k: v for k, v in keywords.items() if k in TILING_KEYS and (v is not None or k == "tile")}
        values = {k: v for k, v in keywords.items() if k in fields and v is not None}
        ref = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
        return cls(model=ref, tiling=TilingOptions.coerce(options, **tiling).to_dict(), hints=hints, **values)

    # -- reading ------------------------------------------------------------------------
    @property
    def options(self) -> TilingOptions:
        """The tiling as :class:`~napari_colorize.tiling.TilingOptions`."""
        return TilingOptions.from_dict(self.tiling)

    def points(self) -> np.ndarray | None:
        """The hints' table of points (N, 5..7) float64, or None (no hints, or a CSV path)."""
        if self.hints is None or isinstance(self.hints, str):
            return None
        return np.asarray(self.hints, dtype=np.float64)

    def wire_hints(self) -> dict[str, Any] | None:
        """The hints in :func:`~napari_colorize.protocol.encode_hints`'s form (points or CSV), or None."""
        if self.hints is None:
            return None
        if isinstance(self.hints, str):
            return {"csv": self.hints}
        return {"points": self.points()}

    def plane(self, index: int) -> ColorizeRequest:
        """The request for plane ``index`` of a (T, H, W) stack: the points of that plane, without
        their plane column (see :func:`~napari_colorize.protocol.hints_plane`)."""
        from .protocol import hints_plane

        wire = hints_plane(self.wire_hints(), index)
        points = None if wire is None else wire["points"]
        return self.replace(hints=points if points is not None and len(points) else None)


def _request_hints(hints: Any) -> Any:
    """The hints a request keeps: None, a CSV path, or a tuple of rows of 5..7 floats."""
    if hints is None:
        return None
    if isinstance(hints, (str, os.PathLike)):
        return os.fspath(hints)
    if _is_dense_hints(hints) or isinstance(hints, dict):
        raise InputError(
            "the hints of a colorize request are a table of points or a CSV path, "
            f"not {type(hints).__name__} (dense hints travel beside the request)"
        )
    try:
        points = np.asarray(hints, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"hints must be a Hints, a table of points or a CSV path, got {type(hints).__name__}"
        ) from None
    if points.size == 0:
        return None
    if points.ndim != 2 or not 5 <= points.shape[1] <= 7:
        raise InputError(
            f"a table of hint points must be (N, 5..7) ([plane,] y, x, r, g, b[, radius]), got {points.shape}"
        )
    return tuple(tuple(float(v) for v in row) for row in points)


#: the fields of :class:`ColorizeRequest`, in order (the keys of its dict form)
REQUEST_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ColorizeRequest))
