"""``siggraph17``: Zhang et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors" (2017).

One network that colorizes automatically with no hints and uses every hint
it gets.  The network (:mod:`._siggraph17_keras`) is a port of the authors'
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
(:func:`._siggraph17_keras.regression_loss`, in Lab units) plus, with
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

import dataclasses
import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..color import L2norm, ab2norm
from ..config import CropTrainConfig
from ..errors import ColorizeError, ConfigError, InputError, ModelFolderError
from .base import check_L
from .keras_base import KerasColorizer

__all__ = [
    "SIGGRAPH17Config",
    "SIGGRAPH17Colorizer",
    "import_torch_weights",
    "sample_hints",
    "hint_inputs",
    "hint_proximity",
    "class_bins",
    "BLOCK_NAMES",
]

#: block names for ``trainable_from`` (kept in sync with ``_siggraph17_keras.BLOCK_NAMES``
#: without importing Keras)
BLOCK_NAMES: tuple[str, ...] = tuple(f"model{i}" for i in range(1, 11)) + ("heads",)
#: total downsampling of the network
_BLOCK_SIZE = 8
#: full receptive field in px (``_siggraph17_keras.receptive_field()``; checked by a test)
_RECEPTIVE_FIELD = 361
#: the authors' ab normalisation
_AB_SCALE = 110.0
#: the authors' class grid: 23 x 23 ab values of step 10 over -110..110
_CLASS_GRID = (110.0, 10.0)
#: pixels per forward pass when predicting a batch (bounds memory)
_PREDICT_PIXELS = 1 << 21

_WEIGHTS = "siggraph17.weights.h5"
#: where the automatic ab comes from (config ``decode``)
_DECODERS = ("regression", "annealed_mean")


def class_bins() -> np.ndarray:
    """The authors' 529 ab classes (23x23 grid, step 10, -110..110), (529, 2) float32.

    Ordered as the authors' ``encode_ab_ind``: index = 23 * a_index + b_index.
    """
    ab_max, step = _CLASS_GRID
    v = np.arange(-ab_max, ab_max + step / 2, step, dtype=np.float32)
    a, b = np.meshgrid(v, v, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SIGGRAPH17Config(CropTrainConfig):
    """Config of the ``siggraph17`` method."""

    method = "siggraph17"
    block_names = BLOCK_NAMES
    block_size = _BLOCK_SIZE

    width: float = dataclasses.field(
        default=0.5,
        metadata={"help": "channel multiplier (1.0 = the paper's 34.2 M parameters; 0.5: 8.6 M)"},
    )
    mask_center: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "subtracted from the hint mask (0: the released weights; 0.5: colorization-pytorch)"
        },
    )
    p_none: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "training: extra share of crops without hints (the geometric count gives 1/8 anyway)"
        },
    )
    p_stop: float = dataclasses.field(
        default=0.125,
        metadata={"help": "training: geometric parameter of the number of hints (mean (1-p)/p)"},
    )
    p_uniform: float = dataclasses.field(
        default=0.5,
        metadata={
            "help": "training: share of crops whose hints are uniform (else Gaussian around the centre)"
        },
    )
    max_patch: int = dataclasses.field(
        default=9, metadata={"help": "training: hint patches are 1..max_patch px square"}
    )
    class_weight: float = dataclasses.field(
        default=0.0, metadata={"help": "weight of the 529-class cross-entropy (0: regression only)"}
    )
    T: float = dataclasses.field(
        default=1.0,
        metadata={"help": "temperature of the class head's softmax whose entropy gives the confidence"},
    )
    decode: str = dataclasses.field(
        default="regression",
        metadata={
            "help": "automatic ab from the regression head ('regression', the authors') or the class "
            "head's annealed mean ('annealed_mean', at decode_T)"
        },
    )
    decode_T: float = dataclasses.field(
        default=0.38, metadata={"help": "temperature of the annealed mean (decode='annealed_mean')"}
    )
    shrink: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "chroma is scaled by confidence ** shrink (0: no shrinking; larger: greyer where unsure)"
        },
    )
    hint_radius: float = dataclasses.field(
        default=16.0,
        metadata={
            "help": "px: the network's answer to hints is used within about this distance of them "
            "(weight exp(-d**2 / (2 * hint_radius**2))), and the confidence is at least that weight "
            "(a hint is the user's certainty; 0: everywhere)"
        },
    )
    fuse_weight: float = dataclasses.field(
        default=20.0,
        metadata={
            "help": "with hints, also spread each hint's remaining error along L's edges, with this "
            "pull towards the network over a whole plane, divided by the number of hints (as "
            "propagate's data_weight; larger: more local); 0: off, the network alone, which may "
            "not honour a hint"
        },
    )
    saturation: float = dataclasses.field(
        default=1.0, metadata={"help": "user multiplier of the predicted chroma (1: as predicted)"}
    )
    trainable_from: str | None = dataclasses.field(
        default=None,
        metadata={"help": f"train only this block and those above it ({', '.join(BLOCK_NAMES)}); empty: all"},
    )
    learning_rate: float = dataclasses.field(
        default=1e-3, metadata={"help": "Adam learning rate (the authors: 1e-5 when fine-tuning)"}
    )

    def validate(self) -> None:
        super().validate()
        if not 0 < self.width <= 4:
            raise ConfigError(f"width must be in (0, 4], got {self.width}")
        if not math.isfinite(self.mask_center) or abs(self.mask_center) > 1:
            raise ConfigError(f"mask_center must be in [-1, 1], got {self.mask_center}")
        for name in ("p_none", "p_uniform"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if not 0.0 < self.p_stop <= 1.0:
            raise ConfigError(f"p_stop must be in (0, 1], got {self.p_stop}")
        if not 1 <= self.max_patch <= self.crop_size:
            raise ConfigError(f"max_patch must be in 1..crop_size, got {self.max_patch}")
        for name in ("T", "decode_T"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be positive, got {v}")
        if self.decode not in _DECODERS:
            raise ConfigError(f"decode must be one of {', '.join(_DECODERS)}, got {self.decode!r}")
        for name in ("shrink", "saturation", "hint_radius", "fuse_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be >= 0, got {v}")
        if self.class_weight < 0:
            raise ConfigError(f"class_weight must be >= 0, got {self.class_weight}")


# -- hints -------------------------------------------------------------------
def sample_hints(
    ab: np.ndarray,
    rng: np.random.Generator,
    *,
    p_none: float = 0.0,
    p_stop: float = 0.125,
    p_uniform: float = 0.5,
    max_patch: int = 9,
    n_hints: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate user hints from a true ab image, as the authors' training does.

    Parameters
    ----------
    ab : ndarray, shape (H, W, 2)
        The true ab, Lab units.
    rng : numpy.random.Generator
    p_none : float
        Probability of no hint at all (on top of the geometric count's own zero).
    p_stop : float
        The number of hints is geometric: ``P(n) = (1 - p_stop)**n * p_stop``,
        n >= 0, mean ``(1 - p_stop) / p_stop`` (the authors: 1/8).
    p_uniform : float
        Probability that this image's hint locations are uniform; otherwise
        each is Gaussian around the centre (sigma a quarter of the side), clipped.
    max_patch : int
        Each hint is a square patch of 1..``max_patch`` px (uniform).
    n_hints : int, optional
        Exactly this many hints (``p_none`` and ``p_stop`` are then ignored).

    Returns
    -------
    ab_hint : ndarray of float32, shape (H, W, 2)
        The mean true ab of each patch inside it, 0 elsewhere (a later patch
        overwrites an earlier one where they overlap).
    mask : ndarray of float32, shape (H, W)
        1 inside the patches, 0 elsewhere.
    """
    ab = np.asarray(ab, dtype=np.float32)
    if ab.ndim != 3 or ab.shape[-1] != 2:
        raise InputError(f"ab must have shape (H, W, 2), got {ab.shape}")
    h, w = ab.shape[:2]
    hint = np.zeros_like(ab)
    mask = np.zeros((h, w), np.float32)
    if n_hints is None:
        n = 0 if rng.random() < p_none else int(rng.geometric(p_stop)) - 1
    else:
        n = int(n_hints)
        if n < 0:
            raise InputError(f"n_hints must be >= 0, got {n_hints}")
    uniform = rng.random() < p_uniform
    for _ in range(n):
        p = int(rng.integers(1, min(max_patch, h, w) + 1))
        if uniform:
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        else:
            y = int(np.clip(rng.normal((h - p + 1) / 2, (h - p + 1) / 4), 0, h - p))
            x = int(np.clip(rng.normal((w - p + 1) / 2, (w - p + 1) / 4), 0, w - p))
        hint[y : y + p, x : x + p] = ab[y : y + p, x : x + p].reshape(-1, 2).mean(0)
        mask[y : y + p, x : x + p] = 1.0
    return hint, mask


def hint_inputs(
    L: np.ndarray,
    ab_hint: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    *,
    mask_center: float = 0.0,
) -> np.ndarray:
    """The network input (..., H, W, 4): ``[(L-50)/100, ab_hint/110, mask - mask_center]``.

    ``L`` is (..., H, W); ``ab_hint`` (..., H, W, 2) and ``mask`` (..., H, W)
    default to no hints.  The hint ab is zeroed where the mask is 0.
    """
    L = np.asarray(L, np.float32)
    if mask is None:
        mask = np.zeros(L.shape, np.float32)
    if ab_hint is None:
        ab_hint = np.zeros(L.shape + (2,), np.float32)
    mask = np.asarray(mask, np.float32)
    ab_hint = np.where(mask[..., None] > 0, np.asarray(ab_hint, np.float32), np.float32(0))
    return np.concatenate(
        [
            L2norm(L)[..., None],
            ab2norm(ab_hint, ab_scale=_AB_SCALE),
            (mask - np.float32(mask_center))[..., None],
        ],
        axis=-1,
    ).astype(np.float32)


def hint_proximity(mask: np.ndarray, *, radius: float) -> np.ndarray:
    """``exp(-d**2 / (2 radius**2))`` of each pixel's distance d to the nearest hint, (..., H, W) float32.

    ``mask`` is (..., H, W), a hint where it is > 0; planes without a hint give 0.
    """
    from scipy.ndimage import distance_transform_edt

    mask = np.asarray(mask)
    out = np.zeros(mask.shape, np.float32)
    for idx in np.ndindex(mask.shape[:-2]):
        m = mask[idx] > 0
        if m.any():
            d = distance_transform_edt(~m)
            out[idx] = np.exp(-0.5 * (d / float(radius)) ** 2)
    return out


def _check_hints(hints: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Validate a hints object (``.ab``, ``.mask``) against an L of ``shape``."""
    try:
        ab, mask = hints.ab, hints.mask
    except AttributeError:
        raise InputError(
            f"hints must have .ab and .mask (napari_colorize.Hints), got {type(hints).__name__}"
        ) from None
    ab, mask = np.asarray(ab), np.asarray(mask)
    if ab.shape != tuple(shape) + (2,) or mask.shape != tuple(shape):
        raise InputError(
            f"hints of shape ab {ab.shape}, mask {mask.shape} do not match L of shape {tuple(shape)}"
        )
    for name, v in (("ab", ab), ("mask", mask)):
        if not np.issubdtype(v.dtype, np.number) or not np.all(np.isfinite(v)):
            raise InputError(f"hints.{name} must be finite numbers")
    return ab.astype(np.float32, copy=False), mask.astype(np.float32, copy=False)


#: hints (connected hinted regions) at which :func:`_agreement` is half measured, half the prior 1
_AGREEMENT_PRIOR = 5


def _count_hints(mask: np.ndarray) -> int:
    """The number of hints: connected hinted regions of ``mask`` (a disc counts once)."""
    from scipy import ndimage

    return int(ndimage.label(mask > 0)[1])


def _agreement(ab: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, n: int) -> float:
    """How far the hints confirm a prediction: the least-squares gain of ``ab`` onto the hints, in 0..1.

    ``argmin_g sum_hints |hint - g ab|**2``, clipped to [0, 1], over the hinted pixels: 1 when the
    prediction's chroma at the hints is the hints', 0 when it points elsewhere; with few hints it
    stays near 1 (see ``_AGREEMENT_PRIOR``).  The hints are
    the truth the user knows, so a prediction they contradict is shrunk towards gray before
    the hints are spread, and the result is then no worse than spreading the hints alone.
    """
    sel = mask > 0
    if not np.any(sel):
        return 1.0
    m, h = ab[sel].astype(np.float64), hint_ab[sel].astype(np.float64)
    den = float(np.sum(m * m))
    if den <= 1e-9:
        return 1.0
    gain = float(np.clip(np.sum(m * h) / den, 0.0, 1.0))
    # a few hints say little about the whole image: the gain starts at 1 (trust the network)
    # and moves to the measured one as hints come (half way at _AGREEMENT_PRIOR hints)
    return (n * gain + _AGREEMENT_PRIOR) / (n + _AGREEMENT_PRIOR)


class SIGGRAPH17Colorizer(KerasColorizer):
    """Zhang et al. (SIGGRAPH 2017) user-guided colorizer.  See the module docs."""

    name = "siggraph17"
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

    @property
    def keras_model(self) -> Any:
        """The Keras network x -> [ab, logits] (built on first use)."""
        return self._ensure_net()

    # -- network -----------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import _siggraph17_keras as K

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
            from . import _siggraph17_keras as K

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
        from ..tiling import pad_to_block

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
            _check_hints(hints, np.shape(L))
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
        from ..hints import Hints, fuse_hints

        h_ab, h_mask = _check_hints(hints, L.shape)
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
        n = _count_hints(h_mask)
        ab = ab * np.float32(_agreement(auto, h_ab, h_mask, n))
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
        _check_hints(hints, L.shape)
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
        from . import _eccv16_keras as E
        from . import _siggraph17_keras as K

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
                hints = [
                    sample_hints(
                        a,
                        rng,
                        p_none=cfg.p_none,
                        p_stop=cfg.p_stop,
                        p_uniform=cfg.p_uniform,
                        max_patch=cfg.max_patch,
                    )
                    for a in ab
                ]
                x = hint_inputs(
                    L[..., 0],
                    np.stack([h[0] for h in hints]),
                    np.stack([h[1] for h in hints]),
                    mask_center=cfg.mask_center,
                )
                yield x, (ab, ab)

        return self._fit_net(
            net,
            with_hints(batches.train, batches.seed),
            epochs=epochs,
            steps_per_epoch=batches.steps,
            validation=None if batches.val is None else with_hints(batches.val, batches.seed + 7),
            validation_steps=batches.val_steps,
            callbacks=callbacks,
            verbose=verbose,
        )

    # -- model folders -----------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        self._ensure_net().save_weights(str(folder / _WEIGHTS))

    def _load_weights(self, folder: Path) -> None:
        weights_file = folder / _WEIGHTS
        if not weights_file.is_file():
            raise ModelFolderError(f"{folder} is not a complete siggraph17 model: {_WEIGHTS} is missing")
        self._net = None
        self._ensure_net(for_loading=True).load_weights(str(weights_file))


# -- the authors' weights ------------------------------------------------------
def _read_torch_state(source: str | os.PathLike | dict[str, Any]) -> dict[str, np.ndarray]:
    """A state dict (from a file or given) as numpy float32 arrays, ``module.`` prefixes dropped."""
    if isinstance(source, dict):
        state: Any = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"no such weights file: {path}")
        try:
            import torch
        except ImportError:
            raise ColorizeError(
                "reading PyTorch weights needs torch (the extra: pip install 'napari-colorize[torch]')"
            ) from None
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any reader error means a bad file
            raise InputError(
                f"{path} is not a readable PyTorch state dict: {type(e).__name__}: {e}"
            ) from None
    for key in ("state_dict", "params_ema", "params"):  # plain, and BasicSR checkpoints (DDColor)
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise InputError(f"not a state dict (got {type(state).__name__})")
    out = {}
    for k, v in state.items():
        k = k[len("module.") :] if k.startswith("module.") else k
        if hasattr(v, "detach"):
            v = v.detach().cpu().float().numpy()
        out[k] = np.asarray(v, dtype=np.float32)
    return out


def import_torch_weights(
    state_dict_or_path: str | os.PathLike | dict[str, Any], *, width: float | None = None
) -> SIGGRAPH17Colorizer:
    """Convert the authors' PyTorch SIGGRAPH17 weights into a ``siggraph17`` model.

    Parameters
    ----------
    state_dict_or_path : path or dict
        The state dict of ``SIGGRAPHGenerator`` (``siggraph17-df00044c.pth`` from
        ``richzhang/colorization``, supplied by the user; nothing is
        downloaded), or a file holding it.  Reading a file needs ``torch``.
    width : float, optional
        The network's width; by default read from the state dict
        (``model1.0.weight`` has 64 * width filters).  A given width must match.

    Returns
    -------
    SIGGRAPH17Colorizer
        Trained, with ``mask_center`` 0 (the port's convention); ``save`` it
        to make a model folder.
    """
    state = _read_torch_state(state_dict_or_path)
    need = ("model1.0.weight", "model_out.0.weight", "model_class.0.weight")
    missing = [k for k in need if k not in state]
    if missing:
        raise InputError(f"not a SIGGRAPH17 state dict: missing {', '.join(missing)}")
    w1 = state["model1.0.weight"]
    if w1.ndim != 4 or w1.shape[1] != 4:
        raise InputError(f"model1.0.weight has shape {w1.shape}, expected (64 * width, 4, 3, 3)")
    found = w1.shape[0] / 64.0
    if width is None:
        width = found
    elif max(1, int(round(64 * width))) != w1.shape[0]:
        raise InputError(f"width {width} does not match the state dict's {w1.shape[0]} first-layer filters")
    n_classes = state["model_class.0.weight"].shape[0]
    if n_classes != len(class_bins()):
        raise InputError(f"model_class has {n_classes} classes, expected {len(class_bins())}")
    model = SIGGRAPH17Colorizer(SIGGRAPH17Config(width=float(width), mask_center=0.0))
    from . import _siggraph17_keras as K

    try:
        K.torch_state_to_keras(model._ensure_net(), state)
    except KeyError as e:
        raise InputError(f"not a SIGGRAPH17 state dict of width {width}: missing {e}") from None
    except ValueError as e:
        raise InputError(f"does not match the SIGGRAPH17 architecture: {e}") from None
    model.trained = True
    info: dict[str, Any] = {
        "source": "Zhang et al.: Real-Time User-Guided Image Colorization with Learned Deep Priors "
        "(SIGGRAPH 2017), richzhang/colorization PyTorch weights",
    }
    if not isinstance(state_dict_or_path, dict):
        path = Path(state_dict_or_path)
        info["imported_from"] = path.name
        info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    model.info = info
    return model
