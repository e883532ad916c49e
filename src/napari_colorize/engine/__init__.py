"""Run a model over L arrays of any size: numpy or dask, 2D or stacks, tiled or not.

:func:`colorize` is the one entry point.  It predicts ab for an L array (..., H, W), plane by
plane, either whole (``tile=None``) or in tiles: :mod:`.tile_plan` cuts the plane, and
:mod:`.tile_loop` runs the tiles through the model and merges their ab with a blend.  Tiles of the
same shape are sent to the model in batches (``model.predict_ab_batch``, :mod:`.predict`, which
also halves a batch that runs out of memory).

dask input stays lazy (:mod:`.lazy`): the result is a dask array whose chunks each run the tiles
that touch them, reading only the L they need.  Under an active ``distributed.Client``
(:mod:`.remote`) the graph holds only small picklable objects: a :class:`ModelRef` (the model
folder and its modification time, :mod:`.models`), the tile plan and the options; each worker
loads the model once (:func:`cached_model`).  The blend is the same as on the local path, so
results are equal.

Color hints (:class:`~napari_colorize.hints.Hints`) hold only their hinted pixels; they are made
dense per tile, over its read box with the halo (:mod:`.hint_points`).  ``global_anchor`` anchors the
tiles to a low-resolution whole-plane pass (:mod:`.anchor`); a model with
``needs_global_anchor = True`` tiled with hints gets it switched on and takes it as hints on the
border of each tile.  A model with ``stack_aware = True`` gets an untiled stack (T, H, W) with its
hints in one call.  ``stack_smoothing`` smooths any model's ab along a stack where L does not
change (:mod:`.smoothing`); :func:`predict_confidence` gives a model's confidence
(:mod:`.confidence`).

The modules import downward: ``job`` (what one call carries), ``predict`` and ``tile_plan`` at
the bottom, then ``hint_points``, ``anchor``, ``tile_loop``, ``models``, ``smoothing``,
``confidence``, ``lazy``, ``remote``, and ``entry`` on top (``tests/engine/test_imports.py`` holds the order).
This package imports neither TensorFlow nor napari.
"""

from __future__ import annotations

from ..request import check_stack_smoothing
from ..tiling import TilingOptions
from .confidence import has_confidence, predict_confidence, require_confidence
from .entry import colorize
from .job import EngineResult
from .models import ModelRef, cached_model, model_ref, remember_folder
from .predict import Predictor, TileOOMWarning, is_oom_error

__all__ = [
    "colorize",
    "EngineResult",
    "TilingOptions",
    "check_stack_smoothing",
    "has_confidence",
    "require_confidence",
    "predict_confidence",
    "Predictor",
    "ModelRef",
    "model_ref",
    "remember_folder",
    "cached_model",
    "TileOOMWarning",
    "is_oom_error",
]
