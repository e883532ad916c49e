"""The one seam between the Keras methods and a particular Keras backend.

Networks, losses, training loops and inference are written in ``keras`` and
``keras.ops``; the few things Keras does not abstract live here:

- :func:`distribution_scope`: the scope to build and compile a network in
  (``tf.distribute`` on TensorFlow);
- :func:`inference_function`: a forward function compiled once for any batch
  and size (``tf.function`` on TensorFlow, ``torch.no_grad`` on PyTorch,
  ``jax.jit`` on JAX);
- :func:`upsample_bilinear`: bilinear upsampling of a tensor whose spatial
  size is unknown when a TensorFlow function is traced;
- :func:`visible_gpus`: the accelerators the backend sees.

Imported lazily (it imports Keras, and TensorFlow on that backend).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import keras

from ..errors import ConfigError

__all__ = ["backend", "distribution_scope", "inference_function", "upsample_bilinear", "visible_gpus"]

_STRATEGIES: dict[str, Any] = {}


def backend() -> str:
    """The Keras backend in use (``tensorflow``, ``torch`` or ``jax``)."""
    return keras.backend.backend()


def visible_gpus() -> int:
    """Number of GPUs the Keras backend sees."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if name == "torch":
        import torch

        return torch.cuda.device_count()
    if name == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    return 0


def distribution_scope(distribute: str = "default") -> Any:
    """The scope to build and compile a network in.

    ``"mirrored"`` on TensorFlow uses :class:`tf.distribute.MirroredStrategy`
    (data parallel over all visible GPUs) when more than one GPU is visible,
    and the default strategy otherwise, so the same code runs on a laptop.
    Other backends have no mirrored strategy here: with several GPUs, asking
    for one is an error.
    """
    if distribute not in ("default", "mirrored"):
        raise ValueError(f"unknown distribute strategy {distribute!r}")
    name = backend()
    if name != "tensorflow":
        if distribute == "mirrored" and visible_gpus() > 1:
            raise ConfigError(f"distribute='mirrored' needs the tensorflow backend, not {name}")
        return contextlib.nullcontext()
    import tensorflow as tf

    if distribute == "mirrored" and visible_gpus() > 1:
        # one strategy per process: a network built in its scope must be compiled in the same one
        if "mirrored" not in _STRATEGIES:
            _STRATEGIES["mirrored"] = tf.distribute.MirroredStrategy()
        return _STRATEGIES["mirrored"].scope()
    return contextlib.nullcontext(tf.distribute.get_strategy())


class _OneTracePerModel:
    """Logging filter: drop TensorFlow's retracing warning for the per-model inference functions.

    Each loaded model compiles its inference function once; TensorFlow counts the traces of
    every function made from the same code and, after five models in one process (a
    benchmark, a long napari session), warns about "excessive retracing" that is not there.
    """

    def filter(self, record: Any) -> bool:
        msg = record.getMessage()
        return not ("triggered tf.function retracing" in msg and "inference_function" in msg)


def inference_function(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` (a float32 (N, H, W, C) tensor to a tensor) compiled once for any batch and size.

    The returned function takes a numpy array and returns a numpy array.
    """
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        logger = tf.get_logger()
        if not any(isinstance(f, _OneTracePerModel) for f in logger.filters):
            logger.addFilter(_OneTracePerModel())
        compiled = tf.function(
            fn, input_signature=[tf.TensorSpec([None, None, None, None], tf.float32)], reduce_retracing=True
        )

        def inference_function(x: Any) -> Any:
            return compiled(tf.convert_to_tensor(x, tf.float32)).numpy()

        return inference_function
    if name == "jax":
        import jax

        jitted = jax.jit(fn)

        def run_jax(x: Any) -> Any:
            return keras.ops.convert_to_numpy(jitted(x))

        return run_jax

    def run(x: Any) -> Any:
        ctx: Any = contextlib.nullcontext()
        if name == "torch":
            import torch

            ctx = torch.no_grad()
        with ctx:
            return keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x, "float32")))

    return run


def upsample_bilinear(x: Any, fy: int, fx: int) -> Any:
    """Upsample (B, H, W, C) by integer factors, bilinear with half-pixel centres.

    ``keras.ops.image.resize`` needs the output size as numbers, which a
    TensorFlow graph traced with unknown sizes does not have; there the
    sizes come from ``tf.shape`` (and the fused resize op, with its fast gradient).
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        s = tf.shape(x)
        return tf.image.resize(x, (s[1] * fy, s[2] * fx), method="bilinear")
    h, w = keras.ops.shape(x)[1:3]
    return keras.ops.image.resize(x, (int(h) * fy, int(w) * fx), interpolation="bilinear")
