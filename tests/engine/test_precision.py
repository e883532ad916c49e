"""Mixed precision (``precision`` in every Keras method's config) on the CPU.

bfloat16 runs on CPUs; float16 needs a GPU to be worth it and is covered by
the ``gpu`` tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_backends import RECIPES

import napari_colorize as nc
from napari_colorize.config import PRECISIONS, TrainConfig
from napari_colorize.errors import ConfigError
from napari_colorize.methods import load_model

METHODS = ["window", "autoencoder", "eccv16"]


@pytest.fixture(scope="module")
def small(coffee):
    rgb = coffee[::3, ::3].copy()
    from skimage.color import rgb2lab

    return rgb, rgb2lab(rgb)[..., 0].astype(np.float32)


def test_precision_is_a_validated_config_key():
    assert TrainConfig().precision == "float32"
    assert set(PRECISIONS) == {"float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "auto"}
    c = TrainConfig(precision="mixed_bfloat16")
    assert TrainConfig.from_json(c.to_json()) == c
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="float16")


def test_precision_scope_restores_the_global_policy():
    import keras

    from napari_colorize.methods.keras_ops import precision_scope

    before = keras.config.dtype_policy().name
    with precision_scope("mixed_bfloat16"):
        inside = keras.layers.Dense(2)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    outside = keras.layers.Dense(2)
    assert keras.config.dtype_policy().name == before
    assert inside.compute_dtype == "bfloat16" and inside.variable_dtype == "float32"
    assert outside.compute_dtype == before
    with pytest.raises(ConfigError, match="precision"):
        with precision_scope("half"):
            pass
    assert keras.config.dtype_policy().name == before


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_bfloat16_trains_and_predicts_close_to_float32(method, small, tmp_path):
    import keras

    rgb, L = small
    policy = keras.config.dtype_policy().name
    m16 = nc.train(
        method, [rgb], config={**RECIPES[method], "precision": "mixed_bfloat16"}, out=tmp_path / "m"
    )
    assert keras.config.dtype_policy().name == policy  # nothing leaks into the next network
    assert m16._net.dtype_policy.name == "mixed_bfloat16"
    assert np.isfinite(m16.history["loss"][0])
    ab16 = m16.predict_ab(L)
    assert ab16.dtype == np.float32 and ab16.shape == (*L.shape, 2) and np.all(np.isfinite(ab16))
    # the same weights in float32: the folder loads and predicts close to the bfloat16 run
    m32 = load_model(tmp_path / "m")
    m32.config = m32.config.replace(precision="float32")
    ab32 = m32.predict_ab(L)
    assert m32._net.dtype_policy.name == "float32"
    assert all(w.dtype == np.float32 for w in m32._net.get_weights())
    scale = max(float(np.abs(ab32).max()), 1.0)
    np.testing.assert_allclose(ab16, ab32, atol=0.1 * scale)
    # switching back in memory builds again with the same weights
    m32.config = m32.config.replace(precision="mixed_bfloat16")
    np.testing.assert_allclose(m32.predict_ab(L), ab16, atol=0.02 * scale)


# -- bfloat16 inference ---------------------------------------------------------
LEGACY = Path(__file__).parent / "data" / "legacy"
DEFAULT = Path(nc.__file__).parent / "models" / "default"


def test_invalid_precision_is_one_clear_line():
    from napari_colorize.methods.eccv16 import ECCV16Config

    with pytest.raises(ConfigError) as e:
        ECCV16Config(precision="bf16")
    msg = str(e.value)
    assert "\n" not in msg and "precision" in msg and "'bfloat16'" in msg and "'auto'" in msg


def test_keras_policy_of_each_precision(monkeypatch):
    from napari_colorize import backends
    from napari_colorize.methods.keras_ops import keras_policy

    assert keras_policy("float32", training=False) == "float32"
    assert keras_policy("mixed_bfloat16", training=False) == "mixed_bfloat16"
    assert keras_policy("bfloat16", training=True) == "float32"  # bfloat16 is an inference option
    assert keras_policy("bfloat16", training=False) == "bfloat16"
    assert keras_policy("auto", training=True) == "float32"
    monkeypatch.setattr(backends, "native_bfloat16", lambda: True)
    assert keras_policy("auto", training=False) == "bfloat16"
    monkeypatch.setattr(backends, "native_bfloat16", lambda: False)
    assert keras_policy("auto", training=False) == "float32"
    with pytest.raises(ConfigError, match="precision"):
        keras_policy("half", training=False)


def test_native_bfloat16_reads_the_cpu_flags(monkeypatch):
    from napari_colorize import backends

    assert isinstance(backends.cpu_flags(), frozenset)
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert not backends.native_bfloat16()
    for flag in backends.BF16_FLAGS:
        monkeypatch.setattr(backends, "cpu_flags", lambda flag=flag: frozenset({"avx2", flag}))
        assert backends.native_bfloat16()


def test_auto_infers_in_bfloat16_only_where_native_and_checked(monkeypatch, small):
    from napari_colorize import backends
    from napari_colorize.methods.eccv16 import ECCV16Colorizer

    _, L = small
    m = ECCV16Colorizer(width=0.125, input_size=64, precision="auto")
    monkeypatch.setattr(backends, "native_bfloat16", lambda: False)
    assert m._inference_net() is m._ensure_net()  # float32: the network itself
    monkeypatch.setattr(backends, "native_bfloat16", lambda: True)
    net16 = m._inference_net()
    assert net16 is not m._ensure_net() and net16.dtype_policy.name == "bfloat16"
    assert m._ensure_net().dtype_policy.name == "float32"  # training stays float32
    ab = m.predict_ab(L)
    assert ab.dtype == np.float32 and ab.shape == (*L.shape, 2) and np.all(np.isfinite(ab))
    monkeypatch.setattr(type(m), "bfloat16_checked", False)  # a method that was not checked
    assert m._inference_net() is m._ensure_net()


@pytest.mark.parametrize("folder", [LEGACY / "eccv16-lite", DEFAULT], ids=["eccv16", "siggraph17"])
def test_bfloat16_inference_keeps_the_colours_within_the_quality_bound(folder, coffee, chelsea):
    """bfloat16 inference of a trained network: CIEDE2000 within 0.3 of float32 (issue 25)."""
    from napari_colorize.color import Lab2rgb, rgb2L
    from napari_colorize.metrics import delta_e2000

    if not folder.is_dir():
        pytest.skip(f"{folder} is not in this checkout")
    m = load_model(folder)
    for rgb in (coffee, chelsea):
        L = rgb2L(rgb)
        m.config = m.config.replace(precision="float32")
        ab32 = m.predict_ab(L)
        m.config = m.config.replace(precision="bfloat16")
        ab16 = m.predict_ab(L)
        assert m._inference_net().dtype_policy.name == "bfloat16"
        assert ab16.dtype == np.float32 and ab16.shape == ab32.shape
        assert not np.array_equal(ab16, ab32)  # it did compute in bfloat16
        rgb32, rgb16 = Lab2rgb(L, ab32), Lab2rgb(L, ab16)
        assert delta_e2000(rgb16, rgb32) <= 0.3
        assert abs(delta_e2000(rgb16, rgb) - delta_e2000(rgb32, rgb)) <= 0.3
        assert np.mean(np.linalg.norm(ab16 - ab32, axis=-1)) <= 1.0
