"""``eccv16``: Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016).

Colorization as classification over quantised ab colors:

- the network (:mod:`.network`) maps L, normalised as ``(L - 50) / 100``,
  to logits over Q ab bins at 1/4 of the input resolution;
- training minimises the cross-entropy against soft-encoded targets (Gaussian
  weights, sigma 5, over the k nearest bins), optionally weighted by the
  class-rebalancing weights of the target's nearest bin
  (:func:`napari_colorize.quantize.rebalance_weights`, from the empirical
  prior of the training data);
- inference decodes with the annealed mean at temperature ``T`` (0.38) and
  upsamples ab bilinearly (half-pixel centres) to the input size; the output
  ab is joined with the full-resolution L by the caller.

The bins are a property of each model, saved with its weights
(``ab_bins.npy``): a new model uses the sRGB-gamut table of
:mod:`napari_colorize.quantize` (261 bins on a grid of 10); a model imported
from the authors' weights keeps their 313 bins.

**Temperature and the authors' weights.**  The authors' Caffe deploy model
scales the ``conv8_313`` logits by 2.606 (about 1/0.38) before the softmax
and takes the expectation of the bin centres (``class8_ab``): the temperature
sits on the logits.  Their PyTorch port (the weights
``colorization_release_v2-9b330a0b.pth``) has no scaling layer: it applies a
plain softmax to the output of ``model8`` and the 1x1 ``model_out``.  This
method puts ``T`` where Caffe puts it, ``softmax(logits / T)``.
:func:`import_torch_weights` multiplies the imported classifier's weights and
bias by ``T`` so that, at that ``T``, the result equals the PyTorch model's
exactly (tested); lowering ``T`` further sharpens towards the mode, ``T=1``
then corresponds to the mean of the Caffe network's unscaled logits (if the
port folded 1/0.38 into ``model8``, up to 2.606 vs 1/0.38 = 2.632).

Inference modes (``inference``):

- ``"resize"`` (default, as the authors): L is resized to ``input_size``
  squared (bilinear, antialiased), ab predicted and upsampled back to the
  input's size.  An input already of that size is not resized.
- ``"native"``: fully convolutional at the input's own resolution, padded
  (reflect) to a multiple of 8, the network's total downsampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...color import L2norm
from ...errors import ConfigError, InputError, ModelFolderError
from ...tiling import pad_to_block
from ..keras_colorizer import KerasColorizer
from .config import _BLOCK_SIZE, ECCV16Config

__all__ = ["ECCV16Colorizer"]

#: full receptive field in px (``network.receptive_field()``; checked by a test)
_RECEPTIVE_FIELD = 353

#: float32 networks with at least this many parameters run under XLA: 1.3-1.5x faster at
#: width 1.0 (32 M) on an AVX-512 Xeon (about 4 s to compile at 1024^2), slower at width 0.25 (2 M)
_XLA_MIN_PARAMS = 8_000_000

_WEIGHTS = "eccv16.weights.h5"
_BINS = "ab_bins.npy"
_PRIOR = "ab_prior.npy"


class ECCV16Colorizer(KerasColorizer):
    """Zhang et al. (ECCV 2016) classification colorizer.  See the module docs.

    Its :attr:`keras_model` maps L_norm to logits.
    """

    name = "eccv16"
    Config = ECCV16Config
    structural_fields = ("width",)
    config: ECCV16Config
    #: bfloat16 inference passed the quality check (benchmarks/bfloat16.py): "auto" may use it
    bfloat16_checked = True

    def __init__(self, config: ECCV16Config | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._bins: np.ndarray | None = None
        self._prior: np.ndarray | None = None
        self._predictor: Any = None

    # -- properties --------------------------------------------------------
    @property
    def bins(self) -> np.ndarray:
        """The ab bin centres (Q, 2) of this model, Lab units."""
        if self._bins is None:
            from ...quantize import load_bins

            self._bins = load_bins(self.config.grid)
        return self._bins

    @property
    def n_bins(self) -> int:
        return len(self.bins)

    @property
    def prior(self) -> np.ndarray | None:
        """The empirical ab prior (Q,) of the last training data, if trained with rebalancing."""
        return self._prior

    @property
    def block_size(self) -> int:
        return _BLOCK_SIZE

    @property
    def receptive_field(self) -> int:
        # half-width in input px (native mode; in resize mode, in input_size px)
        return int(math.ceil(_RECEPTIVE_FIELD / 2))

    @property
    def default_tile(self) -> int:
        return 1024 if self.config.inference == "native" else 512

    @property
    def default_overlap(self) -> int:
        return 192 if self.config.inference == "native" else 128

    # -- network -----------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import network as K

        return K.build_trunk(self.config.width, self.n_bins)

    def _reset_inference(self) -> None:
        self._predictor = None

    def _get_predictor(self) -> Any:
        net = self._inference_net()
        cfg = self.config
        T = float(cfg.T)
        size = cfg.input_size if cfg.inference == "resize" else None
        p = self._predictor
        if p is None or p.trunk is not net or p.T != T or p.input_size != size:
            from . import network as K

            # XLA where it is faster: a large float32 network (compiled once per input shape:
            # once in 'resize' inference, once per padded image or tile size in 'native')
            xla = net.dtype_policy.name == "float32" and net.count_params() >= _XLA_MIN_PARAMS
            self._predictor = K.Predictor(net, self.bins, cfg.ab_scale, T=T, input_size=size, xla=xla)
        return self._predictor

    def _adam_options(self) -> dict[str, Any]:
        return {"beta_2": 0.99}

    # -- training ----------------------------------------------------------
    def _compute_prior(self, sources: Sequence[Any], *, max_images: int = 500, stride: int = 4) -> np.ndarray:
        from ...data import iter_lab
        from ...quantize import empirical_prior

        rng = np.random.default_rng(self.config.seed)
        sources = list(sources)
        if len(sources) > max_images:
            sources = [sources[i] for i in rng.choice(len(sources), max_images, replace=False)]
        counts = np.zeros(self.n_bins, dtype=np.float64)
        total = 0
        for _, ab in iter_lab(sources):
            sub = ab[::stride, ::stride].reshape(-1, 2)
            counts += empirical_prior(sub, self.bins) * len(sub)
            total += len(sub)
        return counts / max(total, 1)

    def fit(
        self,
        data: Any,
        *,
        epochs: int | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Train (or fine-tune) on color images.

        Uses random crops (``crop_size``) from :func:`napari_colorize.data.make_dataset`;
        ``callbacks`` are passed to ``keras.Model.fit``.  With
        ``trainable_from``, blocks below it are frozen (their BatchNorms run
        in inference mode).
        """
        from ...quantize import rebalance_weights
        from . import network as K

        epochs = self._fit_epochs(epochs, kwargs)
        cfg = self.config
        if cfg.k > self.n_bins:
            raise ConfigError(f"k={cfg.k} exceeds the model's {self.n_bins} bins")
        batches = self._crop_batches(data)

        weights = None
        if cfg.rebalance:
            self._prior = self._compute_prior(batches.train_sources)
            weights = rebalance_weights(self._prior, self.bins, sigma=cfg.sigma, lam=cfg.lam)

        net = self._ensure_net()
        K.set_trainable_from(net, cfg.trainable_from)
        # the loss holds this data's rebalancing weights: compiled for every fit
        self._compile(net, loss=K.make_loss(self.bins, weights, k=cfg.k, sigma=cfg.sigma))

        def norm(stream: Any) -> Any:
            for L, ab in stream:
                yield L2norm(L), ab

        history = self._fit_crops(net, batches, norm, epochs=epochs, callbacks=callbacks, verbose=verbose)
        self.info.setdefault("n_bins", self.n_bins)
        return history

    # -- inference ---------------------------------------------------------
    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._predict_ab_batch(L[None])[0]

    def _predict_ab_batch(self, L: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """ab (N, H, W, 2) for a checked batch of L (N, H, W).

        Runs ``batch_size`` images at a time (default: as many as fit in
        about 2 megapixels of network input, at least 1).
        """
        pred = self._get_predictor()
        cfg = self.config
        n, h, w = L.shape
        if batch_size is None:
            px = h * w if cfg.inference == "native" else cfg.input_size**2
            batch_size = max(1, min(16, (1 << 21) // max(px, 1)))
        if n <= batch_size:  # one pass, no copy into a new array
            if cfg.inference == "resize":
                return pred(L[..., None], (h, w))
            xp, _ = pad_to_block(L, _BLOCK_SIZE)
            ab = pred(xp[..., None], xp.shape[1:3])
            return ab if ab.shape[1:3] == (h, w) else np.ascontiguousarray(ab[:, :h, :w])
        out = np.empty((n, h, w, 2), dtype=np.float32)
        for i in range(0, n, batch_size):
            x = L[i : i + batch_size]
            if cfg.inference == "native":
                xp, _ = pad_to_block(x, _BLOCK_SIZE)
                ab = pred(xp[..., None], xp.shape[1:3])
                out[i : i + batch_size] = ab[:, :h, :w]
            else:
                out[i : i + batch_size] = pred(x[..., None], (h, w))
        return out

    # -- model folders -----------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        net = self._ensure_net()
        np.save(folder / _BINS, self.bins.astype(np.float32))
        if self._prior is not None:
            np.save(folder / _PRIOR, self._prior)
        net.save_weights(str(folder / _WEIGHTS))

    def _load_weights(self, folder: Path) -> None:
        bins_file, weights_file = folder / _BINS, folder / _WEIGHTS
        for f in (bins_file, weights_file):
            if not f.is_file():
                raise ModelFolderError(f"{folder} is not a complete eccv16 model: {f.name} is missing")
        bins = np.load(bins_file, allow_pickle=False)
        if bins.ndim != 2 or bins.shape[1] != 2 or len(bins) < 2 or not np.all(np.isfinite(bins)):
            raise ModelFolderError(f"{bins_file} is not a (Q, 2) table of ab bins (shape {bins.shape})")
        self._bins = bins.astype(np.float32)
        if (folder / _PRIOR).is_file():
            self._prior = np.load(folder / _PRIOR, allow_pickle=False)
        self._net = None
        self._ensure_net(for_loading=True).load_weights(str(weights_file))

    def set_bins(self, bins: np.ndarray) -> None:
        """Replace the bin table (only before the network is built)."""
        if self._net is not None:
            raise ConfigError("the bins of a built model cannot change")
        bins = np.asarray(bins, dtype=np.float32)
        if bins.ndim != 2 or bins.shape[1] != 2 or len(bins) < 2:
            raise InputError(f"bins must have shape (Q, 2), got {bins.shape}")
        self._bins = bins


