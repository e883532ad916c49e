"""Keras backends: choosing one, every Keras method on the backend of this run, folders across backends.

The suite runs under TensorFlow (the default); ``scripts/test.sh`` runs this
file again with ``KERAS_BACKEND=torch``.  Each run trains and predicts every
Keras method in-process on its own backend, and checks that the folders it
saved predict the same in a child process on the other backend.
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
from napari_colorize import backends
from napari_colorize.errors import ConfigError

#: tiny training runs of each Keras method (seconds on a CPU)
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
    "siggraph17": {
        "width": 0.0625,
        "epochs": 1,
        "steps_per_epoch": 2,
        "crop_size": 32,
        "batch_size": 2,
        "val_split": 0.0,
    },
    "siggraph17_lite0": {
        "epochs": 1,
        "steps_per_epoch": 2,
        "crop_size": 32,
        "crops_per_image": 2,
        "batch_size": 2,
    },
}
#: saved and loaded on the other backend (vgg_autoencoder: a 60 MB folder of the autoencoder's network code)
CROSS = ["window", "autoencoder", "eccv16", "siggraph17", "siggraph17_lite0"]


# -- choosing a backend (no Keras needed) ------------------------------------
def test_unknown_or_missing_backend_is_a_one_line_config_error(monkeypatch):
    with pytest.raises(ConfigError, match="unknown Keras backend 'mxnet'") as e:
        backends.apply_backend("mxnet")
    assert "\n" not in str(e.value)
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="jax backend is not installed"):
        backends.apply_backend("jax")


def test_backend_cannot_change_once_keras_runs(monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())
    assert backends.apply_backend(None) == keras.backend.backend()
    other = "torch" if keras.backend.backend() == "tensorflow" else "tensorflow"
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: object())
    with pytest.raises(ConfigError, match=f"cannot change to {other}") as e:
        backends.apply_backend(other)
    assert "\n" not in str(e.value)


def test_backend_argument_and_reports_without_keras():
    """--backend sets KERAS_BACKEND for this process and its workers; the reports import no Keras."""
    code = textwrap.dedent(
        """
        import argparse, os, sys
        from napari_colorize import backends
        p = backends.add_backend_argument(argparse.ArgumentParser())
        name = backends.apply_backend(p.parse_args(["--backend", "torch"]).backend)
        print("ENV", name, os.environ["KERAS_BACKEND"])
        print("VERSION", backends.version_report())
        print(backends.device_report())
        print("LOADED", [m for m in ("keras", "tensorflow", "napari") if m in sys.modules])
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ENV torch torch" in r.stdout
    assert "backend torch: torch " in r.stdout and "cpu: cpu" in r.stdout and "computes on the" in r.stdout
    assert "LOADED []" in r.stdout, r.stdout


def test_version_report_names_the_default_backend(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", "/nonexistent")
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    assert backends.configured_backend() == "tensorflow"
    assert f"napari-colorize {nc.__version__} " in backends.version_report()
    assert "backend tensorflow: tensorflow" in backends.version_report()


def test_mirrored_fails_in_one_line_where_the_backend_has_no_data_parallelism(monkeypatch):
    from napari_colorize.methods import keras_ops

    monkeypatch.setattr(keras_ops, "backend", lambda: "torch")
    monkeypatch.setattr(keras_ops, "visible_gpus", lambda: 2)
    with pytest.raises(ConfigError, match="not available on the torch backend") as e:
        keras_ops.distribution_scope("mirrored")
    assert "\n" not in str(e.value)
    monkeypatch.setattr(keras_ops, "visible_gpus", lambda: 1)
    with keras_ops.distribution_scope("mirrored"):  # one device: the same code runs everywhere
        pass


# -- the GPU install ------------------------------------------------------------
PLATFORMS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux"},
    "linux-aarch64": {"sys_platform": "linux", "platform_machine": "aarch64", "platform_system": "Linux"},
    "windows": {"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows"},
    "macos-arm64": {"sys_platform": "darwin", "platform_machine": "arm64", "platform_system": "Darwin"},
}
TENSORFLOWS = {"tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-macos"}


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_every_install_gets_exactly_one_tensorflow_distribution(platform):
    """Base dependencies plus any one extra, on each platform: one TensorFlow distribution, never two."""
    import tomllib
    from pathlib import Path

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    env = {**default_environment(), **PLATFORMS[platform], "python_version": "3.11"}

    def wanted(reqs: list[str], extra: str = "") -> set[str]:
        out = set()
        for text in reqs:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({**env, "extra": extra}):
                out.add(req.name.lower())
        return out

    base = wanted(project["dependencies"])
    assert len(base & TENSORFLOWS) == 1, base & TENSORFLOWS
    for extra, reqs in project["optional-dependencies"].items():
        assert len((base | wanted(reqs, extra)) & TENSORFLOWS) == 1, (platform, extra)
    assert "torch" in wanted(project["optional-dependencies"]["gpu"], "gpu")


# -- every Keras method on this run's backend --------------------------------
@pytest.fixture(scope="module")
def tiny():
    rgb = rescale(data.coffee(), 0.15, channel_axis=-1, anti_aliasing=True).astype(np.float32)
    return rgb, rgb2lab(rgb)[..., 0].astype(np.float32)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """Train a method once per module: (folder of saved models, {method: ab it predicts})."""
    folder = tmp_path_factory.mktemp("backend_models")
    done: dict[str, np.ndarray] = {}

    def train(method: str) -> np.ndarray:
        if method not in done:
            rgb, L = tiny
            out = folder / method if method in CROSS else None
            m = nc.train(method, [rgb], config=RECIPES[method], out=out)
            assert len(m.history["loss"]) == 1 and m.history["loss"][0] > 0, method
            done[method] = m.predict_ab(L)
        return done[method]

    return folder, train


@pytest.mark.parametrize("method", list(RECIPES))
def test_each_keras_method_trains_and_predicts_on_this_backend(method, tiny, trained):
    import keras

    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
    ab = trained[1](method)
    assert ab.dtype == np.float32 and ab.shape == (*tiny[1].shape, 2)
    assert np.all(np.isfinite(ab)) and np.abs(ab).max() <= 128


CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from napari_colorize.methods import load_model

    folder, methods = sys.argv[1], json.loads(sys.argv[2])
    L = np.load(folder + "/L.npy")
    for method in methods:
        np.save(f"{folder}/{method}_other.npy", load_model(f"{folder}/{method}").predict_ab(L))
    print("BACKEND " + keras.backend.backend())
    """
)


@pytest.mark.slow
def test_folders_saved_on_this_backend_predict_the_same_on_the_other(tiny, trained):
    import keras

    pytest.importorskip("torch")
    folder, train = trained
    ours = {method: train(method) for method in CROSS}
    np.save(folder / "L.npy", tiny[1])
    other = "torch" if keras.backend.backend() == "tensorflow" else "tensorflow"
    env = {**os.environ, "KERAS_BACKEND": other, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), json.dumps(CROSS)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"BACKEND {other}" in r.stdout
    for method, ab in ours.items():
        np.testing.assert_allclose(np.load(folder / f"{method}_other.npy"), ab, atol=0.05, err_msg=method)


# -- on a GPU ------------------------------------------------------------------
def _on_gpu(tensor) -> bool:
    """Whether a backend tensor lives on a GPU."""
    from napari_colorize.methods.keras_ops import backend

    name = backend()
    if name == "tensorflow":
        return "GPU" in tensor.device
    if name == "torch":
        return tensor.device.type == "cuda"
    return all(d.platform == "gpu" for d in tensor.devices())


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_training_and_inference_run_on_the_gpu(precision, tiny):
    import keras

    from napari_colorize.methods.keras_ops import visible_gpus

    if visible_gpus() == 0:
        pytest.skip(f"no GPU visible to the {keras.backend.backend()} backend")
    rgb, L = tiny
    m = nc.train("autoencoder", [rgb], config={**RECIPES["autoencoder"], "precision": precision})
    net = m._net
    assert all(_on_gpu(v.value) for v in net.trainable_variables)
    assert all(_on_gpu(v.value) for v in net.optimizer.variables)
    x = keras.ops.convert_to_tensor(np.zeros((1, 32, 32, 1), np.float32))
    assert _on_gpu(net(x, training=False))
    ab = m.predict_ab(L)
    assert ab.dtype == np.float32 and np.all(np.isfinite(ab))
