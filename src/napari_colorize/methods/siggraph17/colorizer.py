"""``siggraph17``: Zhang et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors" (2017).

One network that colorizes automatically with no hints and uses every hint
it gets.  The network (:mod:`.network`) is a port of the authors'
PyTorch generator; it maps

- ``(L - 50) / 100`` (:func:`napari_colorize.color.L2norm`),
- the hint ab ``/ 110`` (:func:`napari_colorize.color.ab2norm`), zero where
  there is no hint,
- the hint mask (1 where a hint is given, 0 elsewhere), minus ``mask_center``

to ab in Lab units (``tanh * 110``) at full resolution, and to the logits of
529 ab classes (the authors' 23x23 grid of step 10 over -110..110,
:func:`class_bins`) at 1/4 resolution.

**Hint and mask conventions, as found in the authors' sources.**

- ``richzhang/colorization`` (``colorizers/siggraph17.py``, the port that
  loads the released ``siggraph17-df00044c.pth``): the input is
  ``cat((L - 50) / 100, ab / 110, mask)``, the mask *as is* (0/1), and a
  missing hint is ab = 0 and mask = 0 (its ``forward`` fills them so).
  Those weights therefore expect ``mask_center = 0`` (the default here).
- ``richzhang/colorization-pytorch`` (training, ``util.add_color_patches_rand_gt``)
  subtracts ``opt.mask_cent`` (0.5 by default) from the mask before the
  network: models trained by that code expect a mask of -0.5/+0.5.
- ``junyanz/interactive-deep-colorization``: the Caffe demo feeds
  ``L - 50``, raw ab and ``mask * 110``; its PyTorch model takes a
  ``maskcent`` argument (0 by default) subtracted from the mask.

So ``mask_center`` is a config value: 0 for the released weights and for
models trained here.

**Hints** are any object with ``.ab`` (H, W, 2) float32 in Lab units and
``.mask`` (H, W) float32 (:class:`napari_colorize.hints.Hints`).  Where the
mask is 0 the hint ab is ignored (set to 0 as the authors do).

**Training** uses random crops (:func:`napari_colorize.data.make_dataset`)
with hints simulated per crop by :func:`sample_hints` as in the paper: a
geometric number of hints (p = 1/8, so 1/8 of the crops get none, plus an
optional extra share ``p_none``), at locations drawn from a Gaussian around
the crop's centre (sigma = a quarter of the side) or uniformly, square
patches of 1 to 9 px, each hint the mean true ab of its patch.  The loss is
the smooth-L1 (Huber) regression loss of the authors
(:func:`.network.regression_loss`, in Lab units) plus, with
``class_weight > 0``, the cross-entropy of the class head against the
nearest of the 529 classes of the 4x4-averaged true ab (the ``eccv16``
loss with k = 1, which is the authors' hard encoding).

**Inference** is fully convolutional at the image's own size: L is padded by
reflection to a multiple of 8 (:func:`napari_colorize.tiling.pad_to_block`),
the hints with zeros, and ab is cropped back.

**Confidence and calibration.**  :meth:`SIGGRAPH17Colorizer.predict_confidence`
is one minus the normalised entropy of the class head's ``softmax(logits / T)``
(so the class head must have been trained: ``class_weight > 0``), upsampled
from 1/4 resolution, and at least :func:`hint_proximity` near hints (a hint is
the user's certainty; ``hint_radius``).  ``predict_ab`` scales the chroma by
``saturation * confidence ** shrink``: ``shrink`` is calibrated on photos kept
out of the training (``scripts/train_defaults.py``) so that the automatic
result is not worse than gray, ``saturation`` is the user's control.  With
``fuse_weight > 0`` the hints' remaining error is also spread along L's edges
(:func:`napari_colorize.hints.fuse_hints`), so a hint is always honoured.
None of these fields changes the network.

This module does not import TensorFlow or Keras at import time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..colorizer import check_L
from ..keras_colorizer import KerasColorizer
from .config import _BLOCK_SIZE, _RECEPTIVE_FIELD, SIGGRAPH17Config, class_bins
from .user_hints import (
    agreement,
    check_hints,
    count_hints,
    hint_inputs,
    hint_proximity,
    simulated_hint_inputs,
)

__all__ = ["SIGGRAPH17Colorizer"]

#: pixels per forward pass when predicting a batch (bounds memory)
_PREDICT_PIXELS = 1 << 21


class SIGGRAPH17Colorizer(KerasColorizer):
    """Zhang et al. (SIGGRAPH 2017) user-guided colorizer.  See the module docs.

    Its :attr:`keras_model` maps x to [ab, logits].
    """

    name = "siggraph17"
    weights_file: ClassVar[str] = "siggraph17.weights.h5"
    Config = SIGGRAPH17Config
    config: SIGGRAPH17Config
    #: ``predict_ab`` takes hints itself (no propagation around it)
    native_hints: ClassVar[bool] = True
    #: the class head has 529 classes whatever the width: only the width fixes the weights
    structural_fields = ("width",)
    #: bfloat16 inference passed the quality check (benchmarks/bfloat16.py): "auto" may use it
    bfloat16_checked = True

    def __init__(self, config: SIGGRAPH17Config | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._predictor: Any = None
        self._predictor_T: tuple[float, float, int] | None = None
        #: the last automatic pass, (key, raw ab, confidence): live hints on one image reuse it
        self._auto_cache: tuple[Any, np.ndarray, np.ndarray] | None = None

    # -- properties --------------------------------------------------------
    @property
    def n_classes(self) -> int:
        """Number of ab classes of the class head (529)."""
        return len(class_bins())

    @property
    def block_size(self) -> int:
        return _BLOCK_SIZE

    @property
    def receptive_field(self) -> int:
        return int(math.ceil(_RECEPTIVE_FIELD / 2))

    @property
    def default_tile(self) -> int:
        return 1024

    @property
    def default_overlap(self) -> int:
        return 192

    # -- network -----------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import network as K

        return K.build_siggraph17(self.config.width, self.n_classes)

    def _reset_inference(self) -> None:
        self._predictor = None
        self._auto_cache = None

    def _auto(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The automatic pass (raw ab, confidence) of one L (H, W), kept for the next call.

        Hints do not change it, so while a person adds hints to one image (live mode) the
        network runs once per change, not twice.
        """
        import hashlib

        cfg = self.config
        digest = hashlib.blake2b(np.ascontiguousarray(L).view(np.uint8), digest_size=16).digest()
        key = (L.shape, str(L.dtype), digest, cfg.T, cfg.decode_T, cfg.decode, id(self._inference_net()))
        if self._auto_cache is None or self._auto_cache[0] != key:
            ab, conf = self._run(L[None], None, None)
            self._auto_cache = (key, ab[0], conf[0])
        return self._auto_cache[1], self._auto_cache[2]

    def _adam_options(self) -> dict[str, Any]:
        return {"beta_1": 0.9, "beta_2": 0.99}

    def _get_predictor(self) -> Any:
        """Compiled x (N, H, W, 4) -> (N, H, W, 5): ab, confidence, annealed-mean ab."""
        net = self._inference_net()  # bfloat16 with precision="bfloat16" (see KerasColorizer)
        key = (float(self.config.T), float(self.config.decode_T), id(net))
        if self._predictor is None or self._predictor_T != key:
            from . import network as K

            self._predictor = K.make_predictor(net, class_bins(), T=key[0], decode_T=key[1])
            self._predictor_T = key
        return self._predictor

    # -- inference ---------------------------------------------------------
    def _run(
        self, L: np.ndarray, hints_ab: np.ndarray | None, hints_mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw ab (N, H, W, 2) and the network's own confidence (N, H, W) for a checked batch of L.

        The confidence is the class head's, with or without hints: hints do not raise it here,
        so that :meth:`_calibrated` never trusts the network's chroma more because a hint is
        near (that was the wide-hint failure: next to a hint of radius 3 the network overshoots
        the hint's colour, and that unshrunk error, spread by the fusion, tinted the whole image).
        """
        from ...tiling import pad_to_block

        n, h, w = L.shape
        pred = self._get_predictor()
        batch_size = max(1, min(16, _PREDICT_PIXELS // max(h * w, 1)))
        Lp, _ = pad_to_block(L, self.block_size)
        ph, pw = Lp.shape[1] - h, Lp.shape[2] - w
        if hints_ab is not None:
            hints_ab = np.pad(hints_ab, ((0, 0), (0, ph), (0, pw), (0, 0)))
            hints_mask = np.pad(hints_mask, ((0, 0), (0, ph), (0, pw)))
        ab = np.empty((n, h, w, 2), dtype=np.float32)
        conf = np.empty((n, h, w), dtype=np.float32)
        for i in range(0, n, batch_size):
            s = slice(i, i + batch_size)
            x = hint_inputs(
                Lp[s],
                None if hints_ab is None else hints_ab[s],
                None if hints_mask is None else hints_mask[s],
                mask_center=self.config.mask_center,
            )
            y = np.asarray(pred(x))
            ab[s] = y[:, :h, :w, 3:5] if self.config.decode == "annealed_mean" else y[:, :h, :w, :2]
            conf[s] = np.clip(y[:, :h, :w, 2], 0.0, 1.0)
        return ab, conf

    def _near_hints(self, conf: np.ndarray, hints: Any) -> np.ndarray:
        """The confidence shown to the user: at least :func:`hint_proximity` near the hints."""
        if hints is None or self.config.hint_radius <= 0:
            return conf
        return np.maximum(conf, hint_proximity(np.asarray(hints.mask), radius=self.config.hint_radius))

    def _calibrated(self, ab: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """Chroma scaled by ``saturation * confidence ** shrink`` (float32)."""
        cfg = self.config
        if cfg.shrink == 0 and cfg.saturation == 1:
            return ab
        factor = np.float32(cfg.saturation) * np.power(conf, np.float32(cfg.shrink), dtype=np.float32)
        return (ab * factor[..., None]).astype(np.float32, copy=False)

    def predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        """ab (H, W, 2) float32 for L (H, W) in 0..100 (see :meth:`Colorizer.predict_ab`).

        Hints are validated even when their mask is empty, so that a wrong
        shape or type is reported rather than silently ignored.
        """
        if hints is not None:
            check_hints(hints, np.shape(L))
        return super().predict_ab(L, hints=hints)

    def _ab_confidence(self, L: np.ndarray, hints: Any) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated (and with ``fuse_weight``, fused) ab and the confidence for a checked L.

        With hints, the network sees them (its native input) but its chroma is scaled by its
        *automatic* confidence (the class head's without hints): the hints themselves are
        honoured by the fusion, which spreads them along L's edges, so a hint can only pull the
        result towards its colour and never makes the network's guesses bolder elsewhere.
        """
        raw_auto, conf = self._auto(L)
        if hints is None:
            return self._calibrated(raw_auto, conf), conf
        from ...hints import Hints, fuse_hints

        h_ab, h_mask = check_hints(hints, L.shape)
        raw, _ = self._run(L[None], h_ab[None], h_mask[None])
        auto = self._calibrated(raw_auto, conf)
        ab = self._calibrated(raw[0], conf)
        if self.config.fuse_weight <= 0:  # the network alone, as its authors run it
            return ab, self._near_hints(conf, Hints(h_ab, h_mask))
        if self.config.hint_radius > 0:
            # the network's answer to the hints is taken near them only: far away it stays the
            # automatic one (a small network may shift its colours everywhere for one hint)
            near = hint_proximity(h_mask, radius=self.config.hint_radius)[..., None]
            ab = auto + near * (ab - auto)
        n = count_hints(h_mask)
        ab = ab * np.float32(agreement(auto, h_ab, h_mask, n))
        hints = Hints(h_ab, h_mask)
        # each of n hints holds about 1/n of the plane: one hint stays near its region, many
        # hints spread as far as their neighbours let them
        ab = fuse_hints(L, ab, hints, model_weight=self.config.fuse_weight / max(n, 1) / L.size)
        return ab, self._near_hints(conf, hints)

    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._ab_confidence(L, hints)[0]

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        ab, conf = self._run(L, None, None)
        return self._calibrated(ab, conf)

    def predict_confidence(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        """Per-pixel confidence (H, W) float32 in 0..1 of the automatic colours.

        One minus the normalised entropy of the class head's distribution
        (``softmax(logits / T)`` over the 529 ab classes), upsampled bilinearly
        from 1/4 resolution: 1 where the model is sure of one colour, 0 where
        every class is equally likely.  With hints (:class:`napari_colorize.Hints`)
        it is at least :func:`hint_proximity` (``hint_radius``) near them.  ``predict_ab`` scales chroma by
        ``saturation * confidence ** shrink``.
        """
        L = check_L(L)
        if hints is not None and not np.any(np.asarray(getattr(hints, "mask", 1))):
            hints = None
        conf = self._auto(L)[1]
        if hints is None:
            return conf
        check_hints(hints, L.shape)
        return self._near_hints(conf, hints)

    def predict_ab_confidence(self, L: np.ndarray, *, hints: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_ab(L, hints=hints), predict_confidence(L, hints=hints))`` in one pass."""
        L = check_L(L)
        if hints is not None and not np.any(np.asarray(getattr(hints, "mask", 1))):
            hints = None
        return self._ab_confidence(L, hints)

    # -- training ----------------------------------------------------------
    def fit(
        self,
        data: Any,
        *,
        epochs: int | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Train (or fine-tune) on color images with simulated hints.

        Uses random crops (``crop_size``) from :func:`napari_colorize.data.make_dataset`
        with hints from :func:`sample_hints`; ``callbacks`` are passed to
        ``keras.Model.fit``.  With ``trainable_from``, blocks below it are
        frozen (their BatchNorms run in inference mode).
        """
        from ..eccv16 import network as E
        from . import network as K

        epochs = self._fit_epochs(epochs, kwargs)
        cfg = self.config
        batches = self._crop_batches(data)

        net = self._ensure_net()
        K.set_trainable_from(net, cfg.trainable_from)
        class_loss = E.make_loss(class_bins(), None, k=1, sigma=5.0)
        weight = float(cfg.class_weight)

        def weighted_class_loss(y_true: Any, y_pred: Any) -> Any:
            return weight * class_loss(y_true, y_pred)

        self._compile(net, loss=[K.regression_loss, weighted_class_loss], key=("siggraph17", weight))

        def with_hints(stream: Any, seed: int) -> Any:
            rng = np.random.default_rng(seed)
            for L, ab in stream:
                yield simulated_hint_inputs(L[..., 0], ab, rng, cfg), (ab, ab)

        return self._fit_crops(
            net,
            batches,
            lambda stream: with_hints(stream, batches.seed),
            val_inputs=lambda stream: with_hints(stream, batches.seed + 7),
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
        )
