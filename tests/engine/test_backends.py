"""Every Keras method on the PyTorch backend, and model folders that cross backends.

The test process runs TensorFlow (the default backend); the PyTorch part runs
in a child process with ``KERAS_BACKEND=torch``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2lab
from skimage.transform import rescale

import napari_colorize as nc

pytest.importorskip("torch")

RECIPES = {
    "window": {"window": 7, "n_colors": 8, "epochs": 1, "samples_per_epoch": 1024, "batch_size": 256},
    "autoencoder": {"epochs": 1, "steps_per_epoch": 2, "crop_size": 32, "input_size": 32, "batch_size": 2},
    "vgg_autoencoder": {
        "epochs": 1,
        "steps_per_epoch": 1,
        "crop_size": 32,
        "input_size": 32,
        "batch_size": 2,
    },
    "eccv16": {
        "width": 0.0625,
        "epochs": 1,
        "steps_per_epoch": 2,
        "crop_size": 32,
        "input_size": 32,
        "batch_size": 2,
        "val_split": 0.0,
    },
}

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import napari_colorize as nc
    from napari_colorize.methods import load_model

    folder, recipes = sys.argv[1], json.loads(sys.argv[2])
    rgb = np.load(folder + "/rgb.npy")
    L = np.load(folder + "/L.npy")
    out = {"backend": keras.backend.backend()}
    for method, cfg in recipes.items():
        m = nc.train(method, [rgb], config=cfg)
        ab = m.predict_ab(L)
        finite = bool(np.all(np.isfinite(ab)))
        out[method] = {"loss": m.history["loss"], "finite": finite, "shape": list(ab.shape)}
        if method != "vgg_autoencoder":  # a 60 MB folder: the network code is the autoencoder's
            np.save(f"{folder}/torch_{method}.npy", load_model(f"{folder}/{method}").predict_ab(L))
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_each_method_trains_on_torch_and_folders_load_across_backends(tmp_path):
    rgb = rescale(data.coffee(), 0.15, channel_axis=-1, anti_aliasing=True).astype(np.float32)
    L = rgb2lab(rgb)[..., 0].astype(np.float32)
    np.save(tmp_path / "rgb.npy", rgb)
    np.save(tmp_path / "L.npy", L)
    ours = {}
    for method, cfg in RECIPES.items():
        if method == "vgg_autoencoder":
            continue
        m = nc.train(method, [rgb], config=cfg, out=tmp_path / method)
        ours[method] = m.predict_ab(L)
    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(RECIPES)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert res.pop("backend") == "torch"
    for method, got in res.items():
        assert got["finite"] and got["shape"] == [*L.shape, 2], method
        assert len(got["loss"]) == 1 and got["loss"][0] > 0, method
    # a folder saved under TensorFlow predicts the same under PyTorch
    for method, ab in ours.items():
        np.testing.assert_allclose(np.load(tmp_path / f"torch_{method}.npy"), ab, atol=0.05, err_msg=method)
