"""The Keras operations the networks need that differ by backend: the one seam between the
Keras methods and a particular Keras backend.

Not to be confused with :mod:`napari_colorize.backends`, which *chooses* the backend before Keras
is imported (and never imports it): this module runs once Keras is loaded, inside the methods
(hence ``keras_ops``, next to ``keras.ops``, whose gaps it fills).

Networks, losses, training loops and inference are written in ``keras`` and
``keras.ops``; the few things Keras does not abstract live here:

- :func:`distribution_scope`: the scope to build and compile a network in
  (``tf.distribute`` on TensorFlow, ``keras.distribution`` on JAX);
- :func:`precision_scope`: the dtype policy a network is built under
  (``float32`` or mixed precision), restored afterwards;
- :func:`keras_policy`: the Keras dtype policy of a ``precision`` value for
  training or for inference (``bfloat16`` and ``auto`` infer in bfloat16 and
  train in float32);
- :func:`inference_function`: a forward function compiled once for any batch
  and size (``tf.function`` on TensorFlow, ``torch.no_grad`` on PyTorch,
  ``jax.jit`` on JAX), optionally with the output size as a second argument;
- :func:`upsample_bilinear` and :func:`resize_bilinear`: bilinear resizing of a
  tensor whose spatial size is unknown when a TensorFlow function is traced;
- :func:`visible_gpus`: the accelerators the backend sees.

Imported lazily (it imports Keras, and TensorFlow on that backend).  (It was
``methods/_backend.py``.)
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
    "jit_network",
    "keras_policy",
    "precision_scope",
    "resize_bilinear",
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


#: the Keras dtype policies a network may be built under
_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16")


def keras_policy(precision: str, *, training: bool) -> str:
    """The Keras dtype policy of the config value ``precision``, for training or for inference.

    - ``float32``, ``mixed_float16``, ``mixed_bfloat16``: that policy for both;
    - ``bfloat16``: training in float32, inference with the whole network in
      bfloat16 (weights too; the decoding around it stays float32);
    - ``auto``: as ``bfloat16`` where the CPU computes bfloat16 natively
      (AMX-BF16 or AVX512-BF16, :func:`napari_colorize.backends.native_bfloat16`)
      and no GPU is visible, else float32.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got {precision!r}")
    if precision in ("bfloat16", "auto"):
        if training:
            return "float32"
        if precision == "auto":
            from ..backends import native_bfloat16

            return "bfloat16" if native_bfloat16() and not visible_gpus() else "float32"
    return precision


@contextlib.contextmanager
def precision_scope(precision: str = "float32") -> Iterator[None]:
    """Build layers under the Keras dtype policy ``precision``; the previous policy comes back after.

    Layers take the global policy when they are made, so a network built in
    this scope keeps it (its weights stay float32 under a ``mixed_*``
    policy) while networks made elsewhere in the process are not affected.
    ``precision`` is a Keras policy name or a config value (``bfloat16`` and
    ``auto`` build for training: float32; see :func:`keras_policy`).
    """
    if precision not in _POLICIES:
        precision = keras_policy(precision, training=True)
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


def inference_function(fn: Callable[..., Any], *, sized: bool = False) -> Callable[..., Any]:
    """``fn`` (a float32 (N, H, W, C) tensor to a tensor) compiled once for any batch and size.

    The returned function takes a numpy array and returns float32 numpy
    arrays, also when the network computes in 16 bits (mixed precision).
    With ``sized``, ``fn(x, size)`` also takes an output size (height, width):
    the returned function takes it as two ints, and ``fn`` gets an int32
    tensor on TensorFlow (one trace for every size; give it to
    :func:`resize_bilinear`) and a tuple of ints elsewhere.
    """
    name = backend()

    def forward(x: Any, *size: Any) -> Any:
        return keras.tree.map_structure(lambda t: keras.ops.cast(t, "float32"), fn(x, *size))

    if name == "tensorflow":
        import tensorflow as tf

        logger = tf.get_logger()
        if not any(isinstance(f, _OneTracePerModel) for f in logger.filters):
            logger.addFilter(_OneTracePerModel())
        signature = [tf.TensorSpec([None, None, None, None], tf.float32)]
        if sized:
            signature.append(tf.TensorSpec([2], tf.int32))
        compiled = tf.function(forward, input_signature=signature, reduce_retracing=True)

        def inference_function(x: Any, *size: Any) -> Any:
            args = [tf.convert_to_tensor(x, tf.float32)]
            if sized:
                args.append(tf.constant(_size(size), tf.int32))
            return keras.tree.map_structure(lambda t: t.numpy(), compiled(*args))

        return inference_function
    if name == "jax":
        import jax

        jitted = jax.jit(forward, static_argnums=(1,) if sized else ())

        def run_jax(x: Any, *size: Any) -> Any:
            args = (_size(size),) if sized else ()
            return keras.tree.map_structure(keras.ops.convert_to_numpy, jitted(x, *args))

        return run_jax

    def run(x: Any, *size: Any) -> Any:
        ctx: Any = contextlib.nullcontext()
        if name == "torch":
            import torch

            ctx = torch.no_grad()
        args = (_size(size),) if sized else ()
        with ctx:
            out = forward(keras.ops.convert_to_tensor(x, "float32"), *args)
            return keras.tree.map_structure(keras.ops.convert_to_numpy, out)

    return run


def jit_network(net: Any) -> Callable[[Any], Any]:
    """``net(x, training=False)``, compiled by XLA on TensorFlow (else the network as it is).

    For use inside an :func:`inference_function`; XLA compiles once per input
    shape (seconds for a large network), so it pays where shapes repeat.  On these CPUs
    XLA runs the full-width ECCV16 network 1.3-1.5x faster than TensorFlow's
    own kernels, and small networks slower (``benchmarks/eccv16.py``).
    """
    if backend() != "tensorflow":
        return lambda x: net(x, training=False)
    import tensorflow as tf

    return tf.function(lambda x: net(x, training=False), jit_compile=True, reduce_retracing=True)


def _size(size: tuple[Any, ...]) -> tuple[int, int]:
    """The output size given to a ``sized`` inference function, as two ints."""
    if len(size) == 1:
        size = tuple(size[0])
    if len(size) != 2:
        raise ValueError(f"an output size is (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def resize_bilinear(x: Any, size: Any, *, antialias: bool = False) -> Any:
    """Resize (B, H, W, C) to ``size`` (height, width), bilinear with half-pixel centres.

    ``size`` is two ints, or on TensorFlow an int32 tensor (a traced size);
    ``antialias`` widens the kernel when shrinking (as ``keras.ops.image.resize``).
    The result has the input's dtype.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        out = tf.image.resize(x, size, method="bilinear", antialias=antialias)
        return tf.cast(out, x.dtype)
    size = tuple(int(v) for v in size)
    return keras.ops.image.resize(x, size, interpolation="bilinear", antialias=antialias)


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
