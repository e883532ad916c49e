"""Mixed precision (``precision`` in every Keras method's config) on the CPU.

bfloat16 runs on CPUs; float16 needs a GPU to be worth it and is covered by
the ``gpu`` tests.
"""

from __future__ import annotations

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

    from napari_colorize.methods._backend import precision_scope

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
