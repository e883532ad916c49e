"""``ddcolor``: Kang et al., "DDColor: Photo-Realistic Image Colorization via Dual Decoders" (ICCV 2023).

The network (:mod:`.network`) is a Keras 3 port of the authors'
generator: a ConvNeXt encoder (``encoder``: ``tiny`` or ``large``), a pixel
decoder of U-Net blocks, a multi-scale color decoder of ``num_queries``
color queries and a refinement head.  :func:`import_torch_weights` reads the
authors' released state dicts (``ddcolor_paper_tiny``, ``ddcolor_modelscope``,
...: the user supplies the file, nothing is downloaded), detects tiny or large
from its shapes and folds each spectral norm into its weight as PyTorch's
eval mode does.

**Inference, as the authors'.** L (H, W) is resized to ``input_size``
squared (bilinear, antialiased when shrinking; 512 for the released models),
rendered as gray sRGB (``lab2rgb(L, 0, 0)``), normalised with the ImageNet
mean and std inside the network; the predicted ab (Lab units) is resized
back to (H, W) and, as for every method, combined with the input's own
full-resolution L.  ``saturation`` scales the chroma.

**Tiling.** The network's receptive field is global (attention over whole
feature maps), and it always sees the image resized to ``input_size``: an
untiled request (the engine's default) *is* a downsampled whole-image pass,
whose cost and memory are those of one ``input_size`` pass whatever the
image's size (only L and ab are held at full resolution).  That is the
choice made here.  A tiled request still works (each tile is resized to
``input_size`` alone); turn on the engine's ``global_anchor`` then, so that
the tiles' low-frequency chroma comes from one whole-image pass.

**Hints** go through the base class's fusion
(:func:`napari_colorize.hints.fuse_hints`): the network does not take hints.

**Fine-tuning** (:meth:`DDColorColorizer.fit`) trains on random crops
(``crop_size``, a multiple of 32, fed at their own size) with
``trainable_from`` to freeze the lower blocks (``pixel_decoder`` freezes the
encoder).  The authors' losses (pixel, perceptual, adversarial, colorfulness)
are simplified to L1 on ab (Lab units) plus ``colorfulness_weight`` times the
colorfulness term of the paper (``-colorfulness / 100``, Hasler and
Süsstrunk's metric of the predicted image, so the model is pushed away from
sepia).  The ported network holds the spectral-norm layers as plain
convolutions (their folded weights): fine-tuning updates them without the
spectral constraint.

This module does not import TensorFlow or Keras at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ...color import Lab2rgb, apply_saturation
from ..keras_colorizer import KerasColorizer
from .config import _BLOCK_SIZE, DDColorConfig

__all__ = ["DDColorColorizer", "gray_rgb", "colorfulness"]

#: network pixels per forward pass when predicting a batch (bounds memory)
_PREDICT_PIXELS = 1 << 19


def gray_rgb(L: np.ndarray) -> np.ndarray:
    """The network input: L (..., H, W) rendered as gray sRGB (``lab2rgb(L, 0, 0)``), (..., H, W, 3)."""
    L = np.asarray(L, np.float32)
    return Lab2rgb(L, np.zeros(L.shape + (2,), np.float32))


def colorfulness(rgb: Any) -> Any:
    """Hasler and Süsstrunk's colorfulness of RGB (B, H, W, 3) in 0..1 (x 255 scale), per image (B,)."""
    from keras import ops

    rgb = ops.cast(rgb, "float32") * 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    axes = [1, 2]
    std = ops.sqrt(ops.var(rg, axis=axes) + ops.var(yb, axis=axes) + 1e-6)
    mean = ops.sqrt(ops.mean(rg, axis=axes) ** 2 + ops.mean(yb, axis=axes) ** 2 + 1e-6)
    return std + 0.3 * mean


class DDColorColorizer(KerasColorizer):
    """Kang et al. (ICCV 2023) DDColor.  See the module docs.

    Its :attr:`keras_model` maps gray RGB (N, S, S, 3) to ab (N, S, S, 2).
    """

    name = "ddcolor"
    weights_file: ClassVar[str] = "ddcolor.weights.h5"
    Config = DDColorConfig
    config: DDColorConfig
    structural_fields: ClassVar[tuple[str, ...]] = ("encoder", "num_queries", "dec_layers")

    def __init__(self, config: DDColorConfig | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._predictor: Any = None

    # -- tiling properties: see the module docs --------------------------------
    @property
    def block_size(self) -> int:
        return _BLOCK_SIZE

    @property
    def receptive_field(self) -> int:
        # global: the halo defaults to its cap, a quarter of the tile
        return 1 << 20

    @property
    def default_tile(self) -> int:
        return 2048

    @property
    def default_overlap(self) -> int:
        return 256

    # -- network -----------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import network as K

        cfg = self.config
        return K.build_ddcolor(cfg.encoder, num_queries=cfg.num_queries, dec_layers=cfg.dec_layers)

    def _reset_inference(self) -> None:
        self._predictor = None
        self._predictor_net = None

    def _get_predictor(self) -> Any:
        net = self._inference_net()  # bfloat16 with precision="bfloat16" (see KerasColorizer)
        if self._predictor is None or self._predictor_net is not net:
            from ..keras_ops import inference_function

            self._predictor = inference_function(lambda x: net(x, training=False))
            self._predictor_net = net
        return self._predictor

    # -- inference ---------------------------------------------------------
    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._predict_ab_batch(L[None])[0]

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        """ab (N, H, W, 2) for a checked batch of L (N, H, W): resized to ``input_size`` and back."""
        from keras import ops

        cfg = self.config
        pred = self._get_predictor()
        n, h, w = L.shape
        s = cfg.input_size
        batch_size = max(1, _PREDICT_PIXELS // (s * s))
        out = np.empty((n, h, w, 2), dtype=np.float32)
        for i in range(0, n, batch_size):
            x = np.asarray(L[i : i + batch_size], np.float32)[..., None]
            if (h, w) != (s, s):
                x = ops.convert_to_numpy(
                    ops.image.resize(x, (s, s), interpolation="bilinear", antialias=True)
                )
            ab = pred(gray_rgb(np.clip(x[..., 0], 0.0, 100.0)))
            if (h, w) != (s, s):
                ab = ops.image.resize(ab, (h, w), interpolation="bilinear", antialias=True)
            out[i : i + batch_size] = ops.convert_to_numpy(ab)
        return apply_saturation(out, self.config.saturation)

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
        """Fine-tune (or train) on color images: L1 on ab plus the colorfulness term (module docs).

        Random crops (``crop_size``) from :func:`napari_colorize.data.make_dataset`, fed at their
        own size; ``callbacks`` go to ``keras.Model.fit``.  With ``trainable_from``, the blocks
        below it are frozen (``pixel_decoder``: the encoder; their BatchNorms run in inference mode).
        """
        from keras import ops

        from . import network as K

        epochs = self._fit_epochs(epochs, kwargs)
        cfg = self.config
        batches = self._crop_batches(data)
        net = self._ensure_net()
        K.set_trainable_from(net, cfg.trainable_from)
        weight = float(cfg.colorfulness_weight)

        def loss(y_true: Any, y_pred: Any) -> Any:
            # y_true: (L, a, b) of the crop; y_pred: ab
            y_true = ops.cast(y_true, "float32")
            ab = ops.cast(y_pred, "float32")
            l1 = ops.mean(ops.abs(ab - y_true[..., 1:]), axis=[1, 2, 3])
            if weight == 0:
                return l1
            rgb = K.lab_to_rgb(ops.concatenate([y_true[..., :1], ab], axis=-1))
            return l1 - weight * colorfulness(rgb) / 100.0

        self._compile(net, loss=loss, key=("ddcolor", weight))

        def inputs(stream: Any) -> Any:
            for L, ab in stream:
                lab = np.concatenate([L, ab], axis=-1).astype(np.float32)
                yield gray_rgb(L[..., 0]), lab

        return self._fit_crops(net, batches, inputs, epochs=epochs, callbacks=callbacks, verbose=verbose)
