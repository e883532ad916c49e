"""Models by their folder: :class:`ModelRef` and the per-process model cache.

Under a ``distributed.Client`` the dask graph carries a :class:`ModelRef` (the model folder and
its modification time) instead of the model; each worker process loads the model once and keeps
it (:func:`cached_model`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .predict import Predictor


@dataclass(frozen=True)
class ModelRef:
    """A model by its folder: what a distributed dask graph carries instead of the model.

    Attributes
    ----------
    folder : str
        The model folder (absolute; every worker must see it, e.g. on a shared file system).
    mtime : float
        Modification time of its ``config.json``: a model saved again is loaded again.
    """

    folder: str
    mtime: float

    @classmethod
    def of(cls, folder: str | os.PathLike[str]) -> ModelRef:
        """A reference to the model folder ``folder`` as it is now."""
        f = Path(folder).resolve()
        cfg = f / "config.json"
        if not cfg.is_file():
            raise ConfigError(f"{f} is not a model folder (no config.json)")
        return cls(str(f), cfg.stat().st_mtime)


#: models a process keeps loaded (the least recently loaded goes first)
MODEL_CACHE_SIZE = 4
# per process: (folder, mtime) -> loaded model
_MODEL_CACHE: dict[tuple[str, float], Predictor] = {}
_MODEL_CACHE_LOCK = threading.Lock()
# loaded or saved models -> their folder (weak: forgetting a model forgets its folder)
_FOLDERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def cached_model(ref: ModelRef) -> Predictor:
    """The model of ``ref``, loaded once per process and kept (a newer save replaces it)."""
    key = (ref.folder, ref.mtime)
    with _MODEL_CACHE_LOCK:
        m = _MODEL_CACHE.get(key)
        if m is None:
            from ..methods import load_model

            for old in [k for k in _MODEL_CACHE if k[0] == ref.folder]:
                del _MODEL_CACHE[old]
            while len(_MODEL_CACHE) >= MODEL_CACHE_SIZE:
                del _MODEL_CACHE[next(iter(_MODEL_CACHE))]
            m = _MODEL_CACHE[key] = load_model(ref.folder)
            remember_folder(m, ref.folder)
        return m


def remember_folder(model: Predictor, folder: str | os.PathLike[str]) -> None:
    """Note that ``model`` was loaded from (or saved as) the model folder ``folder``."""
    try:
        _FOLDERS[model] = str(Path(folder).resolve())
    except TypeError:  # not weak-referenceable: it is saved to a temporary folder when needed
        pass


def model_ref(model: Predictor) -> ModelRef:
    """A :class:`ModelRef` for ``model``: its known folder, or a temporary one it is saved to.

    A temporary folder is removed when this process exits.

    Raises
    ------
    ConfigError
        The model has no folder and cannot be saved (no ``save`` method).
    """
    folder = _FOLDERS.get(model) if _weakrefable(model) else None
    if folder is not None and (Path(folder) / "config.json").is_file():
        return ModelRef.of(folder)
    if not hasattr(model, "save"):
        raise ConfigError(
            f"a {type(model).__name__} has no model folder and cannot be saved; "
            "on a distributed cluster pass a model folder or a saved model"
        )
    parent = tempfile.mkdtemp(prefix="napari-colorize-model-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    tmp = Path(parent) / "model"
    model.save(tmp, optimizer=False)
    remember_folder(model, tmp)
    return ModelRef.of(tmp)


def _weakrefable(x: Any) -> bool:
    try:
        weakref.ref(x)
    except TypeError:
        return False
    return True
