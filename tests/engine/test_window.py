"""Tests of the ``window`` method (palette classifier on a gray window)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from skimage import data as skdata
from skimage.color import deltaE_ciede2000
from skimage.transform import rescale

from napari_colorize.color import rgb2lab, to_float01
from napari_colorize.errors import ConfigError, InputError, ModelFolderError
from napari_colorize.methods.window import WindowColorizer, WindowConfig, extract_windows, pad_reflect

keras = pytest.importorskip("keras")

FAST = dict(samples_per_epoch=4096, epochs=2, batch_size=256, palette_samples=5000)


def _chelsea(scale: float = 0.5) -> np.ndarray:
    rgb = to_float01(skdata.chelsea())
    return rescale(rgb, scale, channel_axis=-1, anti_aliasing=True).astype(np.float32)


def _mean_de(lab: np.ndarray, ab: np.ndarray) -> float:
    pred = np.concatenate([lab[..., :1], ab], axis=-1)
    return float(deltaE_ciede2000(lab, pred).mean())


@pytest.fixture(scope="module")
def small_models() -> dict[str, WindowColorizer]:
    """One briefly trained model per architecture (weights need not be good)."""
    rgb = _chelsea(0.25)
    out = {}
    for arch in ("cnn", "mlp"):
        m = WindowColorizer(
            arch=arch, window=7, n_colors=16, **{**FAST, "epochs": 1, "samples_per_epoch": 1024}
        )
        m.fit(rgb)
        out[arch] = m
    return out


# -- config -----------------------------------------------------------------------
def test_config_defaults_and_validation() -> None:
    cfg = WindowConfig()
    assert cfg.arch == "cnn" and cfg.window % 2 == 1 and cfg.n_colors in (16, 32, 64)
    assert WindowConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="odd"):
        WindowConfig(window=6)
    with pytest.raises(ConfigError, match="one of"):
        WindowConfig(arch="rnn")
    with pytest.raises(ConfigError, match="one of"):
        WindowConfig(decode="median")
    with pytest.raises(ConfigError, match="too small"):
        WindowConfig(window=3, cnn_filters=(8, 8))
    with pytest.raises(ConfigError, match="unknown config key"):
        WindowConfig.from_dict({"zeta": 7})


def test_import_does_not_import_tensorflow() -> None:
    code = (
        "import sys; import napari_colorize.methods.window as w; w.WindowConfig(); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_tiling_properties() -> None:
    m = WindowColorizer(window=11)
    assert m.receptive_field == 5 and m.block_size == 1


# -- fully convolutional inference == per-window model --------------------------------
@pytest.mark.parametrize("arch", ["cnn", "mlp"])
@pytest.mark.parametrize("decode", ["mean", "mode"])
def test_conv_inference_equals_window_model(
    small_models: dict[str, WindowColorizer], arch: str, decode: str
) -> None:
    m = small_models[arch]
    m.config = m.config.replace(decode=decode)  # the conv predictor follows the decoding options
    try:
        L = rgb2lab(_chelsea(0.2))[..., 0]
        h, w = L.shape
        ab = m.predict_ab(L)
        rng = np.random.default_rng(1)
        ys = np.concatenate([rng.integers(0, h, 200), [0, h - 1, 0, h - 1]])
        xs = np.concatenate([rng.integers(0, w, 200), [0, 0, w - 1, w - 1]])  # corners: the reflect padding
        r = m.config.window // 2
        Lpad = pad_reflect((L - 50.0) / 100.0, r)
        win = extract_windows(Lpad, ys, xs, m.config.window)[..., None].astype(np.float32)
        p = m.window_model().predict(win, verbose=0)
        # the conv model's probabilities equal the window model's at every sampled pixel
        probs = m._predictor().probabilities(L[None])[0]
        np.testing.assert_allclose(probs[ys, xs], p, atol=2e-5)
        if decode == "mean":
            ref = p @ m.palette
            np.testing.assert_allclose(ab[ys, xs], ref, atol=1e-3)
        else:
            sure = np.sort(p, axis=1)[:, -1] - np.sort(p, axis=1)[:, -2] > 1e-4  # skip near-ties
            np.testing.assert_array_equal(ab[ys, xs][sure], m.palette[p.argmax(1)][sure])
    finally:
        m.config = m.config.replace(decode="mean")


def test_row_strips_are_exact(small_models: dict[str, WindowColorizer]) -> None:
    m = small_models["cnn"]
    L = rgb2lab(_chelsea(0.2))[..., 0]
    whole = m.predict_ab(L)
    pred = m._predictor()
    old = pred.max_px
    pred.max_px = L.shape[1] * 7  # force strips of 7 rows
    try:
        strips = m.predict_ab(L)
    finally:
        pred.max_px = old
    np.testing.assert_allclose(strips, whole, atol=1e-4)
    batch = m.predict_ab_batch(np.stack([L, L[::-1]]))
    np.testing.assert_allclose(batch[0], whole, atol=1e-4)
    np.testing.assert_allclose(batch[1], m.predict_ab(L[::-1]), atol=1e-4)


# -- quality -----------------------------------------------------------------------
def test_brief_training_on_crops_beats_gray() -> None:
    rgb = _chelsea(0.5)
    h, w = rgb.shape[:2]
    crops = [rgb[: h // 2, : w // 2], rgb[h // 2 :, w // 2 :], rgb[: h // 2, w // 2 :]]
    m = WindowColorizer(**{**FAST, "epochs": 3})
    m.fit(crops)
    lab = rgb2lab(rgb)
    de = _mean_de(lab, m.predict_ab(lab[..., 0]))
    gray = _mean_de(lab, np.zeros_like(lab[..., 1:]))
    assert de < 0.6 * gray, (de, gray)


def test_left_half_to_right_half_beats_gray() -> None:
    rgb = to_float01(skdata.coffee())
    rgb = rescale(rgb, 0.6, channel_axis=-1, anti_aliasing=True).astype(np.float32)
    w = rgb.shape[1] // 2
    m = WindowColorizer(**{**FAST, "epochs": 3})
    m.fit(rgb[:, :w])
    lab = rgb2lab(rgb[:, w:])
    de = _mean_de(lab, m.predict_ab(lab[..., 0]))
    gray = _mean_de(lab, np.zeros_like(lab[..., 1:]))
    assert de < 0.7 * gray, (de, gray)


# -- training mechanics ------------------------------------------------------------
def test_callbacks_progress_and_stop() -> None:
    seen = {"epochs": 0, "batches": 0}

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001
            seen["epochs"] += 1

    class StopAfter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # noqa: ANN001
            seen["batches"] += 1
            if seen["batches"] >= 3:
                self.model.stop_training = True

    m = WindowColorizer(window=7, n_colors=16, **{**FAST, "epochs": 5})
    hist = m.fit(_chelsea(0.25), callbacks=[Count(), StopAfter()])
    assert seen["epochs"] == 1 and seen["batches"] == 3
    assert len(hist["loss"]) == 1 and m.info["epochs_done"] == 1


def test_resume_continues_from_saved_weights(tmp_path) -> None:  # noqa: ANN001
    from napari_colorize import api

    rgb = _chelsea(0.25)
    out = tmp_path / "win"
    opts = dict(window=7, n_colors=16, **{**FAST, "epochs": 1})
    m1 = api.train("window", rgb, out=out, **opts)
    w1 = [w.copy() for w in m1.window_model().get_weights()]
    m2 = api.train("window", rgb, out=out, resume=True)
    assert m2.info["epochs_done"] == 2
    np.testing.assert_array_equal(m2.palette, m1.palette)  # palette kept
    assert any(not np.allclose(a, b) for a, b in zip(w1, m2.window_model().get_weights()))  # trained further
    assert json.loads((out / "config.json").read_text())["info"]["epochs_done"] == 2
    with pytest.raises(ConfigError, match="cannot change"):
        api.train("window", rgb, out=out, resume=True, window=9)


def test_resume_keeps_the_optimizer_state_and_init_does_not(tmp_path) -> None:  # noqa: ANN001
    from napari_colorize import api

    rgb = _chelsea(0.25)
    out = tmp_path / "win"
    m1 = api.train("window", rgb, out=out, window=7, n_colors=16, **{**FAST, "epochs": 1})
    steps = int(m1.window_model().optimizer.iterations.numpy())
    assert steps > 0 and (out / "optimizer.npz").is_file()
    # resume: Adam continues at its saved step with its saved moments
    m2 = api.train("window", rgb, out=tmp_path / "win", resume=True)
    assert int(m2.window_model().optimizer.iterations.numpy()) == 2 * steps
    # fine-tuning from it (init) starts a fresh optimizer
    m3 = api.train("window", rgb, init=out, out=tmp_path / "tuned")
    assert int(m3.window_model().optimizer.iterations.numpy()) == steps
    # an unreadable optimizer file costs the state, not the training
    (out / "optimizer.npz").write_bytes(b"not a zip")
    with pytest.warns(RuntimeWarning, match="fresh optimizer"):
        m4 = api.train("window", rgb, out=out, resume=True)
    assert int(m4.window_model().optimizer.iterations.numpy()) == steps
    assert m4.info["epochs_done"] == 3


# -- model folders -----------------------------------------------------------------
def test_save_load_round_trip(small_models: dict[str, WindowColorizer], tmp_path) -> None:  # noqa: ANN001
    from napari_colorize.methods import load_model

    L = rgb2lab(_chelsea(0.2))[..., 0]
    for arch, m in small_models.items():
        folder = m.save(tmp_path / arch)
        m2 = load_model(folder)
        assert isinstance(m2, WindowColorizer) and m2.trained and m2.config == m.config
        np.testing.assert_array_equal(m2.predict_ab(L), m.predict_ab(L))


def test_other_methods_folder_is_refused(small_models: dict[str, WindowColorizer], tmp_path) -> None:  # noqa: ANN001
    from napari_colorize.methods.lookup import LookupColorizer

    lk = LookupColorizer()
    lk.fit(_chelsea(0.2))
    lk.save(tmp_path / "lookup")
    with pytest.raises(ModelFolderError, match="lookup"):
        WindowColorizer.load(tmp_path / "lookup")
    small_models["cnn"].save(tmp_path / "window")
    with pytest.raises(ModelFolderError, match="window"):
        LookupColorizer.load(tmp_path / "window")
    (tmp_path / "window" / "window.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ModelFolderError):
        WindowColorizer.load(tmp_path / "window")


def test_untrained_model_errors(tmp_path) -> None:  # noqa: ANN001
    m = WindowColorizer()
    with pytest.raises(ConfigError, match="untrained"):
        m.predict_ab(np.zeros((8, 8), np.float32))
    with pytest.raises(ModelFolderError, match="untrained"):
        m.save(tmp_path / "x")


# -- bad input -------------------------------------------------------------------
def test_bad_and_tiny_inputs(small_models: dict[str, WindowColorizer]) -> None:
    m = small_models["cnn"]
    one = m.predict_ab(np.full((1, 1), 50.0, np.float32))
    assert one.shape == (1, 1, 2) and np.all(np.isfinite(one))
    small = m.predict_ab(np.linspace(0, 100, 9, dtype=np.float32).reshape(3, 3))  # smaller than the window
    assert small.shape == (3, 3, 2) and np.all(np.isfinite(small))
    row = m.predict_ab(np.linspace(0, 100, 20, dtype=np.float32)[None])
    assert row.shape == (1, 20, 2) and np.all(np.isfinite(row))
    L = np.full((16, 16), 40.0, np.float32)
    L[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        m.predict_ab(L)
    with pytest.raises(InputError, match="dimensions"):
        m.predict_ab(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError, match="empty"):
        m.predict_ab(np.zeros((0, 5), np.float32))
    with pytest.raises(InputError):
        m.fit(np.zeros((8, 8), np.float32))  # not a color image


def test_train_on_tiny_and_constant_images() -> None:
    # a 1x1 and a 3x3 image (smaller than the window) still train
    tiny = [
        np.full((1, 1, 3), [0.8, 0.2, 0.1], np.float32),
        np.random.default_rng(0).random((3, 3, 3)).astype(np.float32),
    ]
    m = WindowColorizer(window=7, n_colors=16, **{**FAST, "epochs": 1, "samples_per_epoch": 512})
    m.fit(tiny)
    assert np.all(np.isfinite(m.predict_ab(np.full((5, 5), 50.0, np.float32))))
    # a constant color image: the palette collapses onto its color, which is predicted everywhere
    color = np.array([0.2, 0.6, 0.3], np.float32)
    const = np.broadcast_to(color, (32, 32, 3)).copy()
    m = WindowColorizer(window=7, n_colors=16, **{**FAST, "epochs": 1, "samples_per_epoch": 512})
    m.fit(const)
    lab = rgb2lab(const)
    ab = m.predict_ab(rgb2lab(_chelsea(0.1))[..., 0])
    np.testing.assert_allclose(ab, np.broadcast_to(lab[0, 0, 1:], ab.shape), atol=0.5)
