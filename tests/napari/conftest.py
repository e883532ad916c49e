"""Fixtures of the napari tests (run in their own pytest process: no TensorFlow here)."""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("napari")


@pytest.fixture(scope="session", autouse=True)
def user_models_dir(tmp_path_factory):
    """An isolated user models folder for the whole session (the worker inherits it)."""
    from napari_colorize.worker import shutdown_worker

    shutdown_worker()  # a worker started earlier would not see the variable
    d = tmp_path_factory.mktemp("user_models")
    old = os.environ.get("NAPARI_COLORIZE_MODELS")
    os.environ["NAPARI_COLORIZE_MODELS"] = str(d)
    yield d
    shutdown_worker()
    if old is None:
        os.environ.pop("NAPARI_COLORIZE_MODELS", None)
    else:
        os.environ["NAPARI_COLORIZE_MODELS"] = old


@pytest.fixture(autouse=True)
def no_tensorflow_here():
    """Every napari test must leave TensorFlow and Keras out of this process."""
    yield
    assert "tensorflow" not in sys.modules, "tensorflow was imported into the napari process"
    assert "keras" not in sys.modules, "keras was imported into the napari process"


@pytest.fixture(scope="session")
def coffee():
    from skimage import data

    return data.coffee()


@pytest.fixture(scope="session")
def coffee_gray(coffee):
    from napari_colorize._napari._sample_data import _gray

    return _gray(coffee)


@pytest.fixture(scope="session")
def lookup_model(tmp_path_factory, coffee, user_models_dir):
    """A lookup model trained on coffee, through the engine worker."""
    from napari_colorize.worker import get_worker

    out = tmp_path_factory.mktemp("models") / "coffee_lookup"
    res = get_worker().train("lookup", [coffee], out=out)
    assert (out / "config.json").is_file()
    assert res["path"] == str(out)
    return out


@pytest.fixture
def wait_idle(qtbot):
    """Wait until a widget's background run has finished."""

    def wait(widget, timeout=120_000):
        qtbot.waitUntil(lambda: not widget.running, timeout=timeout)

    return wait
