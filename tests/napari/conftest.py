"""Fixtures of the napari tests (run in their own pytest process: no TensorFlow here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("napari")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worker_hooks import hook_env  # noqa: E402 - test-only server commands, found through the path above


@pytest.fixture(scope="session", autouse=True)
def user_models_dir(tmp_path_factory):
    """An isolated user models folder for the whole session (the workers inherit it).

    The workers also load the test-only server commands (``_crash``, ``_sleep``).
    """
    from napari_colorize.client import shutdown_workers

    shutdown_workers()  # a worker started earlier would not see the variables
    d = tmp_path_factory.mktemp("user_models")
    env = {"NAPARI_COLORIZE_MODELS": str(d), **hook_env()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield d
    shutdown_workers()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


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
    """A lookup model trained on coffee, through the training worker."""
    from napari_colorize.client import get_worker

    out = tmp_path_factory.mktemp("models") / "coffee_lookup"
    res = get_worker("train").train("lookup", [coffee], out=out)
    assert (out / "config.json").is_file()
    assert res["path"] == str(out)
    return out


@pytest.fixture
def wait_idle(qtbot):
    """Wait until a widget's background run has finished."""

    def wait(widget, timeout=120_000):
        qtbot.waitUntil(lambda: not widget.running, timeout=timeout)

    return wait


@pytest.fixture(autouse=True)
def no_warm_start(monkeypatch):
    """A new Colorize widget would start the engine and load its model in the background.

    Left out of most tests to spare the shared machine (the worker would load the default
    model, with TensorFlow, for every new worker); ``test_warm_start`` turns it on.
    """
    from napari_colorize._napari import _colorize_widget

    monkeypatch.setattr(_colorize_widget, "WARM_START", False)


@pytest.fixture(autouse=True)
def no_unexpected_question(monkeypatch):
    """A modal question nobody answers would hang the test: an unexpected one fails it instead."""
    from qtpy.QtWidgets import QMessageBox

    def question(parent, title, text, *a, **k):
        raise AssertionError(f"unexpected question {title!r}: {text}")

    monkeypatch.setattr(QMessageBox, "question", question)


@pytest.fixture(autouse=True)
def widgets_close_with_their_test():
    """A widget a test made without docking it is never destroyed by Qt; close it after the test.

    In napari every widget is docked and goes with its window; left open here it would keep
    the engine workers in use for the rest of the session (``_lifecycle.shutdown_if_unused``).
    """
    yield
    from napari_colorize._napari import _lifecycle

    for w in list(_lifecycle._LIVE):
        w._closed = True
