"""The one seam between the Keras methods and a particular Keras backend.

Networks, losses, training loops and inference are written in ``keras`` and
``keras.ops``; the few things Keras does not abstract live here:

- :func:`distribution_scope`: the scope to build and compile a network in
  (``tf.distribute`` on TensorFlow, ``keras.distribution`` on JAX);
- :func:`precision_scope`: the dtype policy a network is built under
  (``float32`` or mixed precision), restored afterwards;
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
from collections.abc import Callable, Iterator
from typing import Any

import keras

from ..config import PRECISIONS
from ..errors import ConfigError

__all__ = [
    "backend",
    "distribution_scope",
    "inference_function",
    "precision_scope",
    "upsample_bilinear",
    "visible_gpus",
]

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

    ``"mirrored"`` is data parallelism over all visible GPUs, when more than
    one is visible (otherwise the default strategy, so the same code runs on
    a laptop):

    - TensorFlow: :class:`tf.distribute.MirroredStrategy` (one per process);
    - JAX: :class:`keras.distribution.DataParallel`, set for the process
      (Keras shards each batch over the devices in ``fit``);
    - PyTorch: Keras has no data parallelism there, a one-line ConfigError.
    """
    if distribute not in ("default", "mirrored"):
        raise ConfigError(f"unknown distribute strategy {distribute!r}; choose 'default' or 'mirrored'")
    name = backend()
    mirrored = distribute == "mirrored" and visible_gpus() > 1
    if name == "jax":
        if mirrored and "mirrored" not in _STRATEGIES:
            devices = keras.distribution.list_devices("gpu")
            _STRATEGIES["mirrored"] = keras.distribution.DataParallel(devices=devices)
            keras.distribution.set_distribution(_STRATEGIES["mirrored"])
        return contextlib.nullcontext()
    if name != "tensorflow":
        if mirrored:
            raise ConfigError(
                f"distribute='mirrored' is not available on the {name} backend "
                "(Keras has data parallelism on tensorflow and jax); use one GPU or another backend"
            )
        return contextlib.nullcontext()
    import tensorflow as tf

    if mirrored:
        # one strategy per process: a network built in its scope must be compiled in the same one
        if "mirrored" not in _STRATEGIES:
            _STRATEGIES["mirrored"] = tf.distribute.MirroredStrategy()
        return _STRATEGIES["mirrored"].scope()
    return contextlib.nullcontext(tf.distribute.get_strategy())


@contextlib.contextmanager
def precision_scope(precision: str = "float32") -> Iterator[None]:
    """Build layers under the Keras dtype policy ``precision``; the previous policy comes back after.

    Layers take the global policy when they are made, so a network built in
    this scope keeps it (its weights stay float32 under a ``mixed_*``
    policy) while networks made elsewhere in the process are not affected.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


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

    The returned function takes a numpy array and returns float32 numpy
    arrays, also when the network computes in 16 bits (mixed precision).
    """
    name = backend()

    def forward(x: Any) -> Any:
        return keras.tree.map_structure(lambda t: keras.ops.cast(t, "float32"), fn(x))

    if name == "tensorflow":
        import tensorflow as tf

        logger = tf.get_logger()
        if not any(isinstance(f, _OneTracePerModel) for f in logger.filters):
            logger.addFilter(_OneTracePerModel())
        compiled = tf.function(
            forward,
            input_signature=[tf.TensorSpec([None, None, None, None], tf.float32)],
            reduce_retracing=True,
        )

        def inference_function(x: Any) -> Any:
            return compiled(tf.convert_to_tensor(x, tf.float32)).numpy()

        return inference_function
    if name == "jax":
        import jax

        jitted = jax.jit(forward)

        def run_jax(x: Any) -> Any:
            return keras.ops.convert_to_numpy(jitted(x))

        return run_jax

    def run(x: Any) -> Any:
        ctx: Any = contextlib.nullcontext()
        if name == "torch":
            import torch

            ctx = torch.no_grad()
        with ctx:
            return keras.ops.convert_to_numpy(forward(keras.ops.convert_to_tensor(x, "float32")))

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
        # tf.image.resize computes in float32: give back the input's dtype (mixed precision)
        return tf.cast(tf.image.resize(x, (s[1] * fy, s[2] * fx), method="bilinear"), x.dtype)
    h, w = keras.ops.shape(x)[1:3]
    return keras.ops.image.resize(x, (int(h) * fy, int(w) * fx), interpolation="bilinear")
