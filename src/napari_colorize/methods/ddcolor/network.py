"""The DDColor generator (Kang et al., ICCV 2023) in Keras 3, and the import of the authors' weights.

Written from the paper and the structure of the authors' PyTorch sources
(``piddnad/DDColor``, as packaged in ``spandrel-extra-arches``), in
``keras.ops`` only so that it runs on the TensorFlow, torch and JAX backends.
Channels-last throughout.  The network maps gray RGB in 0..1 (B, S, S, 3),
S a multiple of 32, to ab in Lab units (B, S, S, 2):

1. **encoder**: ConvNeXt (stem 4x4/4 + LayerNorm; four stages of blocks
   ``x + gamma * Linear(GELU(Linear(LN(dwconv7x7(x)))))`` with 2x2/2
   downsampling between them, each preceded by a LayerNorm); the outputs of
   the four stages, each through its own LayerNorm (``norm0..norm3``), are
   the features at 1/4, 1/8, 1/16 and 1/32.  (The authors' LayerNorm in
   "channels_first" form is a LayerNorm over channels, i.e. over the last
   axis here.)
2. **pixel decoder**: three U-Net blocks from 1/32 up to 1/4 (each: 1x1
   conv, BatchNorm, ReLU, pixel shuffle x2, blur; the skip feature through a
   BatchNorm; ReLU of the concatenation; 3x3 conv, ReLU, BatchNorm), then a
   pixel shuffle x4 (1x1 conv, ReLU, shuffle, blur) to full resolution.  The
   authors' spectral norms are folded into the convolutions' weights at import.
3. **color decoder**: ``num_queries`` learned color queries refined by
   ``dec_layers`` layers of (cross-attention to one of the three U-Net scales in
   turn, with sine position embeddings and a level embedding; self-attention;
   FFN), post-norm; a LayerNorm and a 3-layer MLP give one 256-vector per query.
4. **refinement**: the dot products of the queries with the full-resolution
   pixel features (B, S, S, Q), concatenated with the normalised input, and a
   1x1 convolution to ab.

The ImageNet mean/std normalisation is inside the network, as the authors'.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

__all__ = [
    "ENCODERS",
    "BLOCK_NAMES",
    "build_ddcolor",
    "torch_state_to_keras",
    "spectral_fold",
    "detect_structure",
    "set_trainable_from",
]

#: ConvNeXt variants: depths and dims
ENCODERS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
}
#: the blocks of the network, input to output (for ``trainable_from``)
BLOCK_NAMES: tuple[str, ...] = ("encoder", "pixel_decoder", "color_decoder", "refine")
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
#: the authors' decoder: nf, hidden dim, heads, FFN width, scales
_NF, _HIDDEN, _HEADS, _FFN, _SCALES = 512, 256, 8, 2048, 3


def _gelu(x: Any) -> Any:
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="napari_colorize")
class ConvNeXtBlock(layers.Layer):
    """One ConvNeXt block: ``x + gamma * pw2(GELU(pw1(LN(dw7x7(x)))))``."""

    def __init__(self, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.dwconv = layers.DepthwiseConv2D(7, padding="same", name="dwconv")
        self.norm = layers.LayerNormalization(epsilon=1e-6, name="norm")
        self.pwconv1 = layers.Dense(4 * self.dim, name="pwconv1")
        self.pwconv2 = layers.Dense(self.dim, name="pwconv2")

    def build(self, input_shape: Any) -> None:
        self.dwconv.build(input_shape)
        self.norm.build(input_shape)
        self.pwconv1.build(input_shape)
        self.pwconv2.build(tuple(input_shape[:-1]) + (4 * self.dim,))
        self.gamma = self.add_weight(
            name="gamma", shape=(self.dim,), initializer=keras.initializers.Constant(1e-6)
        )

    def call(self, x: Any) -> Any:
        y = self.pwconv2(_gelu(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.gamma * y

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="napari_colorize")
class PixelShuffle(layers.Layer):
    """PyTorch's ``PixelShuffle(r)`` channels-last: (H, W, C r r) -> (H r, W r, C), channel (c, i, j)."""

    def __init__(self, scale: int, blur: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale, self.blur = int(scale), bool(blur)

    def call(self, x: Any) -> Any:
        r = self.scale
        shape = ops.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], x.shape[-1] // (r * r)
        x = ops.reshape(x, (b, h, w, c, r, r))
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3))
        x = ops.reshape(x, (b, h * r, w * r, c))
        if self.blur:
            # ReplicationPad2d((1, 0, 1, 0)) + AvgPool2d(2, stride=1): the mean of each pixel and its
            # up, left and up-left neighbours (edges repeated)
            x = ops.concatenate([x[:, :1], x], axis=1)
            x = ops.concatenate([x[:, :, :1], x], axis=2)
            x = 0.25 * (x[:, 1:, 1:] + x[:, :-1, 1:] + x[:, 1:, :-1] + x[:, :-1, :-1])
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "blur": self.blur}


@keras.saving.register_keras_serializable(package="napari_colorize")
class Normalize(layers.Layer):
    """``(x - mean) / std`` with the ImageNet mean and std (the authors' ``normalize``)."""

    def call(self, x: Any) -> Any:
        mean = ops.convert_to_tensor(np.array(_MEAN, np.float32), dtype=x.dtype)
        std = ops.convert_to_tensor(np.array(_STD, np.float32), dtype=x.dtype)
        return (x - mean) / std


class _Attention(layers.Layer):
    """``nn.MultiheadAttention`` (batch first): packed in-projection, ``heads`` heads, out-projection."""

    def __init__(self, dim: int, heads: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim, self.heads = int(dim), int(heads)

    def build(self, input_shape: Any = None) -> None:
        d = self.dim
        self.in_kernel = self.add_weight(name="in_kernel", shape=(d, 3 * d), initializer="glorot_uniform")
        self.in_bias = self.add_weight(name="in_bias", shape=(3 * d,), initializer="zeros")
        self.out_kernel = self.add_weight(name="out_kernel", shape=(d, d), initializer="glorot_uniform")
        self.out_bias = self.add_weight(name="out_bias", shape=(d,), initializer="zeros")

    def call(self, q: Any, k: Any, v: Any) -> Any:
        d, n = self.dim, self.heads
        hd = d // n
        wq, wk, wv = (self.in_kernel[:, i * d : (i + 1) * d] for i in range(3))
        bq, bk, bv = (self.in_bias[i * d : (i + 1) * d] for i in range(3))
        q = ops.matmul(q, wq) + bq
        k = ops.matmul(k, wk) + bk
        v = ops.matmul(v, wv) + bv
        b = ops.shape(q)[0]
        q = ops.transpose(ops.reshape(q, (b, -1, n, hd)), (0, 2, 1, 3))
        k = ops.transpose(ops.reshape(k, (b, -1, n, hd)), (0, 2, 3, 1))
        v = ops.transpose(ops.reshape(v, (b, -1, n, hd)), (0, 2, 1, 3))
        att = ops.softmax(ops.matmul(q * (1.0 / math.sqrt(hd)), k), axis=-1)
        o = ops.reshape(ops.transpose(ops.matmul(att, v), (0, 2, 1, 3)), (b, -1, d))
        return ops.matmul(o, self.out_kernel) + self.out_bias


def sine_position(h: Any, w: Any, dim: int = _HIDDEN, dtype: str = "float32") -> Any:
    """DETR's normalised sine position embedding (H * W, dim), rows then columns as the authors'."""
    npf = dim // 2
    k = np.arange(npf, dtype=np.float32)
    inv_t = (1.0 / 10000.0 ** (2 * (k // 2) / npf)).astype(np.float32)
    even = (np.arange(npf) % 2 == 0).astype(np.float32)
    two_pi = 2 * math.pi
    hf, wf = ops.cast(h, "float32"), ops.cast(w, "float32")
    y = ops.cast(ops.arange(1, h + 1), "float32") / (hf + 1e-6) * two_pi  # (h,)
    x = ops.cast(ops.arange(1, w + 1), "float32") / (wf + 1e-6) * two_pi  # (w,)

    inv_t, even = ops.convert_to_tensor(inv_t[None, :]), ops.convert_to_tensor(even)

    def emb(p: Any) -> Any:
        a = p[:, None] * inv_t
        return even * ops.sin(a) + (1.0 - even) * ops.cos(a)  # sin at even, cos at odd indices

    ey, ex = emb(y), emb(x)  # (h, npf), (w, npf)
    ey = ops.broadcast_to(ey[:, None, :], (h, w, npf))
    ex = ops.broadcast_to(ex[None, :, :], (h, w, npf))
    return ops.cast(ops.reshape(ops.concatenate([ey, ex], axis=-1), (-1, dim)), dtype)


@keras.saving.register_keras_serializable(package="napari_colorize")
class ColorDecoder(layers.Layer):
    """The multi-scale color decoder: queries x (cross-attention, self-attention, FFN), then the MLP.

    ``call([f0, f1, f2, pixels])``: ``f0..f2`` the U-Net features at 1/16, 1/8, 1/4 (512, 512,
    256 channels), ``pixels`` (B, S, S, 256); returns (B, S, S, num_queries).
    """

    def __init__(self, num_queries: int, dec_layers: int = 9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_queries, self.dec_layers = int(num_queries), int(dec_layers)
        d = _HIDDEN
        self.input_proj = [layers.Dense(d, name=f"input_proj_{i}") for i in range(_SCALES)]
        self.cross = [_Attention(d, _HEADS, name=f"cross_{i}") for i in range(self.dec_layers)]
        self.cross_norm = [
            layers.LayerNormalization(epsilon=1e-5, name=f"cross_norm_{i}") for i in range(self.dec_layers)
        ]
        self.self_att = [_Attention(d, _HEADS, name=f"self_{i}") for i in range(self.dec_layers)]
        self.self_norm = [
            layers.LayerNormalization(epsilon=1e-5, name=f"self_norm_{i}") for i in range(self.dec_layers)
        ]
        self.ffn1 = [layers.Dense(_FFN, activation="relu", name=f"ffn1_{i}") for i in range(self.dec_layers)]
        self.ffn2 = [layers.Dense(d, name=f"ffn2_{i}") for i in range(self.dec_layers)]
        self.ffn_norm = [
            layers.LayerNormalization(epsilon=1e-5, name=f"ffn_norm_{i}") for i in range(self.dec_layers)
        ]
        self.decoder_norm = layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")
        self.mlp = [
            layers.Dense(d, activation="relu", name="mlp_0"),
            layers.Dense(d, activation="relu", name="mlp_1"),
            layers.Dense(d, name="mlp_2"),
        ]

    def build(self, input_shape: Any) -> None:
        d, q = _HIDDEN, self.num_queries
        for proj, shp in zip(self.input_proj, input_shape[:_SCALES]):
            proj.build((None, shp[-1]))
        for i in range(self.dec_layers):
            self.cross[i].build()
            self.self_att[i].build()
            for ln in (self.cross_norm[i], self.self_norm[i], self.ffn_norm[i]):
                ln.build((None, d))
            self.ffn1[i].build((None, d))
            self.ffn2[i].build((None, _FFN))
        self.decoder_norm.build((None, d))
        for m in self.mlp:
            m.build((None, d))
        self.query_feat = self.add_weight(name="query_feat", shape=(q, d), initializer="random_normal")
        self.query_embed = self.add_weight(name="query_embed", shape=(q, d), initializer="random_normal")
        self.level_embed = self.add_weight(
            name="level_embed", shape=(_SCALES, d), initializer="random_normal"
        )

    def call(self, inputs: Any) -> Any:
        feats, pixels = inputs[:_SCALES], inputs[_SCALES]
        src, pos = [], []
        for i, f in enumerate(feats):
            s = ops.shape(f)
            b = s[0]
            src.append(ops.reshape(self.input_proj[i](f), (b, -1, _HIDDEN)) + self.level_embed[i])
            pos.append(sine_position(s[1], s[2], dtype=f.dtype)[None])
        b = ops.shape(pixels)[0]
        query_pos = self.query_embed[None]
        out = ops.broadcast_to(self.query_feat[None], (b, self.num_queries, _HIDDEN))
        for i in range(self.dec_layers):
            lvl = i % _SCALES
            att = self.cross[i](out + query_pos, src[lvl] + pos[lvl], src[lvl])
            out = self.cross_norm[i](out + att)
            qk = out + query_pos
            out = self.self_norm[i](out + self.self_att[i](qk, qk, out))
            out = self.ffn_norm[i](out + self.ffn2[i](self.ffn1[i](out)))
        emb = self.decoder_norm(out)
        for m in self.mlp:
            emb = m(emb)
        return ops.einsum("bhwc,bqc->bhwq", pixels, emb)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_queries": self.num_queries, "dec_layers": self.dec_layers}


def _unet_block(x: Any, skip: Any, n_out: int, name: str) -> Any:
    """The authors' ``UnetBlockWide`` (spectral norms folded): shuffle-up x2 of ``x``, BN of ``skip``."""
    up = layers.Conv2D(4 * n_out, 1, use_bias=False, name=f"{name}_shuf_conv")(x)
    up = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_shuf_bn")(up)
    up = PixelShuffle(2, name=f"{name}_shuf")(layers.ReLU()(up))
    s = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(skip)
    y = layers.ReLU()(layers.Concatenate()([up, s]))
    y = layers.Conv2D(n_out, 3, padding="same", use_bias=False, activation="relu", name=f"{name}_conv")(y)
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_conv_bn")(y)


def build_ddcolor(encoder: str = "tiny", *, num_queries: int = 100, dec_layers: int = 9) -> keras.Model:
    """The DDColor generator: gray RGB 0..1 (B, S, S, 3), S a multiple of 32 -> ab (B, S, S, 2).

    Layer names start with their block (:data:`BLOCK_NAMES`): ``encoder_``, ``pixel_decoder_``,
    ``color_decoder``, ``refine``.
    """
    depths, dims = ENCODERS[encoder]
    inp = keras.Input((None, None, 3), name="gray_rgb")
    x0 = Normalize(name="encoder_normalize")(inp)
    x = x0
    feats = []
    for i in range(4):
        if i == 0:
            x = layers.Conv2D(dims[0], 4, strides=4, name="encoder_stem_conv")(x)
            x = layers.LayerNormalization(epsilon=1e-6, name="encoder_stem_norm")(x)
        else:
            x = layers.LayerNormalization(epsilon=1e-6, name=f"encoder_down{i}_norm")(x)
            x = layers.Conv2D(dims[i], 2, strides=2, name=f"encoder_down{i}_conv")(x)
        for j in range(depths[i]):
            x = ConvNeXtBlock(dims[i], name=f"encoder_stage{i}_{j}")(x)
        feats.append(layers.LayerNormalization(epsilon=1e-6, name=f"encoder_norm{i}")(x))
    # pixel decoder: 1/32 -> 1/16 -> 1/8 -> 1/4 -> 1
    outs, y = [], feats[3]
    for k, (skip, n_out) in enumerate(zip(feats[2::-1], (_NF, _NF, _NF // 2))):
        y = _unet_block(y, skip, n_out, f"pixel_decoder_{k}")
        outs.append(y)
    e = _NF // 2
    p = layers.Conv2D(e * 16, 1, activation="relu", name="pixel_decoder_last_conv")(y)
    pixels = PixelShuffle(4, name="pixel_decoder_last_shuf")(p)
    q = ColorDecoder(num_queries, dec_layers, name="color_decoder")([*outs, pixels])
    out = layers.Concatenate(name="refine_concat")([q, x0])
    ab = layers.Conv2D(2, 1, name="refine_conv", dtype="float32")(out)
    return keras.Model(inp, ab, name=f"ddcolor_{encoder}")


def lab_to_rgb(lab: Any) -> Any:
    """CIELAB (..., 3) to sRGB in 0..1 (D65, clipped), in ``keras.ops`` (for the colorfulness loss)."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fy = (L + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def finv(t: Any) -> Any:
        return ops.where(t > 6.0 / 29.0, t * t * t, 3.0 * (6.0 / 29.0) ** 2 * (t - 4.0 / 29.0))

    x, y, z = 0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz)
    r = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z
    g = -0.9692660 * x + 1.8760108 * y + 0.0415560 * z
    bl = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z
    rgb = ops.clip(ops.stack([r, g, bl], axis=-1), 0.0, 1.0)
    return ops.where(
        rgb > 0.0031308, 1.055 * ops.power(ops.maximum(rgb, 1e-8), 1.0 / 2.4) - 0.055, 12.92 * rgb
    )


def block_of(layer_name: str) -> str | None:
    """The block (:data:`BLOCK_NAMES`) of a layer, by its name's prefix (None for others)."""
    for b in BLOCK_NAMES:
        if layer_name.startswith(b):
            return b
    return None


def set_trainable_from(net: keras.Model, block: str | None) -> None:
    """Train only ``block`` and the blocks above it (None: everything); frozen BatchNorms run in inference."""
    from ..keras_colorizer import freeze_below

    freeze_below(net, block, block_names=BLOCK_NAMES, block_of=block_of)


# -- the authors' weights ------------------------------------------------------
def spectral_fold(state: dict[str, np.ndarray], key: str) -> np.ndarray:
    """The weight PyTorch's ``spectral_norm`` uses in eval mode: ``weight_orig / sigma``.

    ``sigma = u . (W v)`` with ``W`` the weight reshaped to (out, -1) (dim 0, as for Conv2d) and
    the stored power-iteration vectors ``weight_u``, ``weight_v`` (eval mode runs no iteration:
    ``torch.nn.utils.spectral_norm``'s ``compute_weight(do_power_iteration=False)``).
    """
    w = np.asarray(state[key + "weight_orig"], np.float64)
    u = np.asarray(state[key + "weight_u"], np.float64)
    v = np.asarray(state[key + "weight_v"], np.float64)
    sigma = float(u @ (w.reshape(w.shape[0], -1) @ v))
    return (w / sigma).astype(np.float32)


def _conv_weight(state: dict[str, np.ndarray], key: str) -> np.ndarray:
    """A Conv2d weight (out, in, kh, kw), spectral norm folded when it has one."""
    if key + "weight_orig" in state:
        return spectral_fold(state, key)
    return np.asarray(state[key + "weight"], np.float32)


def detect_structure(state: dict[str, np.ndarray]) -> dict[str, Any]:
    """``encoder`` (tiny or large), ``num_queries`` and ``dec_layers`` read from a state dict's shapes.

    Raises ValueError for a state dict that is not a DDColor generator this port supports.
    """
    need = (
        "encoder.arch.downsample_layers.0.0.weight",
        "refine_net.0.0.weight_orig",
        "decoder.color_decoder.query_feat.weight",
    )
    missing = [k for k in need if k not in state]
    if missing:
        raise ValueError(f"not a DDColor (multi-scale decoder) state dict: missing {', '.join(missing)}")
    depths = tuple(
        len({k.split(".")[4] for k in state if k.startswith(f"encoder.arch.stages.{i}.")}) for i in range(4)
    )
    dims = tuple(int(state[f"encoder.arch.stages.{i}.0.norm.weight"].shape[0]) for i in range(4))
    found = [name for name, (d, c) in ENCODERS.items() if (d, c) == (depths, dims)]
    if not found:
        raise ValueError(f"unsupported ConvNeXt encoder: depths {depths}, dims {dims} (tiny or large only)")
    ref = state["refine_net.0.0.weight_orig"]
    if ref.shape[0] != 2:
        raise ValueError(f"the refinement gives {ref.shape[0]} channels, expected 2 (ab)")
    if "decoder.last_shuf.conv.0.weight_orig" not in state:
        raise ValueError("only the spectral-norm last layer of the released models is supported")
    nf = state["decoder.last_shuf.conv.0.weight_orig"].shape[0] // 8
    if nf != _NF:
        raise ValueError(f"decoder width nf={nf}, expected {_NF}")
    dec_layers = len(
        {k.split(".")[3] for k in state if k.startswith("decoder.color_decoder.transformer_ffn_layers.")}
    )
    return {"encoder": found[0], "num_queries": int(ref.shape[1] - 3), "dec_layers": int(dec_layers)}


def _set(layer: Any, ws: list[np.ndarray], what: str) -> None:
    want = [tuple(v.shape) for v in layer.get_weights()]
    got = [tuple(np.shape(v)) for v in ws]
    if want != got:
        raise ValueError(f"{what} -> {layer.name}: shapes {got} do not match {want}")
    layer.set_weights([np.asarray(v, np.float32) for v in ws])


def _conv(state: dict[str, np.ndarray], key: str, *, bias: bool = True) -> list[np.ndarray]:
    ws = [_conv_weight(state, key).transpose(2, 3, 1, 0)]
    if bias:
        ws.append(state[key + "bias"])
    return ws


def _bn(state: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [state[key + s] for s in ("weight", "bias", "running_mean", "running_var")]


def _ln(state: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [state[key + "weight"], state[key + "bias"]]


def _linear(state: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [np.asarray(state[key + "weight"]).T, state[key + "bias"]]


def torch_state_to_keras(net: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Load the authors' state dict (numpy arrays) into :func:`build_ddcolor`'s network.

    Spectral norms are folded (:func:`spectral_fold`).  Raises KeyError on a missing key and
    ValueError on a shape mismatch.
    """
    g = net.get_layer
    a = "encoder.arch."
    _set(g("encoder_stem_conv"), _conv(state, a + "downsample_layers.0.0."), "stem")
    _set(g("encoder_stem_norm"), _ln(state, a + "downsample_layers.0.1."), "stem norm")
    i = 1
    while True:
        try:
            layer = g(f"encoder_down{i}_norm")
        except ValueError:
            break
        _set(layer, _ln(state, f"{a}downsample_layers.{i}.0."), "down norm")
        _set(g(f"encoder_down{i}_conv"), _conv(state, f"{a}downsample_layers.{i}.1."), "down conv")
        i += 1
    for layer in net.layers:
        if isinstance(layer, ConvNeXtBlock):
            s, j = layer.name[len("encoder_stage") :].split("_")
            k = f"{a}stages.{s}.{j}."
            dw = np.asarray(state[k + "dwconv.weight"]).transpose(2, 3, 0, 1)  # (C,1,7,7) -> (7,7,C,1)
            _set(layer.dwconv, [dw, state[k + "dwconv.bias"]], k)
            _set(layer.norm, _ln(state, k + "norm."), k)
            _set(layer.pwconv1, _linear(state, k + "pwconv1."), k)
            _set(layer.pwconv2, _linear(state, k + "pwconv2."), k)
            gamma = np.asarray(state[k + "gamma"], np.float32)
            if gamma.shape != tuple(layer.gamma.shape):
                raise ValueError(f"{k}gamma: shape {gamma.shape} does not match {tuple(layer.gamma.shape)}")
            layer.gamma.assign(gamma)
    for n in range(4):
        _set(g(f"encoder_norm{n}"), _ln(state, f"{a}norm{n}."), f"norm{n}")
    d = "decoder."
    for k in range(3):
        p, name = f"{d}layers.{k}.", f"pixel_decoder_{k}"
        _set(g(f"{name}_shuf_conv"), _conv(state, p + "shuf.conv.0.", bias=False), p)
        _set(g(f"{name}_shuf_bn"), _bn(state, p + "shuf.conv.1."), p)
        _set(g(f"{name}_bn"), _bn(state, p + "bn."), p)
        _set(g(f"{name}_conv"), _conv(state, p + "conv.0.", bias=False), p)
        _set(g(f"{name}_conv_bn"), _bn(state, p + "conv.2."), p)
    _set(g("pixel_decoder_last_conv"), _conv(state, d + "last_shuf.conv.0."), "last_shuf")
    c = d + "color_decoder."
    cd: ColorDecoder = g("color_decoder")
    for i, proj in enumerate(cd.input_proj):
        w = np.asarray(state[f"{c}input_proj.{i}.weight"])[:, :, 0, 0].T
        _set(proj, [w, state[f"{c}input_proj.{i}.bias"]], "input_proj")

    def mha(layer: _Attention, key: str) -> None:
        ws = [
            np.asarray(state[key + "in_proj_weight"]).T,
            state[key + "in_proj_bias"],
            np.asarray(state[key + "out_proj.weight"]).T,
            state[key + "out_proj.bias"],
        ]
        _set(layer, ws, key)

    for i in range(cd.dec_layers):
        ca, sa, ff = (f"{c}transformer_{t}_layers.{i}." for t in ("cross_attention", "self_attention", "ffn"))
        mha(cd.cross[i], ca + "multihead_attn.")
        _set(cd.cross_norm[i], _ln(state, ca + "norm."), ca)
        mha(cd.self_att[i], sa + "self_attn.")
        _set(cd.self_norm[i], _ln(state, sa + "norm."), sa)
        _set(cd.ffn1[i], _linear(state, ff + "linear1."), ff)
        _set(cd.ffn2[i], _linear(state, ff + "linear2."), ff)
        _set(cd.ffn_norm[i], _ln(state, ff + "norm."), ff)
    _set(cd.decoder_norm, _ln(state, c + "decoder_norm."), "decoder_norm")
    for i, m in enumerate(cd.mlp):
        _set(m, _linear(state, f"{c}color_embed.layers.{i}."), "color_embed")
    for name, attr in (
        ("query_feat", cd.query_feat),
        ("query_embed", cd.query_embed),
        ("level_embed", cd.level_embed),
    ):
        v = np.asarray(state[f"{c}{name}.weight"], np.float32)
        if tuple(attr.shape) != v.shape:
            raise ValueError(f"{name}: shape {v.shape} does not match {tuple(attr.shape)}")
        attr.assign(v)
    _set(g("refine_conv"), _conv(state, "refine_net.0.0."), "refine_net")
