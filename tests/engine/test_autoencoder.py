"""Tests of the ``autoencoder`` method (plain conv encoder-decoder, L -> ab)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_ciede2000

from napari_colorize.color import rgb2lab
from napari_colorize.errors import ConfigError, InputError, ModelFolderError
from napari_colorize.methods.autoencoder import (
    AutoencoderColorizer,
    AutoencoderConfig,
    autoencoder_spec,
    spec_receptive_field,
)

# small and quick: 64-px crops at the photo's own scale
QUICK = dict(
    crop_size=64, input_size=64, batch_size=8, steps_per_epoch=12, epochs=4, learning_rate=2e-3, val_split=0.1
)


def _mean_de(lab: np.ndarray, ab: np.ndarray) -> float:
    pred = np.concatenate([lab[..., :1], ab], axis=-1)
    return float(deltaE_ciede2000(lab, pred).mean())


@pytest.fixture(scope="module")
def chelsea_lab() -> np.ndarray:
    return rgb2lab(data.chelsea())


@pytest.fixture(scope="module")
def trained() -> AutoencoderColorizer:
    """One brief training on crops of skimage's chelsea (shared by several tests)."""
    m = AutoencoderColorizer(**QUICK)
    m.fit(data.chelsea())
    return m


def test_import_does_not_import_tensorflow():
    code = (
        "import sys; import napari_colorize.methods.autoencoder, napari_colorize.methods.vgg_autoencoder; "
        "from napari_colorize.methods import get_config_class; get_config_class('autoencoder')(); "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_defaults_and_validation():
    c = AutoencoderConfig()
    assert (c.input_size, c.ab_scale, c.val_split, c.inference) == (256, 128.0, 0.1, "native")
    assert AutoencoderConfig.from_json(c.to_json()) == c
    with pytest.raises(ConfigError, match="block size"):
        AutoencoderConfig(input_size=100)  # not a multiple of 2**3
    with pytest.raises(ConfigError):
        AutoencoderConfig(inference="bicubic")
    with pytest.raises(ConfigError, match="unknown config key"):
        AutoencoderConfig.from_dict({"widht": 8})
    with pytest.raises(ConfigError):
        AutoencoderConfig(depth=0)


def test_tiling_properties_declared():
    m = AutoencoderColorizer(depth=3)
    assert m.block_size == 8
    assert m.receptive_field == spec_receptive_field(autoencoder_spec(16, 3)) > 8
    r = AutoencoderColorizer(inference="resize", crop_size=256, input_size=128)
    assert r.block_size == 1
    assert r.default_tile == 256
    assert r.receptive_field == pytest.approx(2 * m.receptive_field, abs=1)


def test_receptive_field_is_honest():
    """Changing one input pixel changes outputs only within the declared receptive field.

    The change reaches at least half of it.
    """
    m = AutoencoderColorizer(width=4, depth=3, seed=1)
    rf = m.receptive_field
    n = 2 * rf + 40
    rng = np.random.default_rng(0)
    L = rng.uniform(20, 80, (n, n)).astype(np.float32)
    L2 = L.copy()
    c = n // 2
    L2[c, c] += 30
    d = np.abs(m.predict_ab(L2) - m.predict_ab(L)).max(axis=-1)
    ys, xs = np.nonzero(d > 1e-5)
    assert len(ys), "the output does not depend on the input"
    reach = max(np.abs(ys - c).max(), np.abs(xs - c).max())
    assert reach <= rf
    assert reach >= rf // 2


def test_trains_and_beats_gray_baseline(trained, chelsea_lab):
    """Brief training on crops of a photo; its gray version colorizes clearly better than ab = 0."""
    lab = chelsea_lab
    gray = _mean_de(lab, np.zeros_like(lab[..., 1:]))
    pred = _mean_de(lab, trained.predict_ab(lab[..., 0]))
    assert pred < 0.7 * gray, (pred, gray)
    assert trained.trained
    h = trained.history
    assert len(h["loss"]) == QUICK["epochs"] and "val_loss" in h
    assert h["loss"][-1] < h["loss"][0]


def test_resize_inference_beats_gray(trained, chelsea_lab):
    lab = chelsea_lab
    m = AutoencoderColorizer(QUICK, inference="resize")
    m._adopt_net(trained)  # same weights, other inference mode
    ab = m.predict_ab(lab[..., 0])
    assert ab.shape == lab.shape[:2] + (2,) and ab.dtype == np.float32
    assert _mean_de(lab, ab) < 0.8 * _mean_de(lab, np.zeros_like(ab))


def test_save_load_round_trip(trained, chelsea_lab, tmp_path):
    L = chelsea_lab[..., 0]
    out = trained.save(tmp_path / "ae")
    assert (out / "model.weights.h5").is_file()
    assert json.loads((out / "config.json").read_text())["method"] == "autoencoder"
    m2 = AutoencoderColorizer.load(out)
    assert m2.config == trained.config and m2.trained
    np.testing.assert_array_equal(m2.predict_ab(L), trained.predict_ab(L))
    # a folder of another method is refused clearly
    with pytest.raises(ModelFolderError, match="autoencoder"):
        from napari_colorize.methods.vgg_autoencoder import VGGAutoencoderColorizer

        VGGAutoencoderColorizer.load(out)
    # a folder whose weights are missing
    (out / "model.weights.h5").unlink()
    with pytest.raises(ModelFolderError, match="weights"):
        AutoencoderColorizer.load(out)


def test_resume_continues_from_saved_weights(trained, tmp_path):
    """api.train(resume=True) starts from the folder's weights.

    Its first loss is far below a fresh start's.
    """
    from napari_colorize.api import train

    rgb = data.chelsea()
    out = trained.save(tmp_path / "ae")
    cfg = dict(QUICK, epochs=1, steps_per_epoch=3)
    resumed = train("autoencoder", rgb, out=out, resume=True, config=cfg)
    fresh = AutoencoderColorizer(**cfg)
    fresh.fit(rgb)
    assert resumed.history["loss"][0] < 0.7 * fresh.history["loss"][0]
    # Adam went on from its saved step count instead of starting over
    done = int(trained._ensure_net().optimizer.iterations.numpy())
    assert done > 0 and int(resumed._ensure_net().optimizer.iterations.numpy()) == done + 3
    saved = AutoencoderColorizer.load(out)
    assert saved.info["epochs_done"] == QUICK["epochs"] + 1
    # architecture keys cannot change on resume
    saved.config = saved.config.replace(width=8)
    with pytest.raises(ConfigError, match="architecture"):
        saved.fit(rgb, epochs=1)


def test_callbacks_can_stop_training():
    import keras

    class StopAfter2(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == 2:
                self.model.stop_training = True

    cb = StopAfter2()
    m = AutoencoderColorizer(
        crop_size=32, input_size=32, batch_size=2, steps_per_epoch=50, epochs=5, val_split=0
    )
    h = m.fit(data.chelsea(), callbacks=[cb])
    assert cb.batches == 2
    assert len(h["loss"]) <= 1


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 13), (37, 50)])
@pytest.mark.parametrize("inference", ["native", "resize"])
def test_any_size(shape, inference):
    m = AutoencoderColorizer(width=4, depth=3, inference=inference, input_size=32)
    L = np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32)
    ab = m.predict_ab(L)
    assert ab.shape == shape + (2,) and ab.dtype == np.float32
    assert np.all(np.isfinite(ab)) and np.all(np.abs(ab) <= 128)


def test_batch_equals_single(trained):
    L = np.random.default_rng(1).uniform(0, 100, (3, 40, 52)).astype(np.float32)
    batch = trained.predict_ab_batch(L)
    assert batch.shape == (3, 40, 52, 2)
    for i in range(3):
        np.testing.assert_allclose(batch[i], trained.predict_ab(L[i]), atol=1e-4)


def test_bad_input_gives_clear_errors(trained):
    with pytest.raises(InputError, match="NaN"):
        trained.predict_ab(np.full((16, 16), np.nan, np.float32))
    with pytest.raises(InputError, match="dimensions"):
        trained.predict_ab(np.zeros(16, np.float32))
    with pytest.raises(InputError, match="empty"):
        trained.predict_ab(np.zeros((0, 5), np.float32))
    with pytest.raises(InputError):
        trained.predict_ab_batch(np.zeros((16, 16), np.float32))
    # a constant image gives a constant-ish, finite color
    ab = trained.predict_ab(np.full((64, 64), 50.0, np.float32))
    assert np.all(np.isfinite(ab))
    # gray training images are refused before TensorFlow sees them
    with pytest.raises(InputError, match="color"):
        AutoencoderColorizer(**QUICK).fit(np.zeros((64, 64), np.uint8))
    with pytest.raises(ConfigError, match="unknown"):
        AutoencoderColorizer(**QUICK).fit(data.chelsea(), bogus=1)


def test_tiny_training_image_is_padded():
    """An image smaller than the crop still trains (make_dataset reflect-pads it)."""
    m = AutoencoderColorizer(
        crop_size=32, input_size=32, batch_size=2, steps_per_epoch=2, epochs=1, val_split=0
    )
    h = m.fit(data.chelsea()[:20, :20])
    assert np.isfinite(h["loss"][0])


def test_many_models_in_one_process_do_not_warn_about_retracing():
    """Each model compiles its inference once; TensorFlow's 'excessive retracing' warning is noise here."""
    import io
    import logging

    import tensorflow as tf

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    tf.get_logger().addHandler(handler)
    try:
        L = np.random.default_rng(0).uniform(0, 100, (64, 64)).astype(np.float32)
        outs = [AutoencoderColorizer(width=4, depth=2, seed=i).predict_ab(L) for i in range(7)]
    finally:
        tf.get_logger().removeHandler(handler)
    assert all(o.shape == (64, 64, 2) for o in outs)
    assert "retracing" not in buf.getvalue()
