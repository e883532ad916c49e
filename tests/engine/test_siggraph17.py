"""Tests of the ``siggraph17`` method (Zhang et al., SIGGRAPH 2017, user-guided colorization)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from skimage import data as skdata
from skimage.transform import resize

from napari_colorize.color import rgb2lab
from napari_colorize.errors import ConfigError, InputError, ModelFolderError
from napari_colorize.hints import Hints
from napari_colorize.methods import get_config_class, load_model, make_model
from napari_colorize.methods.siggraph17 import (
    BLOCK_NAMES,
    SIGGRAPH17Colorizer,
    SIGGRAPH17Config,
    class_bins,
    hint_inputs,
    hint_proximity,
    import_torch_weights,
    sample_hints,
)
from napari_colorize.metrics import delta_e2000_lab


# -- config ------------------------------------------------------------------
def test_config_defaults_validation_and_json():
    cfg = SIGGRAPH17Config()
    assert (cfg.width, cfg.mask_center, cfg.p_stop, cfg.max_patch) == (0.5, 0.0, 0.125, 9)
    assert get_config_class("siggraph17") is SIGGRAPH17Config
    assert SIGGRAPH17Config.from_json(cfg.to_json()) == cfg
    assert (cfg.T, cfg.shrink, cfg.saturation) == (1.0, 0.0, 1.0)  # no calibration unless asked
    other = cfg.replace(width=0.25, class_weight=1.0, trainable_from="model8", shrink=1.5, saturation=0.7)
    assert SIGGRAPH17Config.from_json(other.to_json()) == other
    for bad in (
        {"width": 0},
        {"crop_size": 100},
        {"p_none": 1.5},
        {"p_stop": 0},
        {"p_uniform": -0.1},
        {"max_patch": 0},
        {"class_weight": -1},
        {"trainable_from": "model11"},
        {"mask_center": 3},
        {"learning_rate": 0},
        {"T": 0},
        {"shrink": -1},
        {"saturation": float("nan")},
        {"hint_radius": -2},
        {"nope": 1},
    ):
        with pytest.raises(ConfigError):
            SIGGRAPH17Config.from_dict(bad)


def test_module_does_not_import_tensorflow():
    code = (
        "import sys; import numpy as np; import napari_colorize.methods.siggraph17 as m; "
        "m.SIGGRAPH17Config(); "
        "m.sample_hints(np.zeros((8, 8, 2)), np.random.default_rng(0)); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_class_bins_are_the_authors_grid():
    bins = class_bins()
    assert bins.shape == (529, 2) and bins.dtype == np.float32
    # index = 23 * a_index + b_index, a and b in -110..110 by 10
    np.testing.assert_array_equal(bins[0], [-110, -110])
    np.testing.assert_array_equal(bins[1], [-110, -100])
    np.testing.assert_array_equal(bins[23], [-100, -110])
    np.testing.assert_array_equal(bins[-1], [110, 110])


# -- architecture ------------------------------------------------------------
def test_architecture_facts():
    from napari_colorize.methods.siggraph17 import config as S
    from napari_colorize.methods.siggraph17 import network as K

    assert K.BLOCK_NAMES == BLOCK_NAMES
    assert K.receptive_field() == S._RECEPTIVE_FIELD
    net = K.build_siggraph17(0.125, 529)
    ab, logits = net(np.zeros((2, 64, 48, 4), np.float32))
    assert tuple(ab.shape) == (2, 64, 48, 2) and tuple(logits.shape) == (2, 16, 12, 529)
    assert np.abs(np.asarray(ab)).max() <= 110.0
    bn = [layer for layer in net.layers if type(layer).__name__ == "BatchNormalization"]
    assert len(bn) == 9 and all(layer.epsilon == 1e-5 for layer in bn)
    # channels scale with width, never below 1
    assert K.channels(0.001)["model1"] == 1 and K.channels(0.5)["model4"] == 256


def test_trainable_from_blocks():
    from napari_colorize.methods.siggraph17 import network as K

    net = K.build_siggraph17(0.125, 529)
    K.set_trainable_from(net, "model8")
    for layer in net.layers:
        b = K.block_of(layer.name)
        if b is not None and layer.weights:
            assert layer.trainable == (BLOCK_NAMES.index(b) >= BLOCK_NAMES.index("model8")), layer.name
    assert K.block_of("model3short8_0") == "model8" and K.block_of("model_class_0") == "heads"
    K.set_trainable_from(net, None)
    assert all(layer.trainable for layer in net.layers)


@pytest.mark.slow
def test_full_width_parameter_count():
    from napari_colorize.methods.siggraph17 import network as K

    net = K.build_siggraph17(1.0, 529)
    torch = pytest.importorskip("torch")
    ref = _torch_siggraph17(torch, 1.0)
    assert net.count_params() == sum(p.numel() for p in ref.parameters()) + sum(
        b.numel() for n, b in ref.named_buffers() if "running" in n
    )


# -- hints ---------------------------------------------------------------------
def test_hint_inputs_normalisation():
    L = np.full((8, 8), 75.0, np.float32)
    ab = np.full((8, 8, 2), 55.0, np.float32)
    mask = np.zeros((8, 8), np.float32)
    mask[2, 3] = 1
    x = hint_inputs(L, ab, mask, mask_center=0.5)
    assert x.shape == (8, 8, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], 0.25)
    np.testing.assert_allclose(x[2, 3, 1:3], 0.5)
    assert np.count_nonzero(x[..., 1:3]) == 2  # ab ignored where the mask is 0
    np.testing.assert_allclose(x[..., 3], mask - 0.5)
    np.testing.assert_array_equal(hint_inputs(L)[..., 1:], 0)


def test_sample_hints_statistics():
    rng = np.random.default_rng(0)
    side = 64
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    ab = np.stack([yy, -xx], -1)  # a linear ramp: a patch's mean is its centre's value
    counts, centres_g, centres_u = [], [], []
    for _ in range(2000):
        hint, mask = sample_hints(ab, rng, p_uniform=0.5)
        assert hint.dtype == np.float32 and mask.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert np.all(hint[mask == 0] == 0)
        counts.append(int(mask.sum() > 0))
    share_none = 1 - np.mean(counts)
    assert abs(share_none - 0.125) < 0.03, share_none  # geometric p = 1/8 gives no hint 1/8 of the time
    # p_none adds crops without hints
    none = np.mean([sample_hints(ab, rng, p_none=0.5)[1].sum() == 0 for _ in range(1000)])
    assert abs(none - (0.5 + 0.5 * 0.125)) < 0.05, none
    # one patch at a time: size 1..9, value the patch mean, locations Gaussian or uniform
    sizes = []
    for uniform, centres in ((0.0, centres_g), (1.0, centres_u)):
        for _ in range(1500):
            hint, mask = sample_hints(ab, rng, n_hints=1, p_uniform=uniform)
            ys, xs = np.nonzero(mask)
            p = ys.max() - ys.min() + 1
            assert xs.max() - xs.min() + 1 == p and mask.sum() == p * p
            sizes.append(p)
            np.testing.assert_allclose(hint[ys[0], xs[0]], ab[ys, xs].mean(0), atol=1e-4)
            centres.append(((ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2))
    assert set(sizes) == set(range(1, 10))
    g, u = np.array(centres_g), np.array(centres_u)
    assert np.all(np.abs(g.mean(0) - side / 2) < 2) and np.all(np.abs(u.mean(0) - side / 2) < 2)
    # Gaussian: sigma a quarter of the free range (~60 px here), a little less after clipping;
    # uniform: range / sqrt(12)
    assert np.all((g.std(0) > 13) & (g.std(0) < 15.5)), g.std(0)
    assert np.all(np.abs(u.std(0) - 60 / np.sqrt(12)) < 1.0), u.std(0)
    central = [np.mean(np.all(np.abs(c - side / 2) < side / 4, axis=1)) for c in (g, u)]
    assert central[0] > central[1] + 0.15, central  # concentrated around the centre
    # the mean count of the geometric distribution is (1 - p) / p
    n = [sample_hints(np.zeros((256, 256, 2)), rng, max_patch=1, p_stop=0.25)[1].sum() for _ in range(2000)]
    assert abs(np.mean(n) - 3.0) < 0.3
    with pytest.raises(InputError):
        sample_hints(np.zeros((8, 8)), rng)


# -- inference contract ------------------------------------------------------
@pytest.fixture(scope="module")
def lite_model():
    return SIGGRAPH17Colorizer(width=0.125)


@pytest.mark.parametrize("shape", [(64, 64), (61, 90), (37, 203)])
def test_predict_shapes_dtype(lite_model, shape):
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, shape).astype(np.float32)
    ab = lite_model.predict_ab(L)
    assert ab.shape == shape + (2,) and ab.dtype == np.float32 and np.all(np.isfinite(ab))
    assert np.abs(ab).max() <= 110.0
    hints = SimpleNamespace(ab=rng.uniform(-50, 50, shape + (2,)).astype(np.float32), mask=np.zeros(shape))
    hints.mask[shape[0] // 2, shape[1] // 3] = 1
    abh = lite_model.predict_ab(L, hints=hints)
    assert abh.shape == ab.shape and not np.allclose(abh, ab)
    batch = lite_model.predict_ab_batch(np.stack([L, L[::-1]]))
    np.testing.assert_allclose(batch[0], ab, atol=1e-4)
    # an empty mask is the same as no hints
    empty = SimpleNamespace(ab=hints.ab, mask=np.zeros(shape, np.float32))
    np.testing.assert_allclose(lite_model.predict_ab(L, hints=empty), ab, atol=1e-5)


def test_bad_input(lite_model):
    with pytest.raises(InputError):
        lite_model.predict_ab(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError):
        lite_model.predict_ab(np.full((16, 16), np.nan, np.float32))
    with pytest.raises(InputError):
        lite_model.predict_ab(np.zeros((0, 16), np.float32))
    L = np.zeros((16, 16), np.float32)
    with pytest.raises(InputError, match="do not match"):
        lite_model.predict_ab(L, hints=SimpleNamespace(ab=np.zeros((8, 8, 2)), mask=np.zeros((8, 8))))
    with pytest.raises(InputError, match="finite"):
        lite_model.predict_ab(L, hints=SimpleNamespace(ab=np.full((16, 16, 2), np.inf), mask=L))
    with pytest.raises(InputError, match=r"\.ab and \.mask"):
        lite_model.predict_ab(L, hints=np.zeros((16, 16, 3)))


def test_save_load_round_trip(tmp_path, lite_model):
    path = lite_model.save(tmp_path / "sig")
    info = json.loads((path / "config.json").read_text())
    assert info["method"] == "siggraph17" and info["config"]["width"] == 0.125
    m2 = load_model(path)
    assert isinstance(m2, SIGGRAPH17Colorizer) and m2.config == lite_model.config
    x = np.linspace(0, 100, 96 * 80, dtype=np.float32).reshape(96, 80)
    hints = SimpleNamespace(ab=np.full((96, 80, 2), 30.0, np.float32), mask=np.zeros((96, 80), np.float32))
    hints.mask[40:43, 20:23] = 1
    np.testing.assert_allclose(
        m2.predict_ab(x, hints=hints), lite_model.predict_ab(x, hints=hints), atol=1e-5
    )
    with pytest.raises(ConfigError):
        m2.config = m2.config.replace(width=0.5)
        _ = m2.keras_model
    (path / "siggraph17.weights.h5").unlink()
    with pytest.raises(ModelFolderError):
        load_model(path)


# -- confidence and calibration ---------------------------------------------
def test_confidence_range_and_chroma_calibration(lite_model):
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (48, 72)).astype(np.float32)
    ab_raw, conf = lite_model.predict_ab_confidence(L)
    assert conf.shape == L.shape and conf.dtype == np.float32
    assert conf.min() >= 0 and conf.max() <= 1 and conf.std() > 0
    np.testing.assert_allclose(lite_model.predict_confidence(L), conf, atol=1e-6)
    np.testing.assert_allclose(ab_raw, lite_model.predict_ab(L), atol=1e-5)
    # the non-structural fields change the output, not the network
    calibrated = SIGGRAPH17Colorizer(lite_model.config.replace(shrink=2.0, saturation=0.5))
    calibrated._adopt_net(lite_model)
    expected = ab_raw * 0.5 * conf[..., None] ** 2
    np.testing.assert_allclose(calibrated.predict_ab(L), expected, atol=1e-4)
    assert np.abs(calibrated.predict_ab(L)).mean() < np.abs(ab_raw).mean()
    gray = SIGGRAPH17Colorizer(lite_model.config.replace(saturation=0.0))
    gray._adopt_net(lite_model)
    assert np.all(gray.predict_ab(L) == 0)


def test_confidence_is_high_near_hints(lite_model):
    L = np.full((64, 64), 50.0, np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[10, 12] = 1
    hints = Hints(np.full((64, 64, 2), 40.0, np.float32), mask)
    conf = lite_model.predict_confidence(L, hints=hints)
    assert conf[10, 12] == pytest.approx(1.0) and conf[10, 12] > conf[60, 60]
    assert conf[10, 12] >= lite_model.predict_confidence(L)[10, 12]
    prox = hint_proximity(mask, radius=16.0)
    assert prox[10, 12] == 1 and 0 < prox[10, 28] < 1 and prox[10, 28] == pytest.approx(np.exp(-0.5))
    assert not hint_proximity(np.zeros((2, 8, 8)), radius=4.0).any()


def test_fuse_weight_makes_hints_hard_constraints(lite_model):
    L = np.tile(np.linspace(20, 80, 48, dtype=np.float32), (40, 1))
    mask = np.zeros((40, 48), np.float32)
    mask[20, 10] = mask[5, 40] = 1
    hints = Hints(np.full((40, 48, 2), [30.0, -20.0], np.float32), mask)
    fused = SIGGRAPH17Colorizer(lite_model.config.replace(fuse_weight=1e-2))
    fused._adopt_net(lite_model)
    alone = SIGGRAPH17Colorizer(lite_model.config.replace(fuse_weight=0.0))  # the network alone
    alone._adopt_net(lite_model)
    plain = alone.predict_ab(L, hints=hints)
    ab = fused.predict_ab(L, hints=hints)
    np.testing.assert_allclose(ab[mask > 0], [[30.0, -20.0]] * 2, atol=1e-2)
    assert np.abs(ab - [30.0, -20.0]).mean() < np.abs(plain - [30.0, -20.0]).mean()
    np.testing.assert_allclose(
        fused.predict_ab(L), lite_model.predict_ab(L), atol=1e-5
    )  # no hints: no change


# -- the authors' weights: PyTorch reference -----------------------------------
def _torch_siggraph17(torch, width: float = 1.0, n_classes: int = 529):
    """A reference SIGGRAPH17 generator in PyTorch, written from the authors' layout (../shared/DESIGN.md)."""
    nn = torch.nn

    def ch(c):
        return max(1, int(round(c * width)))

    def convs(cin, cout, n, dil=1, *, first_relu=False, bn=True):
        mods = [nn.ReLU()] if first_relu else []
        for _ in range(n):
            mods += [nn.Conv2d(cin, cout, 3, padding=dil, dilation=dil), nn.ReLU()]
            cin = cout
        if bn:
            mods.append(nn.BatchNorm2d(cout))
        return nn.Sequential(*mods)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            c1, c2, c3, c4, c8 = ch(64), ch(128), ch(256), ch(512), ch(256)
            c9, c10 = ch(128), ch(128)
            self.model1 = convs(4, c1, 2)
            self.model2 = convs(c1, c2, 2)
            self.model3 = convs(c2, c3, 3)
            self.model4 = convs(c3, c4, 3)
            self.model5 = convs(c4, c4, 3, 2)
            self.model6 = convs(c4, c4, 3, 2)
            self.model7 = convs(c4, c4, 3)
            self.model8up = nn.Sequential(nn.ConvTranspose2d(c4, c8, 4, stride=2, padding=1))
            self.model3short8 = nn.Sequential(nn.Conv2d(c3, c8, 3, padding=1))
            self.model8 = convs(c8, c8, 2, first_relu=True)
            self.model9up = nn.Sequential(nn.ConvTranspose2d(c8, c9, 4, stride=2, padding=1))
            self.model2short9 = nn.Sequential(nn.Conv2d(c2, c9, 3, padding=1))
            self.model9 = convs(c9, c9, 1, first_relu=True)
            self.model10up = nn.Sequential(nn.ConvTranspose2d(c9, c10, 4, stride=2, padding=1))
            self.model1short10 = nn.Sequential(nn.Conv2d(c1, c10, 3, padding=1))
            self.model10 = nn.Sequential(nn.ReLU(), nn.Conv2d(c10, c10, 3, padding=1), nn.LeakyReLU(0.2))
            self.model_class = nn.Sequential(nn.Conv2d(c8, n_classes, 1))
            self.model_out = nn.Sequential(nn.Conv2d(c10, 2, 1), nn.Tanh())

        def forward(self, L, ab=None, mask=None):
            if ab is None:
                ab = torch.zeros_like(torch.cat([L, L], 1))
            if mask is None:
                mask = torch.zeros_like(L)
            x1 = self.model1(torch.cat([(L - 50.0) / 100.0, ab / 110.0, mask], 1))
            x2 = self.model2(x1[:, :, ::2, ::2])
            x3 = self.model3(x2[:, :, ::2, ::2])
            x = self.model4(x3[:, :, ::2, ::2])
            x = self.model7(self.model6(self.model5(x)))
            x8 = self.model8(self.model8up(x) + self.model3short8(x3))
            x = self.model9(self.model9up(x8) + self.model2short9(x2))
            x = self.model10(self.model10up(x) + self.model1short10(x1))
            return self.model_out(x) * 110.0, self.model_class(x8)

    return Reference()


def _randomise(torch, net, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
        # a larger regression output so that tanh is neither flat nor saturated everywhere
        net.model_out[0].weight.mul_(4.0)


def _inputs(side: int, n: int = 2):
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (n, side, side)).astype(np.float32)
    L[1] = np.linspace(0, 100, side, dtype=np.float32)[None, :] * np.ones((side, 1), np.float32)
    ab = np.zeros((n, side, side, 2), np.float32)
    mask = np.zeros((n, side, side), np.float32)
    for i in range(n):
        h, m = sample_hints(rng.uniform(-80, 80, (side, side, 2)), rng, n_hints=12, p_uniform=1.0)
        ab[i], mask[i] = h, m
    return L, ab, mask


@pytest.mark.parametrize(
    "width,side", [(0.25, 64), (0.125, 40), pytest.param(1.0, 64, marks=pytest.mark.slow)]
)
def test_import_torch_weights_matches_pytorch(tmp_path, width, side):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = _torch_siggraph17(torch, width).eval()
    _randomise(torch, net)
    pth = tmp_path / "siggraph17-df00044c.pth"
    torch.save(net.state_dict(), pth)

    m = import_torch_weights(pth)
    assert isinstance(m, SIGGRAPH17Colorizer) and m.trained and m.config.mask_center == 0.0
    assert m.config.width == width and m.info["imported_from"] == pth.name
    m = load_model(m.save(tmp_path / "imported"))
    m.config = m.config.replace(fuse_weight=0.0)  # the network alone, as the authors run it

    L, ab, mask = _inputs(side)
    t = torch.from_numpy
    with torch.no_grad():
        ref0, cls0 = net(t(L[:, None]))
        refh, clsh = net(t(L[:, None]), t(ab.transpose(0, 3, 1, 2)), t(mask[:, None]))
    ref0, refh = (r.numpy().transpose(0, 2, 3, 1) for r in (ref0, refh))
    got0 = m.predict_ab_batch(L)
    goth = m.predict_ab_batch(L, hints=Hints(ab, mask))
    assert np.abs(got0 - ref0).max() < 1e-3 and np.abs(goth - refh).max() < 1e-3
    assert np.abs(refh - ref0).max() > 1  # the hints change the output
    assert np.abs(ref0).std() > 1  # not a trivially flat comparison
    # a single image with Hints-like hints
    one = m.predict_ab(L[0], hints=SimpleNamespace(ab=ab[0], mask=mask[0]))
    np.testing.assert_allclose(one, refh[0], atol=1e-3)
    # the class head
    x = hint_inputs(L, ab, mask)
    logits = np.asarray(m.keras_model(x, training=False)[1])
    np.testing.assert_allclose(logits, clsh.numpy().transpose(0, 2, 3, 1), atol=1e-3)
    # a state dict passed directly, with an explicit width
    m2 = import_torch_weights(net.state_dict(), width=width)
    np.testing.assert_allclose(m2.predict_ab_batch(L), got0, atol=1e-5)


def test_import_errors(tmp_path):
    with pytest.raises(InputError):
        import_torch_weights(tmp_path / "missing.pth")
    torch = pytest.importorskip("torch")
    bad = tmp_path / "bad.pth"
    torch.save({"something": torch.zeros(3)}, bad)
    with pytest.raises(InputError, match="missing"):
        import_torch_weights(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(InputError):
        import_torch_weights(junk)
    state = _torch_siggraph17(torch, 0.125).state_dict()
    with pytest.raises(InputError, match="width"):
        import_torch_weights(state, width=0.5)
    del state["model9.1.weight"]
    with pytest.raises(InputError, match="missing"):
        import_torch_weights(state)


# -- training ----------------------------------------------------------------
def test_fit_runs_and_resumes(tmp_path):
    rgb = (resize(skdata.coffee(), (64, 96), anti_aliasing=True) * 255).astype(np.uint8)
    m = make_model(
        "siggraph17",
        width=0.125,
        crop_size=32,
        batch_size=2,
        crops_per_image=2,
        epochs=1,
        steps_per_epoch=2,
        val_split=0.5,
        class_weight=1.0,
    )
    hist = m.fit([rgb, rgb[::-1]])
    assert {"loss", "val_loss"} <= set(hist) and np.isfinite(hist["loss"][0])
    m2 = load_model(m.save(tmp_path / "m"))
    m2.config = m2.config.replace(val_split=0.0)
    m2.fit([rgb])
    assert int(m2.keras_model.optimizer.iterations.numpy()) == 4
    with pytest.raises(ConfigError):
        m2.fit([rgb], bogus=1)


@pytest.mark.slow
def test_brief_training_hints_help_on_unseen_half():
    """Train briefly on the left half of coffee; on the right half, 20 true hints beat no hints.

    On one photo alone the colour is learnable from L (coffee is brown
    everywhere), so a brief training leaves hints nothing to add.  The
    training set is therefore the left half and its copy with ab negated:
    the same L with two colourings, so the colour is ambiguous given L (as
    across real photos) and only the hints can tell which one is meant.  The
    right half is scored against both colourings, with hints drawn from each.
    """
    import keras

    from napari_colorize.color import Lab2rgb

    keras.utils.set_random_seed(0)
    rgb = (resize(skdata.coffee(), (160, 240), anti_aliasing=True) * 255).astype(np.uint8)
    left, right = rgb[:, :120], rgb[:, 120:]
    lab_left = rgb2lab(left)
    negated = (Lab2rgb(lab_left[..., 0], -lab_left[..., 1:]) * 255).round().astype(np.uint8)
    m = SIGGRAPH17Colorizer(
        width=0.125,
        crop_size=48,
        batch_size=8,
        crops_per_image=32,
        steps_per_epoch=25,
        epochs=10,
        val_split=0.0,
        learning_rate=2e-3,
        p_stop=0.03,  # dense hints: the network learns to read them within seconds
    )
    hist = m.fit([left, negated])
    assert hist["loss"][-1] < 0.7 * hist["loss"][0], hist["loss"]

    lab = rgb2lab(right)
    L, ab = lab[..., 0], lab[..., 1:]
    hint_ab, mask = sample_hints(ab, np.random.default_rng(1), n_hints=20, p_uniform=1.0)
    auto = m.predict_ab(L)
    scores = {"auto": [], "hints": [], "gray": []}
    for sign in (1.0, -1.0):
        truth = np.concatenate([L[..., None], sign * ab], -1)

        def de(pred, truth=truth):
            return float(delta_e2000_lab(np.concatenate([L[..., None], pred], -1), truth).mean())

        hinted = m.predict_ab(L, hints=SimpleNamespace(ab=sign * hint_ab, mask=mask))
        scores["auto"].append(de(auto))
        scores["hints"].append(de(hinted))
        scores["gray"].append(de(np.zeros_like(ab)))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["hints"] < mean["auto"] - 5.0, scores
    assert mean["hints"] < mean["gray"] - 5.0, scores
