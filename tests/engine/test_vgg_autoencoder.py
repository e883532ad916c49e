"""Tests of the ``vgg_autoencoder`` method (VGG16 encoder, Conv + UpSampling2D decoder).

All tests use random encoder weights; one saves a VGG16 weights file and
loads it through the ``encoder_weights`` path option.  Nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_ciede2000

from napari_colorize.color import rgb2lab
from napari_colorize.errors import ConfigError, InputError, ModelFolderError
from napari_colorize.methods.vgg_autoencoder import VGGAutoencoderColorizer, VGGAutoencoderConfig

# VGG16 is heavy on a CPU: small inputs for the quick tests
QUICK = dict(
    crop_size=64, input_size=64, batch_size=4, steps_per_epoch=10, epochs=3, learning_rate=1e-3, val_split=0.1
)


def _mean_de(lab: np.ndarray, ab: np.ndarray) -> float:
    pred = np.concatenate([lab[..., :1], ab], axis=-1)
    return float(deltaE_ciede2000(lab, pred).mean())


@pytest.fixture(scope="module")
def vgg_weights_file(tmp_path_factory) -> str:
    """A Keras VGG16 (no top) weights file with random weights, as a user would give for ImageNet ones."""
    import keras

    keras.utils.set_random_seed(123)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))
    path = tmp_path_factory.mktemp("vgg") / "vgg16_notop.weights.h5"
    vgg.save_weights(str(path))
    return str(path)


def test_config_defaults_and_validation():
    c = VGGAutoencoderConfig()
    assert (c.input_size, c.ab_scale, c.inference, c.encoder_weights, c.freeze_encoder) == (
        224,
        128.0,
        "resize",
        "none",
        True,
    )
    assert VGGAutoencoderConfig.from_json(c.to_json()) == c
    with pytest.raises(ConfigError, match="block size 32"):
        VGGAutoencoderConfig(input_size=200)
    with pytest.raises(ConfigError, match="download"):
        VGGAutoencoderConfig(encoder_weights="imagenet")
    m = VGGAutoencoderColorizer(inference="native")
    assert m.block_size == 32 and m.receptive_field > 200


def test_architecture_matches_reverse_oldification():
    """224 input: VGG16's 7x7x512 block, decoder back to 224x224x2 with tanh."""
    m = VGGAutoencoderColorizer()
    net = m._ensure_net()
    assert m._encoder.output.shape[1:] == (None, None, 512)
    feats = m._encoder(np.zeros((1, 224, 224, 3), np.float32))
    assert feats.shape == (1, 7, 7, 512)
    out = np.asarray(net(np.full((1, 224, 224, 1), 50.0, np.float32)))
    assert out.shape == (1, 224, 224, 2) and np.all(np.abs(out) <= 1)
    assert any(type(la).__name__ == "BilinearUpSampling2D" for la in net.layers)


def test_encoder_weights_from_path(vgg_weights_file, tmp_path):
    import keras

    m = VGGAutoencoderColorizer(encoder_weights=vgg_weights_file, input_size=64)
    m._ensure_net()
    ref = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    ref.load_weights(vgg_weights_file)
    for a, b in zip(m._encoder.weights, ref.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # ImageNet-style preprocessing: L scaled to 0..255, stacked 3x, preprocess_input
    assert m._net.get_layer("lnorm").mode == "vgg"
    L = np.full((1, 4, 4, 1), 100.0, np.float32)
    x = np.asarray(m._net.get_layer("lnorm")(L))
    np.testing.assert_allclose(
        x, keras.applications.vgg16.preprocess_input(np.full((1, 4, 4, 3), 255.0, np.float32)), atol=1e-4
    )
    # the saved model folder holds everything: it loads without the weights file
    out = m.save(tmp_path / "vgg")
    m2 = VGGAutoencoderColorizer.load(out)
    Lp = np.random.default_rng(0).uniform(0, 100, (50, 70)).astype(np.float32)
    np.testing.assert_array_equal(m2.predict_ab(Lp), m.predict_ab(Lp))
    assert m2.info["encoder_weights"] == vgg_weights_file


def test_legacy_h5_encoder_weights(tmp_path):
    """The legacy .h5 layout of Keras' ImageNet file loads by name.

    (vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5)
    """
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(5)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, vgg)
    m = VGGAutoencoderColorizer(encoder_weights=str(path), input_size=64)
    m._ensure_net()
    for a, b in zip(m._encoder.weights, vgg.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # an .h5 file of some other network is refused, not silently skipped
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_x")])
    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, other)
    with pytest.raises(ConfigError, match="not a Keras VGG16 weights file"):
        VGGAutoencoderColorizer(encoder_weights=str(bad))._ensure_net()


def test_missing_or_bad_encoder_weights(tmp_path):
    with pytest.raises(ConfigError, match="not found.*Nothing is downloaded"):
        VGGAutoencoderColorizer(encoder_weights=str(tmp_path / "nope.h5"))._ensure_net()
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ConfigError, match="cannot load"):
        VGGAutoencoderColorizer(encoder_weights=str(bad))._ensure_net()


@pytest.mark.slow
def test_trains_and_beats_gray_baseline(tmp_path):
    """Brief training on crops of skimage's coffee; its gray version beats ab = 0; save/load round trip."""
    rgb = data.coffee()
    lab = rgb2lab(rgb)
    m = VGGAutoencoderColorizer(**QUICK, inference="native")
    h = m.fit(rgb)
    assert len(h["loss"]) == QUICK["epochs"] and h["loss"][-1] < h["loss"][0]
    ab = m.predict_ab(lab[..., 0])
    assert ab.shape == lab.shape[:2] + (2,)
    gray = _mean_de(lab, np.zeros_like(ab))
    pred = _mean_de(lab, ab)
    assert pred < 0.8 * gray, (pred, gray)
    # round trip and another method's folder
    out = m.save(tmp_path / "vgg")
    m2 = VGGAutoencoderColorizer.load(out)
    np.testing.assert_array_equal(m2.predict_ab(lab[::2, ::2, 0]), m.predict_ab(lab[::2, ::2, 0]))
    from napari_colorize.methods.autoencoder import AutoencoderColorizer

    with pytest.raises(ModelFolderError, match="vgg_autoencoder"):
        AutoencoderColorizer.load(out)


def test_freeze_encoder_keeps_encoder_weights():
    m = VGGAutoencoderColorizer(**dict(QUICK, epochs=1, steps_per_epoch=2, batch_size=2))
    assert m.config.freeze_encoder  # the default, as in Reverse-Oldification
    net = m._ensure_net()
    enc0 = [np.asarray(w).copy() for w in m._encoder.weights]
    dec0 = [np.asarray(w).copy() for w in net.weights[len(enc0) :]]
    m.fit(data.coffee())
    for a, b in zip(enc0, m._encoder.weights):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(dec0, net.weights[len(enc0) :]))


@pytest.mark.parametrize("inference", ["native", "resize"])
def test_any_size_and_bad_input(inference):
    m = VGGAutoencoderColorizer(inference=inference, input_size=64)
    for shape in [(1, 1), (5, 40), (33, 65)]:
        ab = m.predict_ab(np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32))
        assert ab.shape == shape + (2,) and ab.dtype == np.float32 and np.all(np.isfinite(ab))
    batch = m.predict_ab_batch(np.full((2, 40, 40), 30.0, np.float32))
    assert batch.shape == (2, 40, 40, 2)
    np.testing.assert_allclose(batch[0], batch[1], atol=1e-3)
    with pytest.raises(InputError, match="NaN"):
        m.predict_ab(np.array([[np.nan, 1.0]], np.float32))
