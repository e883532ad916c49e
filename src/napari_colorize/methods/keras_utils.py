"""Keras helpers shared by the neural methods (import only inside functions that need Keras)."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = [
    "distribution_scope",
    "visible_gpus",
    "save_optimizer_state",
    "load_optimizer_state",
    "restore_optimizer_state",
    "OPTIMIZER_FILE",
]


def visible_gpus() -> int:
    """Number of GPUs TensorFlow sees."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def distribution_scope(distribute: str = "default") -> Any:
    """The ``tf.distribute`` scope to build and compile a model in.

    ``"mirrored"`` uses :class:`tf.distribute.MirroredStrategy` (data
    parallel over all visible GPUs) when more than one GPU is visible, and
    the default strategy otherwise, so the same code runs on a laptop.
    """
    import tensorflow as tf

    if distribute not in ("default", "mirrored"):
        raise ValueError(f"unknown distribute strategy {distribute!r}")
    if distribute == "mirrored" and visible_gpus() > 1:
        # one strategy per process: a network built in its scope must be compiled in the same one
        if "mirrored" not in _STRATEGIES:
            _STRATEGIES["mirrored"] = tf.distribute.MirroredStrategy()
        return _STRATEGIES["mirrored"].scope()
    return contextlib.nullcontext(tf.distribute.get_strategy())


_STRATEGIES: dict[str, Any] = {}


class _OneTracePerModel:
    """Logging filter: drop TensorFlow's retracing warning for our per-model inference functions.

    Each loaded model compiles its inference function once; TensorFlow counts the traces of
    every function made from the same code and, after five models in one process (a
    benchmark, a long napari session), warns about "excessive retracing" that is not there.
    """

    NAMES = ("ConvPredictor", "AutoencoderColorizer._forward")

    def filter(self, record: Any) -> bool:
        msg = record.getMessage()
        return not ("triggered tf.function retracing" in msg and any(n in msg for n in self.NAMES))


def quiet_per_model_retracing() -> None:
    """Install :class:`_OneTracePerModel` on TensorFlow's logger (once)."""
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(isinstance(f, _OneTracePerModel) for f in logger.filters):
        logger.addFilter(_OneTracePerModel())


#: file of a model folder that holds the optimizer's state (for ``resume``)
OPTIMIZER_FILE = "optimizer.npz"


def _state_variables(optimizer: Any) -> list[Any]:
    # the learning rate comes from the config, so a resumed run may change it
    return [v for v in optimizer.variables if not v.path.endswith("learning_rate")]


def save_optimizer_state(net: Any, folder: Any) -> bool:
    """Write ``net.optimizer``'s variables (Adam's step count and moments) to ``folder``.

    Returns False, writing nothing, when the network has no built optimizer.
    """
    from pathlib import Path

    import numpy as np

    opt = getattr(net, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return False
    variables = _state_variables(opt)
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    arrays["paths"] = np.array([v.path for v in variables])
    with open(Path(folder) / OPTIMIZER_FILE, "wb") as f:
        np.savez(f, **arrays)
    return True


def load_optimizer_state(folder: Any) -> list[Any] | None:
    """The arrays :func:`save_optimizer_state` wrote, or None (missing or unreadable: a warning)."""
    import warnings
    from pathlib import Path

    import numpy as np

    f = Path(folder) / OPTIMIZER_FILE
    if not f.is_file():
        return None
    try:
        with np.load(f, allow_pickle=False) as z:
            n = len(z["paths"])
            return [z[f"v{i}"] for i in range(n)]
    except Exception as e:  # noqa: BLE001 - optional state: a fresh optimizer is a safe fallback
        warnings.warn(
            f"{f} is unreadable ({type(e).__name__}); training resumes with a fresh optimizer",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def restore_optimizer_state(net: Any, arrays: list[Any] | None, distribute: str = "default") -> bool:
    """Build ``net.optimizer`` and load ``arrays`` into it, when they fit its variables.

    When they do not (another set of trainable layers, another optimizer), a
    warning says so and the optimizer starts fresh.  Returns whether the state was restored.
    """
    import warnings

    if arrays is None:
        return False
    opt = net.optimizer
    with distribution_scope(distribute):
        if not opt.built:
            opt.build(net.trainable_variables)
    variables = _state_variables(opt)
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        warnings.warn(
            "the saved optimizer state does not fit the network being trained (other trainable "
            "layers?); training continues with a fresh optimizer",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    for v, a in zip(variables, arrays):
        v.assign(a.astype(v.dtype) if hasattr(a, "astype") else a)
    return True
