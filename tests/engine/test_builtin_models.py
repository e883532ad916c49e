"""The default models shipped inside the package (issue: built-in default models)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from skimage import color, data
from skimage.transform import rescale

import napari_colorize as nc
from napari_colorize.api import builtin_models, resolve_model
from napari_colorize.metrics import delta_e2000

ROOT = Path(__file__).resolve().parents[2]


def _recipes() -> dict:
    spec = importlib.util.spec_from_file_location("train_defaults", ROOT / "scripts" / "train_defaults.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.RECIPES


def test_a_window_model_and_a_network_model_ship_under_20_mb():
    models = builtin_models()
    methods = {json.loads((p / "config.json").read_text())["method"] for p in models.values()}
    assert "window" in methods and methods & {"autoencoder", "eccv16"}
    files = [f for p in models.values() for f in p.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 20e6
    assert not [f for f in files if f.name == "optimizer.npz"]  # shipped for inference only


def test_each_config_records_what_it_learned_from_and_the_recipe():
    recipes = _recipes()
    assert set(recipes) == set(builtin_models())
    for name, folder in builtin_models().items():
        d = json.loads((folder / "config.json").read_text())
        info = d["info"]
        assert info["trained_on"] and all(isinstance(s, str) for s in info["trained_on"])
        method, config = recipes[name]
        assert info["recipe"]["method"] == d["method"] == method
        assert info["recipe"]["config"] == config
        # the recipe's values are the model's config
        assert all(d["config"][k] == v for k, v in config.items())
        assert info["train_seconds"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(builtin_models()))
def test_builtin_model_colorizes_better_than_gray(name):
    model = resolve_model(name)
    ours, gray_err = [], []
    for rgb in (data.coffee(), data.chelsea()):
        rgb = rescale(rgb, 0.5, channel_axis=-1, anti_aliasing=True)
        gray = color.rgb2gray(rgb)
        ours.append(delta_e2000(nc.colorize(gray, model).rgb, rgb))
        gray_err.append(delta_e2000(np.repeat(gray[..., None], 3, -1), rgb))
    assert np.mean(ours) < 0.85 * np.mean(gray_err), (ours, gray_err)
