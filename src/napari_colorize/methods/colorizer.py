"""The :class:`Colorizer` base class and model folders.

A method is a :class:`Colorizer` subclass with a :class:`~napari_colorize.config.Config`
subclass.  Its contract:

- ``fit(data, *, epochs=None, callbacks=None)`` learns from color images;
- ``predict_ab(L, *, hints=None)`` maps a float32 (H, W) L (0..100) to
  float32 (H, W, 2) ab in Lab units, at the same resolution.  It validates L
  and calls the method's ``_predict_ab``; color hints go to the method itself
  when it takes them natively (``native_hints``), and are otherwise fused
  with its prediction by :func:`napari_colorize.hints.fuse_hints`;
- ``save(path)`` writes a model folder (``config.json`` plus weights),
  atomically; :func:`load_model` reads one back and refuses a folder of
  another method, a newer package version or a corrupt file.

This module must not import TensorFlow: method modules import it lazily.
"""

from __future__ import annotations

import dataclasses
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._version import __version__
from ..config import Config
from ..errors import ConfigError, InputError, ModelFolderError
from ..io import atomic_dir, jsonable

__all__ = ["Colorizer", "FORMAT_VERSION", "read_model_info", "check_L"]

#: Version of the model-folder layout.  Bump when the layout changes.
FORMAT_VERSION = 1

ProgressFn = Callable[[int, int], None]


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def check_L(L: Any, *, ndim: int = 2, name: str = "L") -> np.ndarray:
    """Validate an L array: float32, finite, 0..100, ``ndim`` dimensions, non-empty."""
    L = np.asarray(L)
    if L.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimensions, got shape {L.shape}")
    if L.size == 0:
        raise InputError(f"{name} is empty (shape {L.shape})")
    if not (np.issubdtype(L.dtype, np.floating) or np.issubdtype(L.dtype, np.integer)):
        raise InputError(f"{name} must be numeric, got dtype {L.dtype}")
    L = L.astype(np.float32, copy=False)
    if not np.all(np.isfinite(L)):
        raise InputError(f"{name} contains NaN or infinite values")
    return np.clip(L, 0.0, 100.0)


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a model folder's ``config.json``.

    Returns
    -------
    dict
        With keys ``method``, ``config``, ``version``, ``format`` and
        ``info`` (free-form provenance, e.g. what it was trained on).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFolderError(f"no such model folder: {path}")
    if not path.is_dir():
        raise ModelFolderError(f"{path} is not a model folder (expected a folder with config.json)")
    cfg = path / "config.json"
    if not cfg.is_file():
        raise ModelFolderError(f"{path} is not a model folder: config.json is missing")
    try:
        info = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{cfg} is corrupt: {e}") from None
    if not isinstance(info, dict) or not {"method", "config", "version"} <= set(info):
        raise ModelFolderError(f"{cfg} is not a napari-colorize model config (needs method, config, version)")
    for key, types, what in (
        ("method", (str,), "a method name (a string)"),
        ("config", (dict,), "an object of config values"),
        ("version", (str, int, float), "a version string"),
        ("format", (int,), "a whole number"),
        ("info", (dict,), "an object"),
        ("trained", (bool,), "true or false"),
    ):
        value = info.get(key)
        if key not in info or (key in ("info", "trained") and value is None):
            continue
        if not isinstance(value, types) or (key in ("format", "version") and isinstance(value, bool)):
            raise ModelFolderError(f"{cfg}: {key!r} must be {what}, got {json.dumps(value)}")
    from . import METHODS

    if info["method"] not in METHODS:
        raise ModelFolderError(f"{cfg}: unknown method {info['method']!r} (methods: {', '.join(METHODS)})")
    if (
        info.get("format", 1) > FORMAT_VERSION
        or _version_tuple(str(info["version"]))[:2] > _version_tuple(__version__)[:2]
    ):
        raise ModelFolderError(
            f"{path} was saved by napari-colorize {info['version']} (format {info.get('format', 1)}), "
            f"newer than this {__version__}; upgrade napari-colorize to load it"
        )
    return info


def _has_hints(hints: Any) -> bool:
    return hints is not None and bool(np.any(np.asarray(hints.mask)))


def _hints_plane(hints: Any, i: int) -> Any:
    """Plane ``i`` of batch hints (same type, ``ab`` and ``mask`` sliced)."""
    ab, mask = np.asarray(hints.ab)[i], np.asarray(hints.mask)[i]
    if dataclasses.is_dataclass(hints):
        return dataclasses.replace(hints, ab=ab, mask=mask)
    return type(hints)(ab, mask)


class Colorizer(ABC):
    """Base class of every colorization method.

    Subclasses set ``name`` and ``Config`` and implement :meth:`fit`,
    :meth:`_predict_ab`, :meth:`_save_weights` and :meth:`_load_weights`
    (neural methods extend :class:`~napari_colorize.methods.keras_colorizer.KerasColorizer`).

    Class attributes used by the tiling engine:

    - ``block_size``: total downsampling; tiles are aligned to it;
    - ``receptive_field``: half-width in px of the input a pixel's output
      depends on (the default tile halo);
    - ``default_tile`` and ``default_overlap``: tiling defaults, px.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[Config]] = Config
    #: whether ``_predict_ab`` takes color hints itself (else they are fused with its prediction)
    native_hints: ClassVar[bool] = False
    #: predicts a whole stack (T, H, W) in one call (e.g. affinities along the stack axis)
    stack_aware: ClassVar[bool] = False
    #: its prediction with hints is one global solve: the engine anchors tiles on a coarse pass
    needs_global_anchor: ClassVar[bool] = False
    #: whether the weights depend on training (False for an untrained model)
    trained: bool

    def __init__(self, config: Config | dict[str, Any] | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.Config.from_dict(overrides)
        elif isinstance(config, dict):
            config = self.Config.from_dict(config, **overrides)
        elif isinstance(config, self.Config):
            if overrides:
                config = config.replace(**overrides)
        else:
            raise ConfigError(
                f"{self.name}: config must be a {self.Config.__name__} or a dict, got {type(config).__name__}"
            )
        self.config = config
        self.trained = False
        #: provenance recorded in config.json (what it was trained on and how)
        self.info: dict[str, Any] = {}

    def forget_optimizer_state(self) -> None:
        """Start the next ``fit`` with a fresh optimizer (fine-tuning rather than resuming).

        Methods without an optimizer have nothing to forget.
        """
        return None

    # -- tiling properties -------------------------------------------------
    @property
    def block_size(self) -> int:
        return 1

    @property
    def receptive_field(self) -> int:
        return 0

    @property
    def default_tile(self) -> int:
        return 512

    @property
    def default_overlap(self) -> int:
        return 64

    # -- the contract ------------------------------------------------------
    @abstractmethod
    def fit(
        self, data: Any, *, epochs: int | None = None, callbacks: Sequence[Any] | None = None, **kwargs: Any
    ) -> dict[str, list[float]]:
        """Learn from color images.

        Parameters
        ----------
        data : path, list of paths/folders, RGB array or list of RGB arrays
            Training images (see :func:`napari_colorize.data.as_sources`).
        epochs : int, optional
            Overrides ``config.epochs`` where the method has epochs.
        callbacks : list of keras.callbacks.Callback, optional
            Passed to Keras (progress, stopping).  Methods that do not use
            Keras call ``on_train_begin``/``on_epoch_end``/``on_train_end``
            where they can.

        Returns
        -------
        dict
            Training history: metric name to a list of per-epoch values.
        """

    def predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        """Predict ab (H, W, 2) float32 in Lab units from L (H, W) in 0..100.

        Parameters
        ----------
        L : ndarray (H, W), or (T, H, W) for a ``stack_aware`` method
            Lightness, 0..100 (validated and clipped).
        hints : napari_colorize.Hints, optional
            Color hints: ``ab`` (H, W, 2) float32 in Lab units and ``mask``
            (H, W), 1 where a hint is.  None or an empty mask gives exactly the
            method's own prediction.
        """
        L = check_L(L, ndim=3 if self.stack_aware and np.ndim(L) == 3 else 2)
        if not _has_hints(hints):
            return self._predict_ab(L)
        if self.native_hints:
            return self._predict_ab(L, hints=hints)
        from ..hints import fuse_hints

        return fuse_hints(L, self._predict_ab(L), hints)

    def predict_ab_batch(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        """Predict a batch: (N, H, W) L to (N, H, W, 2) ab.

        ``hints`` carries a leading N axis (``ab`` (N, H, W, 2), ``mask`` (N, H, W)).
        """
        L = check_L(L, ndim=3)
        if not _has_hints(hints):
            return self._predict_ab_batch(L)
        return np.stack([self.predict_ab(x, hints=_hints_plane(hints, i)) for i, x in enumerate(L)])

    @abstractmethod
    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        """ab (H, W, 2) float32 for a checked L (H, W); ``hints`` only when ``native_hints``."""

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        """ab (N, H, W, 2) float32 for a checked L (N, H, W).  Override for speed."""
        return np.stack([self._predict_ab(x) for x in L]).astype(np.float32, copy=False)

    def _save_extra(self, folder: Path, *, optimizer: bool) -> None:
        """Write what a model folder holds beyond the weights (the optimizer's state); a hook."""
        return None

    def _load_extra(self, folder: Path) -> None:
        """Read what :meth:`_save_extra` wrote; a hook."""
        return None

    # -- model folders -----------------------------------------------------
    @abstractmethod
    def _save_weights(self, folder: Path) -> None:
        """Write the method's weights/state into ``folder`` (a temporary folder)."""

    @abstractmethod
    def _load_weights(self, folder: Path) -> None:
        """Read what :meth:`_save_weights` wrote."""

    def save(self, path: str | os.PathLike, *, optimizer: bool = True, overwrite: bool = False) -> Path:
        """Save as a model folder, atomically (the old folder survives a failure).

        Parameters
        ----------
        path : path
            The model folder: a new or empty folder, or with ``overwrite`` an existing model
            folder (replaced as a whole).  Anything else is refused
            (:func:`~napari_colorize.catalogue.check_model_out`).
        optimizer : bool
            Keep the optimizer's state (``optimizer.npz``, about twice the weights' size) so that
            ``train(..., resume=True)`` continues exactly; False for a model that is only shipped.
        overwrite : bool
            Replace an existing model folder at ``path``.

        Raises
        ------
        ModelFolderError
            ``path`` is not a folder a model may be saved into, or another save into it is
            under way.
        """
        from ..catalogue import check_model_out
        from ..io import dir_lock

        try:
            path = check_model_out(path, overwrite=overwrite)
        except ModelFolderError:
            if not isinstance(path, (str, os.PathLike)):
                raise
            # another save may have been between its two renames: look again under the lock
            # (a save still under way then says so)
            with dir_lock(Path(path).expanduser()):
                path = check_model_out(path, overwrite=overwrite)
        payload = {
            "method": self.name,
            "version": __version__,
            "format": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "trained": self.trained,
            "info": self.info,
        }
        with atomic_dir(path, check=lambda p: check_model_out(p, overwrite=overwrite)) as tmp:
            self._save_weights(tmp)
            self._save_extra(tmp, optimizer=optimizer)
            (tmp / "config.json").write_text(
                json.dumps(jsonable(payload), indent=2, sort_keys=True, allow_nan=False)
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Colorizer:
        """Load a model folder saved by this method."""
        path = Path(path)
        info = read_model_info(path)
        if info["method"] != cls.name:
            raise ModelFolderError(f"{path} holds a {info['method']!r} model, not a {cls.name!r} model")
        try:
            config = cls.Config.from_dict(info["config"])
        except ConfigError as e:
            raise ModelFolderError(f"{path}: invalid config.json: {e}") from None
        model = cls(config)
        model.info = dict(info.get("info") or {})
        try:
            model._load_weights(path)
        except ModelFolderError:
            raise
        except Exception as e:  # noqa: BLE001 - any reader error means a bad folder
            raise ModelFolderError(f"cannot load weights from {path}: {type(e).__name__}: {e}") from None
        model._load_extra(path)
        model.trained = bool(info.get("trained", True))
        return model

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
