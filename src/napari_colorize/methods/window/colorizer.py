"""Method ``window``: a palette classifier on a zeta x zeta window of gray values.

After the image-colorizer project: the color of a pixel is predicted from the
gray values of the ``window`` x ``window`` neighbourhood around it, as a
classification over a small palette of representative colors.

- **Palette.**  ``n_colors`` colors by k-means over the **ab** (chroma) of the
  training images, not over RGB as the original did.  The input's own L is
  kept in the output, so lightness is already known: clustering RGB spends
  palette entries on light and dark versions of one hue, which then decode to
  the same chroma.  Clustering only ab spends every entry on a distinct
  chroma, and the palette mean/mode is directly an ab prediction.
- **Model.**  A softmax over the palette from either an MLP (``arch="mlp"``:
  Dense 200 sigmoid -> 100 sigmoid -> 50 relu -> softmax, as the original) or a
  small CNN (``arch="cnn"``: 3x3 'valid' convolutions -> Dense -> softmax).
  Targets are the nearest palette entry, optionally soft-encoded over nearby
  entries (``soft_sigma``, after Zhang et al. 2016).
- **Decoding.**  ``decode="mode"`` takes the most likely palette color,
  ``decode="mean"`` the probability-weighted mean (optionally annealed by
  ``temperature``).
- **Training samples** are random windows streamed from the images by a
  numpy generator into ``keras.Model.fit`` (``samples_per_epoch`` per
  epoch); at most a few images and one chunk of windows are ever in memory.
- **Inference is fully convolutional.**  The trained window network is turned
  into an equivalent convolutional network over the whole (reflect-padded)
  image: a Dense layer on a flattened k x k window is a Conv2D with a k x k
  kernel and 'valid' padding, and later Dense layers are 1x1 convolutions.
  Tiling is exact with a halo of ``window // 2`` px.

Importing this module does not import Keras; the Keras code lives in
:mod:`.network`, imported lazily.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ...color import L2norm, rgb2lab
from ...config import TrainConfig
from ...data import Source, as_sources, load_rgb, split_sources
from ...errors import ConfigError, ModelFolderError
from ...quantize import soft_encode
from ..keras_colorizer import KerasColorizer

__all__ = ["WindowConfig", "WindowColorizer", "fit_palette", "extract_windows"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class WindowConfig(TrainConfig):
    """Config of the ``window`` method."""

    method = "window"

    window: int = dataclasses.field(
        default=11, metadata={"help": "side (zeta) of the gray window around a pixel, px (odd)"}
    )
    n_colors: int = dataclasses.field(
        default=32, metadata={"help": "palette size (k-means over the training ab)"}
    )
    arch: Literal["mlp", "cnn"] = dataclasses.field(
        default="cnn", metadata={"help": "window network: mlp or cnn"}
    )
    decode: Literal["mode", "mean"] = dataclasses.field(
        default="mean",
        metadata={"help": "predicted color: most likely palette entry, or probability-weighted mean"},
    )
    temperature: float = dataclasses.field(
        default=1.0,
        metadata={"help": "decode=mean: sharpen (<1) the probabilities before averaging (annealed mean)"},
    )
    samples_per_epoch: int = dataclasses.field(
        default=32768, metadata={"help": "random windows drawn per epoch"}
    )
    mlp_units: tuple[int, ...] = dataclasses.field(
        default=(200, 100, 50), metadata={"help": "mlp hidden layers (sigmoid, ..., relu last)"}
    )
    cnn_filters: tuple[int, ...] = dataclasses.field(
        default=(16, 32), metadata={"help": "cnn 3x3 'valid' conv filters"}
    )
    cnn_units: tuple[int, ...] = dataclasses.field(
        default=(64,), metadata={"help": "cnn dense layers after the convs (relu)"}
    )
    soft_sigma: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "soft targets: Gaussian over the 5 nearest palette colors, "
            "sigma in ab units (0 = one-hot)"
        },
    )
    learning_rate: float = dataclasses.field(default=2e-3, metadata={"help": "Adam learning rate"})
    flip: bool = dataclasses.field(
        default=True, metadata={"help": "random horizontal flips of the training windows"}
    )
    palette_samples: int = dataclasses.field(
        default=50000, metadata={"help": "ab pixels sampled for the k-means palette"}
    )
    epochs: int = dataclasses.field(default=8, metadata={"help": "passes of samples_per_epoch windows"})
    batch_size: int = dataclasses.field(default=256, metadata={"help": "windows per gradient step"})
    crop_size: int = dataclasses.field(
        default=128, metadata={"help": "unused by window (it samples windows, not crops)"}
    )
    val_split: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "fraction of images held out (one image: val_split x samples_per_epoch other windows)"
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.window < 1 or self.window % 2 == 0 or self.window > 63:
            raise ConfigError(f"window must be odd and in 1..63, got {self.window}")
        if not 2 <= self.n_colors <= 512:
            raise ConfigError(f"n_colors must be in 2..512, got {self.n_colors}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if self.samples_per_epoch < 1:
            raise ConfigError(f"samples_per_epoch must be >= 1, got {self.samples_per_epoch}")
        if not self.mlp_units or min(self.mlp_units) < 1:
            raise ConfigError(f"mlp_units must be positive layer widths, got {self.mlp_units}")
        if min(self.cnn_filters, default=1) < 1 or not self.cnn_units or min(self.cnn_units) < 1:
            raise ConfigError(
                f"cnn_filters/cnn_units must be positive, got {self.cnn_filters}/{self.cnn_units}"
            )
        if self.arch == "cnn" and self.window - 2 * len(self.cnn_filters) < 1:
            raise ConfigError(
                f"window {self.window} is too small for {len(self.cnn_filters)} 3x3 'valid' convs; "
                f"use window >= {2 * len(self.cnn_filters) + 1} or fewer cnn_filters"
            )
        if self.soft_sigma < 0:
            raise ConfigError(f"soft_sigma must be >= 0, got {self.soft_sigma}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.palette_samples < self.n_colors:
            raise ConfigError(
                f"palette_samples ({self.palette_samples}) must be >= n_colors ({self.n_colors})"
            )


# -- palette and windows (pure numpy) -------------------------------------------------
def _load_lab(source: Source) -> tuple[np.ndarray, np.ndarray]:
    rgb = load_rgb(source)
    lab = rgb2lab(rgb)
    return lab[..., 0], lab[..., 1:]


def fit_palette(
    sources: Sequence[Source], *, n_colors: int, samples: int = 50000, seed: int = 0, max_images: int = 200
) -> np.ndarray:
    """k-means palette (n_colors, 2) float32 over the ab of the training images.

    Up to ``samples`` pixels are drawn evenly from up to ``max_images``
    images (each loaded once, one at a time).  Identical colors are fine: a
    flat image gives a palette of repeated entries.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))[:max_images]
    per = max(1, -(-samples // len(order)))
    pts = []
    for i in order:
        _, ab = _load_lab(sources[i])
        ab = ab.reshape(-1, 2)
        take = rng.choice(len(ab), size=min(per, len(ab)), replace=False)
        pts.append(ab[take])
    X = np.concatenate(pts).astype(np.float64)
    if len(X) < n_colors:  # tiny images: repeat pixels so k-means has k points
        X = X[rng.integers(0, len(X), n_colors)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct colors than n_colors
        km = KMeans(n_clusters=n_colors, n_init=1, random_state=seed, max_iter=100).fit(X)
    centers = km.cluster_centers_.astype(np.float32)
    # sort by hue then chroma: a stable, readable palette order
    order = np.lexsort((np.hypot(centers[:, 0], centers[:, 1]), np.arctan2(centers[:, 1], centers[:, 0])))
    return np.ascontiguousarray(centers[order])


def pad_reflect(x: np.ndarray, r: int) -> np.ndarray:
    """Reflect-pad the last two axes of ``x`` by ``r`` (any ``r``, also for 1-px images)."""
    if r == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)]
    if min(x.shape[-2:]) < 2:
        return np.pad(x, pad, mode="edge")
    return np.pad(x, pad, mode="reflect")


def extract_windows(Lpad: np.ndarray, ys: np.ndarray, xs: np.ndarray, window: int) -> np.ndarray:
    """Windows (B, window, window) of a padded image at centres ``(ys, xs)`` (unpadded coordinates)."""
    d = np.arange(window)
    return Lpad[ys[:, None, None] + d[None, :, None], xs[:, None, None] + d[None, None, :]]


def encode_targets(ab: np.ndarray, palette: np.ndarray, *, soft_sigma: float = 0.0, k: int = 5) -> np.ndarray:
    """Targets (B, n_colors) float32: one-hot nearest palette color, or a Gaussian over the k nearest.

    :func:`napari_colorize.quantize.soft_encode` with ``k=1`` (one-hot) when ``soft_sigma`` is 0.
    """
    if soft_sigma <= 0:
        return soft_encode(ab, palette, k=1, sigma=1.0)
    return soft_encode(ab, palette, k=min(k, len(palette)), sigma=soft_sigma)


def window_batches(
    sources: Sequence[Source],
    palette: np.ndarray,
    *,
    window: int,
    batch_size: int,
    samples_per_epoch: int,
    soft_sigma: float = 0.0,
    flip: bool = True,
    seed: int = 0,
    pool: int = 4,
    chunk: int = 8192,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless generator of (windows (B, z, z, 1) normalised L, targets (B, n_colors)).

    Images are visited in a random order, ``pool`` at a time (loaded once per
    visit; a single image is loaded once in all).  From each pool it draws
    ``samples_per_epoch * len(pool) / len(sources)`` random windows, in chunks
    of at most ``chunk``, so an epoch sees every image about equally and
    only one chunk of windows is in memory.
    """
    rng = np.random.default_rng(seed)
    r = window // 2
    n = len(sources)
    pool = max(1, min(pool, n))
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    carry_x: list[np.ndarray] = []
    carry_y: list[np.ndarray] = []
    while True:
        order = rng.permutation(n)
        for start in range(0, n, pool):
            ids = order[start : start + pool]
            if n > pool or not cache:
                cache = {}
                for i in ids:
                    L, ab = _load_lab(sources[i])
                    cache[int(i)] = (pad_reflect(L2norm(L), r), ab.reshape(-1, 2), L.shape)  # type: ignore[assignment]
            imgs = [cache[int(i)] for i in ids]
            todo = max(batch_size, int(round(samples_per_epoch * len(ids) / n)))
            while todo > 0:
                m = min(chunk, todo)
                todo -= m
                which = rng.integers(0, len(imgs), m)
                xs_all, ys_all = [], []
                for j, (Lpad, ab, shape) in enumerate(imgs):  # type: ignore[misc]
                    sel = which == j
                    cnt = int(sel.sum())
                    if not cnt:
                        continue
                    h, w = shape
                    yy = rng.integers(0, h, cnt)
                    xx = rng.integers(0, w, cnt)
                    win = extract_windows(Lpad, yy, xx, window)
                    if flip:
                        f = rng.random(cnt) < 0.5
                        win[f] = win[f, :, ::-1]
                    xs_all.append(win)
                    ys_all.append(encode_targets(ab[yy * w + xx], palette, soft_sigma=soft_sigma))
                X = np.concatenate(xs_all)[..., None].astype(np.float32)
                Y = np.concatenate(ys_all)
                perm = rng.permutation(len(X))
                carry_x.append(X[perm])
                carry_y.append(Y[perm])
                X, Y = np.concatenate(carry_x), np.concatenate(carry_y)
                nb = len(X) // batch_size
                for b in range(nb):
                    yield X[b * batch_size : (b + 1) * batch_size], Y[b * batch_size : (b + 1) * batch_size]
                carry_x, carry_y = [X[nb * batch_size :]], [Y[nb * batch_size :]]


class WindowColorizer(KerasColorizer):
    """Palette classifier on a ``window`` x ``window`` gray window (see module docs)."""

    name = "window"
    Config = WindowConfig
    structural_fields = ("window", "n_colors", "arch", "mlp_units", "cnn_filters", "cnn_units")
    config: WindowConfig

    def __init__(self, config: WindowConfig | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.palette: np.ndarray | None = None
        self._predict: Any = None  # cached fully convolutional predictor
        self._predict_key: tuple[Any, ...] | None = None

    # -- tiling ------------------------------------------------------------
    @property
    def receptive_field(self) -> int:
        # the cnn's 3x3 convs are 'valid' inside the window: no extra reach
        return self.config.window // 2

    @property
    def block_size(self) -> int:
        return 1

    @property
    def default_tile(self) -> int:
        return 1024

    @property
    def default_overlap(self) -> int:
        return self.config.window // 2

    # -- building ------------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import network as wk

        return wk.build_window_model(self.config)

    def _reset_inference(self) -> None:
        self._predict = None

    def window_model(self) -> Any:
        """The per-window Keras model: (B, window, window, 1) normalised L -> (B, n_colors) probabilities."""
        if self._net is None:
            raise ConfigError("the window model is not built yet: fit or load it first")
        return self._net

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
        """Learn the palette (first time only) and train the window network.

        Calling ``fit`` again (``resume``) keeps the palette and continues from
        the current weights.
        """
        if kwargs:
            raise ConfigError(f"unknown fit options {sorted(kwargs)} for method 'window'")
        from . import network as wk

        cfg = self.config
        sources = as_sources(data)
        train_src, val_src = split_sources(sources, cfg.val_split, seed=cfg.seed)
        n_epochs = int(epochs if epochs is not None else cfg.epochs)
        if n_epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {n_epochs}")
        if self.palette is None:
            self.palette = fit_palette(
                train_src, n_colors=cfg.n_colors, samples=cfg.palette_samples, seed=cfg.seed
            )
        elif self.palette.shape != (cfg.n_colors, 2):
            raise ConfigError(f"palette has {len(self.palette)} colors but n_colors is {cfg.n_colors}")
        net = self._ensure_net()
        train, val, steps, val_steps = wk.window_streams(
            self.palette, train_src, val_src, cfg, seed=self._fit_seed()
        )
        self._compile(net, loss=wk.loss(), metrics=wk.metrics(), key="window")
        history = self._fit_net(
            net,
            train,
            epochs=n_epochs,
            steps_per_epoch=steps,
            validation=val,
            validation_steps=val_steps,
            callbacks=callbacks,
            verbose=verbose,
        )
        self.info["palette_space"] = "Lab ab"
        return history

    # -- inference -----------------------------------------------------------
    def _predictor(self) -> Any:
        from . import network as wk

        if self._net is None or self.palette is None:
            raise ConfigError("this window model is untrained: fit it (or load a trained model folder) first")
        net = self._inference_net()  # built again if the precision changed; bfloat16 copy for "bfloat16"
        key = (self.config.decode, self.config.temperature, id(net))
        if self._predict is None or self._predict_key != key:  # decoding options may change after training
            with self._precision_scope():
                self._predict = wk.ConvPredictor(net, self.palette, self.config)
            self._predict_key = key
        return self._predict

    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._predict_ab_batch(L[None])[0]

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        return self._predictor()(L)

    # -- model folders -------------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        if self._net is None or self.palette is None:
            raise ModelFolderError("cannot save an untrained window model: fit it first")
        np.save(folder / "palette.npy", self.palette)
        self._net.save_weights(str(folder / "window.weights.h5"))

    def _load_weights(self, folder: Path) -> None:
        pal = folder / "palette.npy"
        wts = folder / "window.weights.h5"
        if not pal.is_file() or not wts.is_file():
            raise ModelFolderError(f"{folder} lacks palette.npy or window.weights.h5")
        palette = np.load(pal, allow_pickle=False).astype(np.float32)
        if palette.shape != (self.config.n_colors, 2) or not np.all(np.isfinite(palette)):
            raise ModelFolderError(
                f"{pal} does not hold {self.config.n_colors} finite ab colors (shape {palette.shape})"
            )
        self.palette = palette
        self._ensure_net(for_loading=True).load_weights(str(wts))
        self._reset_inference()
