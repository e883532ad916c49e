"""Tests of the ``eccv16`` method (Zhang et al., ECCV 2016)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata
from skimage.transform import resize

from napari_colorize.color import rgb2lab
from napari_colorize.errors import ConfigError, InputError, ModelFolderError
from napari_colorize.methods import get_config_class, load_model
from napari_colorize.methods.eccv16 import BLOCK_NAMES, ECCV16Colorizer, ECCV16Config, import_torch_weights


# -- helpers ---------------------------------------------------------------
def auc(ab_pred: np.ndarray, ab_true: np.ndarray, *, max_t: float = 150.0) -> float:
    """Zhang et al.'s AuC: area under the cumulative curve of per-pixel ab L2 error, 0..max_t."""
    err = np.sqrt(((ab_pred - ab_true) ** 2).sum(-1)).ravel()
    ts = np.arange(0.0, max_t + 1.0)
    return float(np.mean([(err <= t).mean() for t in ts]))


def lab_of(name: str, side: int | None = None) -> np.ndarray:
    rgb = getattr(skdata, name)()[..., :3]
    if side is not None:
        rgb = resize(rgb, (side, side), anti_aliasing=True)
    return rgb2lab(rgb)


# -- config ------------------------------------------------------------------
def test_config_defaults_and_validation():
    cfg = ECCV16Config()
    assert (cfg.width, cfg.input_size, cfg.inference, cfg.T, cfg.k, cfg.ab_scale) == (
        1.0,
        256,
        "resize",
        0.38,
        5,
        110.0,
    )
    assert get_config_class("eccv16") is ECCV16Config
    assert ECCV16Config.from_dict(cfg.to_dict()) == cfg
    for bad in (
        {"width": 0},
        {"input_size": 100},
        {"T": 0},
        {"k": 0},
        {"trainable_from": "conv9"},
        {"inference": "tiles"},
        {"crop_size": 100},
        {"nope": 1},
    ):
        with pytest.raises(ConfigError):
            ECCV16Config.from_dict(bad)
    assert ECCV16Config(trainable_from="conv8_313").trainable_from == "conv8_313"


def test_module_does_not_import_tensorflow():
    code = (
        "import sys; import napari_colorize.methods.eccv16 as m; m.ECCV16Config(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_architecture_facts():
    from napari_colorize.methods.eccv16 import colorizer as E
    from napari_colorize.methods.eccv16 import network as K

    assert K.BLOCK_NAMES == BLOCK_NAMES
    assert K.receptive_field() == E._RECEPTIVE_FIELD
    lite = K.build_trunk(0.25, 261)
    y = lite(np.zeros((2, 64, 48, 1), np.float32))
    assert tuple(y.shape) == (2, 16, 12, 261)  # 1/4 of the input, one logit per bin
    bn = [l for l in lite.layers if type(l).__name__ == "BatchNormalization"]
    assert len(bn) == 7 and all(l.epsilon == 1e-5 for l in bn)


@pytest.mark.slow
def test_full_width_parameter_count():
    from napari_colorize.methods.eccv16 import network as K

    assert K.build_trunk(1.0, 313).count_params() == 32_240_377  # the authors' network (their 313 bins)


# -- inference contract ------------------------------------------------------
@pytest.fixture(scope="module")
def lite_model():
    return ECCV16Colorizer(width=0.25)


@pytest.mark.parametrize("inference", ["resize", "native"])
@pytest.mark.parametrize("shape", [(256, 256), (61, 90), (300, 203)])
def test_predict_shapes_dtype(lite_model, inference, shape):
    m = ECCV16Colorizer(width=0.25, inference=inference)
    assert lite_model.keras_model is not None  # built
    m._adopt_net(lite_model)  # share the random network
    L = np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32)
    ab = m.predict_ab(L)
    assert ab.shape == shape + (2,) and ab.dtype == np.float32 and np.all(np.isfinite(ab))
    # the decoded ab is a convex combination of bin centres
    lo, hi = m.bins.min(0), m.bins.max(0)
    assert np.all(ab >= lo - 1e-3) and np.all(ab <= hi + 1e-3)
    batch = m.predict_ab_batch(np.stack([L, L[::-1]]))
    np.testing.assert_allclose(batch[0], ab, atol=1e-4)


def test_resize_mode_does_not_resize_input_size(lite_model):
    """An input already input_size squared goes to the network untouched."""
    import tensorflow as tf

    m = lite_model
    L = np.random.default_rng(1).uniform(0, 100, (256, 256)).astype(np.float32)
    logits = m.keras_model(((L - 50) / 100)[None, ..., None])
    p = tf.nn.softmax(logits / m.config.T, -1).numpy()
    ab_lo = p @ m.bins
    ab_ref = tf.image.resize(ab_lo, (256, 256), method="bilinear").numpy()[0]
    np.testing.assert_allclose(m.predict_ab(L), ab_ref, atol=1e-3)


def test_one_compiled_function_from_L_to_ab_equals_the_steps(lite_model):
    """The compiled predictor (normalise, resize, network, annealed mean, upsample; with XLA or not)
    gives what the steps give one by one."""
    from keras import ops

    from napari_colorize.color import L2norm
    from napari_colorize.methods.eccv16 import network as K

    m = lite_model
    L = np.random.default_rng(2).uniform(0, 100, (1, 200, 136, 1)).astype(np.float32)
    x = K.resize_L(L2norm(L), 64)
    p = ops.softmax(np.asarray(m.keras_model(x)) / m.config.T, axis=-1)
    ref = ops.convert_to_numpy(ops.image.resize(ops.convert_to_numpy(p) @ m.bins, (200, 136)))
    for xla in (False, True):
        pred = K.Predictor(m.keras_model, m.bins, m.config.ab_scale, T=m.config.T, input_size=64, xla=xla)
        ab = pred(L, (200, 136))
        assert ab.shape == (1, 200, 136, 2) and ab.dtype == np.float32
        np.testing.assert_allclose(ab, ref, atol=1e-3)
    # native: no resize of L, ab upsampled x4 (XLA compiles once per shape)
    Ln = L[:, :96, :128]
    p = ops.softmax(np.asarray(m.keras_model(L2norm(Ln))) / m.config.T, axis=-1)
    ref = ops.convert_to_numpy(ops.image.resize(ops.convert_to_numpy(p) @ m.bins, (96, 128)))
    for xla in (False, True):
        pred = K.Predictor(m.keras_model, m.bins, m.config.ab_scale, T=m.config.T, xla=xla)
        np.testing.assert_allclose(pred(Ln, (96, 128)), ref, atol=1e-3)


def test_bad_input(lite_model):
    with pytest.raises(InputError):
        lite_model.predict_ab(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError):
        lite_model.predict_ab(np.full((16, 16), np.nan, np.float32))
    with pytest.raises(InputError):
        lite_model.predict_ab(np.zeros((0, 16), np.float32))


def test_n_bins_is_a_model_property(tmp_path):
    bins = (
        np.stack(np.meshgrid(np.arange(-20, 30, 10), np.arange(-20, 30, 10)), -1)
        .reshape(-1, 2)
        .astype(np.float32)
    )
    m = ECCV16Colorizer(width=0.125)
    m.set_bins(bins)
    assert m.n_bins == 25 and m.keras_model.output_shape[-1] == 25
    m.save(tmp_path / "m")
    m2 = load_model(tmp_path / "m")
    assert m2.n_bins == 25
    np.testing.assert_array_equal(m2.bins, bins)


# -- save / load -------------------------------------------------------------
def test_save_load_round_trip(tmp_path, lite_model):
    L = lite_model.predict_ab  # noqa: F841 (ensure built)
    path = lite_model.save(tmp_path / "eccv16")
    info = json.loads((path / "config.json").read_text())
    assert info["method"] == "eccv16" and info["config"]["width"] == 0.25
    m2 = load_model(path)
    assert isinstance(m2, ECCV16Colorizer) and m2.config == lite_model.config
    x = np.linspace(0, 100, 96 * 80, dtype=np.float32).reshape(96, 80)
    np.testing.assert_allclose(m2.predict_ab(x), lite_model.predict_ab(x), atol=1e-5)
    # a changed width cannot load the saved weights silently
    with pytest.raises(ConfigError):
        m2.config = m2.config.replace(width=0.5)
        _ = m2.keras_model
    (path / "ab_bins.npy").unlink()
    with pytest.raises(ModelFolderError):
        load_model(path)


# -- training ----------------------------------------------------------------
@pytest.mark.slow
def test_brief_training_beats_gray_and_saves(tmp_path):
    """width 0.25, crops of a bundled photo: the loss falls and AuC beats gray."""
    rgb = (resize(skdata.chelsea(), (128, 128), anti_aliasing=True) * 255).astype(np.uint8)
    m = ECCV16Colorizer(
        width=0.25,
        rebalance=False,
        crop_size=64,
        batch_size=8,
        crops_per_image=16,
        steps_per_epoch=8,
        epochs=3,
        val_split=0.0,
        learning_rate=2e-3,
        inference="native",
    )
    hist = m.fit([rgb])
    loss = hist["loss"]
    assert len(loss) == 3 and loss[-1] < 0.8 * loss[0], loss
    lab = rgb2lab(rgb)
    L, ab = lab[..., 0], lab[..., 1:]
    auc_model, auc_gray = auc(m.predict_ab(L), ab), auc(np.zeros_like(ab), ab)
    assert auc_model > auc_gray + 0.02, (auc_model, auc_gray)
    # fine-tuning only the classifier from the saved model keeps lower blocks fixed
    path = m.save(tmp_path / "m")
    m2 = load_model(path)
    m2.config = m2.config.replace(trainable_from="conv8", epochs=1, steps_per_epoch=2, rebalance=True)
    before = {l.name: [w.copy() for w in l.get_weights()] for l in m2.keras_model.layers if l.get_weights()}
    with pytest.warns(RuntimeWarning, match="does not fit the network"):  # the saved Adam: all layers
        m2.fit([rgb])
    after = {l.name: l.get_weights() for l in m2.keras_model.layers if l.get_weights()}
    for name, ws in before.items():
        same = all(np.array_equal(a, b) for a, b in zip(ws, after[name]))
        assert same == (not name.startswith("conv8")), name
    assert m2.prior is not None and m2.prior.shape == (m2.n_bins,)


def test_rebalance_fit_runs_quickly():
    """A rebalanced, frozen-trunk fit runs (weights from the prior) and reports loss."""
    rgb = (resize(skdata.coffee(), (64, 96), anti_aliasing=True) * 255).astype(np.uint8)
    m = ECCV16Colorizer(
        width=0.125,
        crop_size=32,
        batch_size=2,
        crops_per_image=2,
        epochs=1,
        steps_per_epoch=1,
        val_split=0.5,
        trainable_from="conv8_313",
    )
    hist = m.fit([rgb, rgb[::-1]])
    assert set(hist) >= {"loss", "val_loss"} and np.isfinite(hist["loss"][0])
    assert abs(m.prior.sum() - 1) < 1e-6


def test_resume_keeps_the_optimizer_state(tmp_path):
    rgb = (resize(skdata.coffee(), (64, 96), anti_aliasing=True) * 255).astype(np.uint8)
    m = ECCV16Colorizer(
        width=0.125,
        crop_size=32,
        batch_size=2,
        crops_per_image=2,
        epochs=1,
        steps_per_epoch=2,
        val_split=0.0,
        rebalance=False,
    )
    m.fit([rgb])
    m2 = load_model(m.save(tmp_path / "m"))
    m2.fit([rgb])
    assert int(m2.keras_model.optimizer.iterations.numpy()) == 4
    # the same folder with other trainable layers: a warning, then a fresh optimizer
    m3 = load_model(tmp_path / "m")
    m3.config = m3.config.replace(trainable_from="conv8")
    with pytest.warns(RuntimeWarning, match="fresh optimizer"):
        m3.fit([rgb])
    assert int(m3.keras_model.optimizer.iterations.numpy()) == 2


# -- the authors' weights: PyTorch reference -----------------------------------
def _torch_eccv16(torch, width: float = 1.0, n_bins: int = 313):
    """The reference ECCV16 network of richzhang/colorization (colorizers/eccv16.py), rebuilt here."""
    nn = torch.nn

    def ch(c):
        return max(1, int(round(c * width)))

    def block(cin, cout, specs, bn=True):
        mods = []
        for stride, dil in specs:
            mods += [
                nn.Conv2d(cin, cout, 3, stride=stride, padding=dil, dilation=dil, bias=True),
                nn.ReLU(True),
            ]
            cin = cout
        if bn:
            mods.append(nn.BatchNorm2d(cout))
        return nn.Sequential(*mods)

    class ECCVGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            c = [ch(v) for v in (64, 128, 256, 512, 512, 512, 512, 256)]
            self.model1 = block(1, c[0], [(1, 1), (2, 1)])
            self.model2 = block(c[0], c[1], [(1, 1), (2, 1)])
            self.model3 = block(c[1], c[2], [(1, 1), (1, 1), (2, 1)])
            self.model4 = block(c[2], c[3], [(1, 1)] * 3)
            self.model5 = block(c[3], c[4], [(1, 2)] * 3)
            self.model6 = block(c[4], c[5], [(1, 2)] * 3)
            self.model7 = block(c[5], c[6], [(1, 1)] * 3)
            self.model8 = nn.Sequential(
                nn.ConvTranspose2d(c[6], c[7], 4, stride=2, padding=1, bias=True),
                nn.ReLU(True),
                nn.Conv2d(c[7], c[7], 3, padding=1),
                nn.ReLU(True),
                nn.Conv2d(c[7], c[7], 3, padding=1),
                nn.ReLU(True),
                nn.Conv2d(c[7], n_bins, 1),
            )
            self.softmax = nn.Softmax(dim=1)
            self.model_out = nn.Conv2d(n_bins, 2, 1, bias=False)
            self.upsample4 = nn.Upsample(scale_factor=4, mode="bilinear")

        def forward(self, L):
            x = (L - 50.0) / 100.0
            for m in (
                self.model1,
                self.model2,
                self.model3,
                self.model4,
                self.model5,
                self.model6,
                self.model7,
                self.model8,
            ):
                x = m(x)
            return self.upsample4(self.model_out(self.softmax(x))) * 110.0

    return ECCVGenerator()


def _randomise(torch, net, n_bins, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
        # the decoding layer holds bin centres / 110, as pts_in_hull does
        bins = torch.randint(-11, 12, (n_bins, 2), generator=g).float() * 10.0
        net.model_out.weight.copy_((bins / 110.0).T[:, :, None, None])
        # make the logits decisive enough that the annealing matters
        net.model8[-1].weight.mul_(8.0)
    return bins.numpy()


@pytest.mark.parametrize(
    "width,side", [(0.25, 256), (0.25, 96), pytest.param(1.0, 256, marks=pytest.mark.slow)]
)
def test_import_torch_weights_matches_pytorch(tmp_path, width, side):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    n_bins = 313
    net = _torch_eccv16(torch, width, n_bins).eval()
    bins = _randomise(torch, net, n_bins)
    pth = tmp_path / "colorization_release_v2-9b330a0b.pth"
    torch.save(net.state_dict(), pth)

    out = import_torch_weights(pth, tmp_path / "imported")
    m = load_model(out)
    assert isinstance(m, ECCV16Colorizer) and m.n_bins == n_bins and m.config.T == 0.38
    assert m.config.width == width and m.info["imported_from"] == pth.name
    np.testing.assert_allclose(m.bins, bins, atol=1e-4)

    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (2, side, side)).astype(np.float32)
    L[1] = np.linspace(0, 100, side, dtype=np.float32)[None, :] * np.ones((side, 1), np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(L[:, None])).numpy().transpose(0, 2, 3, 1)
    m.config = m.config.replace(inference="native", input_size=side if side % 8 == 0 else 256)
    got = m.predict_ab_batch(L)
    assert got.shape == ref.shape
    diff = np.abs(got - ref).max()
    assert diff < 1e-3, diff
    assert np.abs(ref).max() > 5  # not a trivially gray comparison
    if side == 256:  # the default resize mode leaves a 256x256 input alone
        m.config = m.config.replace(inference="resize")
        assert np.abs(m.predict_ab_batch(L) - ref).max() < 1e-3


def test_import_errors(tmp_path):
    with pytest.raises(InputError):
        import_torch_weights(tmp_path / "missing.pth", tmp_path / "out")
    torch = pytest.importorskip("torch")
    bad = tmp_path / "bad.pth"
    torch.save({"something": torch.zeros(3)}, bad)
    with pytest.raises(InputError):
        import_torch_weights(bad, tmp_path / "out")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(InputError):
        import_torch_weights(junk, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_trainable_from_blocks():
    from napari_colorize.methods.eccv16 import network as K

    net = K.build_trunk(0.125, 20)
    K.set_trainable_from(net, "conv5")
    for layer in net.layers:
        b = K.block_of(layer.name)
        if b is not None and layer.weights:
            assert layer.trainable == (BLOCK_NAMES.index(b) >= BLOCK_NAMES.index("conv5")), layer.name
    K.set_trainable_from(net, None)
    assert all(l.trainable for l in net.layers)


@pytest.mark.slow
def test_command_line_import_colorize_train(tmp_path):
    """import-weights, colorize and train --init all work from the command line."""
    torch = pytest.importorskip("torch")
    import os

    from napari_colorize.io import read_image, write_image

    net = _torch_eccv16(torch, 0.25, 313).eval()
    _randomise(torch, net, 313)
    pth = tmp_path / "weights.pth"
    torch.save(net.state_dict(), pth)
    import napari_colorize

    src = str(Path(napari_colorize.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}

    def cli(*args):
        r = subprocess.run(
            [sys.executable, "-m", "napari_colorize.cli", *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    model_dir = tmp_path / "imported"
    cli("import-weights", "eccv16", pth, "--out", model_dir)
    assert load_model(model_dir).n_bins == 313
    gray = (resize(skdata.camera(), (96, 128), anti_aliasing=True) * 255).astype(np.uint8)
    (tmp_path / "in").mkdir()
    (tmp_path / "train").mkdir()
    write_image(tmp_path / "in" / "camera.png", gray)
    cli("colorize", tmp_path / "in", "--model", model_dir, "--out-dir", tmp_path / "out")
    outs = list((tmp_path / "out").iterdir())
    assert outs and read_image(outs[0]).shape[:2] == (96, 128)
    color = (resize(skdata.coffee(), (64, 96), anti_aliasing=True) * 255).astype(np.uint8)
    write_image(tmp_path / "train" / "coffee.png", color)
    cli(
        "train",
        "--method",
        "eccv16",
        "--images",
        tmp_path / "train",
        "--out",
        tmp_path / "tuned",
        "--init",
        model_dir,
        "--config",
        "epochs=1",
        "steps_per_epoch=1",
        "crop_size=32",
        "batch_size=2",
        "trainable_from=conv8_313",
        "val_split=0",
    )
    tuned = load_model(tmp_path / "tuned")
    assert tuned.n_bins == 313 and tuned.config.trainable_from == "conv8_313" and tuned.trained
