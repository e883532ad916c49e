"""Keras network of the ``vgg_autoencoder`` method: a VGG16 encoder and a spec'd decoder.

Imported lazily by :mod:`napari_colorize.methods.vgg_autoencoder`, never at package import (the
napari process must not import TensorFlow).  The layers (:class:`LNorm`, the decoder built by
:func:`build_from_spec`) are the ``autoencoder`` method's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras

from ...errors import ConfigError
from ..autoencoder.network import LNorm, build_from_spec

__all__ = ["build_vgg_autoencoder", "load_encoder_weights"]


def build_vgg_autoencoder(
    decoder_spec: Sequence[tuple], *, imagenet_preprocess: bool
) -> tuple[keras.Model, keras.Model]:
    """VGG16 encoder (to block5_pool, 7x7x512 at 224 px) plus a Conv/UpSampling2D decoder.

    Returns
    -------
    net, encoder : keras.Model
        ``encoder`` is the ``keras.applications.VGG16(include_top=False,
        weights=None)`` sub-model, built for any input size (multiples of 32).
    """
    encoder = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    inp = keras.Input((None, None, 1), name="L")
    x = LNorm("vgg" if imagenet_preprocess else "center3", name="lnorm")(inp)
    x = encoder(x)
    out = build_from_spec(x, decoder_spec, prefix="dec")
    return keras.Model(inp, out, name="vgg_autoencoder"), encoder


def load_encoder_weights(encoder: keras.Model, path: str | Path) -> None:
    """Load a local Keras VGG16 weights file into ``encoder`` (never downloads).

    ``*.weights.h5`` files (Keras 3 ``save_weights`` of a VGG16 without top)
    load by topology; legacy ``*.h5``/``*.hdf5`` files (such as Keras'
    ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``) load by layer name.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"encoder_weights file not found: {p}. Nothing is downloaded: give a local Keras VGG16 "
            "weights file (e.g. vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5) or 'none'"
        )
    name = p.name.lower()
    try:
        if name.endswith(".weights.h5"):
            encoder.load_weights(str(p))
        elif name.endswith((".h5", ".hdf5")):
            import h5py

            with h5py.File(p, "r") as f:
                g = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
                names = {
                    n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("layer_names", [])
                }
            wanted = {la.name for la in encoder.layers if la.weights}
            missing = sorted(wanted - names)
            if missing:
                raise ConfigError(
                    f"{p} is not a Keras VGG16 weights file: it lacks layer(s) {', '.join(missing[:4])}"
                    f"{' ...' if len(missing) > 4 else ''}"
                )
            encoder.load_weights(str(p), by_name=True)
        else:
            raise ConfigError(f"encoder_weights must be a Keras .weights.h5 or .h5 file, got {p.name}")
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader error means an unusable file
        raise ConfigError(f"cannot load VGG16 encoder weights from {p}: {type(e).__name__}: {e}") from None
