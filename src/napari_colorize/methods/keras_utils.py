"""Keras helpers shared by the neural methods (import only inside functions that need Keras)."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["distribution_scope", "visible_gpus"]


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

    if distribute == "mirrored" and visible_gpus() > 1:
        return tf.distribute.MirroredStrategy().scope()
    if distribute not in ("default", "mirrored"):
        raise ValueError(f"unknown distribute strategy {distribute!r}")
    return contextlib.nullcontext(tf.distribute.get_strategy())
