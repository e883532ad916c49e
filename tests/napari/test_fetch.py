"""The Colorize widget offers the pretrained models that are not installed, downloads one in the
engine worker, and then uses it; TensorFlow and torch never enter this (the napari) process.

Downloads come from an HTTP server on 127.0.0.1 started here, serving random-weight files in the
authors' layouts (made by ``tests/pretrained_files.py`` in a subprocess: torch stays out of here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pretrained_files import serve, write_catalogue

from napari_colorize._napari import _model_choice
from napari_colorize._napari._colorize_widget import ColorizeWidget
from napari_colorize._napari._model_choice import FETCH
from napari_colorize.client import shutdown_workers
from napari_colorize.pretrained import CATALOGUE_ENV, MIRROR_ENV

pytestmark = pytest.mark.napari


@pytest.fixture(scope="module")
def authors_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("authors_files")
    script = Path(__file__).resolve().parents[1] / "pretrained_files.py"
    r = subprocess.run(
        [sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    import json

    return folder, json.loads(r.stdout.splitlines()[-1])


@pytest.fixture
def local_catalogue(authors_files, tmp_path, monkeypatch):
    """A fresh models folder and a catalogue served from 127.0.0.1, seen by a fresh worker."""
    folder, files = authors_files
    with serve(folder) as (url, requests):
        shutdown_workers()  # the worker must start with these variables
        monkeypatch.setenv("NAPARI_COLORIZE_MODELS", str(tmp_path / "models"))
        monkeypatch.delenv(MIRROR_ENV, raising=False)

        def catalogue(base_url=url, **sha):
            cat = write_catalogue(tmp_path / "cat.json", files, base_url, sha=sha)
            monkeypatch.setenv(CATALOGUE_ENV, str(cat))

        catalogue()
        yield tmp_path / "models", catalogue, requests, url
        shutdown_workers()


def _labels(w):
    return {label: value for label, value in w._model_choices()}


def _no_engine_here():
    for mod in ("tensorflow", "keras", "torch"):
        assert mod not in sys.modules, f"{mod} was imported into the napari process"


def test_a_pretrained_model_is_offered_downloaded_and_used(
    make_napari_viewer, qtbot, wait_idle, local_catalogue, coffee_gray, monkeypatch
):
    models, _, requests, _ = local_catalogue
    asked = []
    monkeypatch.setattr(_model_choice, "_ask", lambda parent, title, q: asked.append(q) or True)
    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray[:96, :128], name="coffee")
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    labels = _labels(w)
    # not installed: listed with its size; the built-in default stays the choice
    offered = {lab: v for lab, v in labels.items() if v.startswith(FETCH)}
    assert set(offered.values()) == {
        FETCH + n
        for n in ("ddcolor-modelscope", "ddcolor-paper-tiny", "siggraph17-authors", "eccv16-authors")
    }
    sig = next(lab for lab, v in offered.items() if v == FETCH + "siggraph17-authors")
    assert "not installed" in sig and "MB" in sig
    dd = next(lab for lab, v in offered.items() if v == FETCH + "ddcolor-modelscope")
    assert "not installed" in dd and "size unknown" in dd
    assert w.model.value == labels["default"]

    # choosing it asks, downloads in the engine worker (progress bar, status), installs, selects it
    w.model.value = FETCH + "siggraph17-authors"
    assert asked and "siggraph17-authors" in asked[0] and "licence" in asked[0]
    assert w.cancel_button.enabled and not w.run_button.enabled
    wait_idle(w, timeout=180_000)
    assert any(p.endswith("/siggraph17-df00044c.pth") for p in requests)
    installed = models / "siggraph17-authors"
    assert (installed / "config.json").is_file()
    assert w.model.value == str(installed), (w.model.value, w.messages)
    assert "installed siggraph17-authors" in w.status.value
    labels = _labels(w)
    assert labels["siggraph17-authors"] == str(installed)
    assert FETCH + "siggraph17-authors" not in labels.values()
    _no_engine_here()

    # usable: colorize with it
    w.image.value = gray
    w.run()
    wait_idle(w, timeout=180_000)
    assert "coffee RGB" in viewer.layers, w.messages
    assert viewer.layers["coffee RGB"].metadata["napari_colorize"]["model"]["method"] == "siggraph17"

    # a new Colorize widget prefers the best installed pretrained model
    w2 = ColorizeWidget(viewer)
    assert w2.model.value == str(installed)
    _no_engine_here()


def test_declined_or_failed_download_installs_nothing(
    make_napari_viewer, qtbot, wait_idle, local_catalogue, monkeypatch
):
    models, catalogue, requests, url = local_catalogue
    answer, asked = [False], []
    monkeypatch.setattr(_model_choice, "_ask", lambda parent, title, q: asked.append(q) or answer[0])
    viewer = make_napari_viewer()
    w = ColorizeWidget(viewer)
    before = w.model.value
    # No: nothing is requested, the previous model is chosen again
    w.model.value = FETCH + "eccv16-authors"
    assert w.model.value == before and not requests and not w.running
    assert "not known in advance" not in asked[-1]
    # a model whose SHA-256 is not known in advance: the question says so
    w.model.value = FETCH + "ddcolor-modelscope"
    assert "size unknown" in asked[-1] and "SHA-256 is not known in advance" in asked[-1]
    assert "trust on first use" in asked[-1] and "Apache-2.0" in asked[-1]
    assert w.model.value == before and not requests and not w.running
    # Yes, but the file's SHA-256 does not match: one line, the list unchanged, nothing installed
    catalogue(**{"eccv16-authors": "0" * 64})
    answer[0] = True
    w.model.value = FETCH + "eccv16-authors"
    wait_idle(w, timeout=120_000)
    level, text = w.messages[-1]
    assert level == "error" and "SHA-256" in text and "nothing was installed" in text and "\n" not in text
    assert w.model.value == before
    assert not (models / "eccv16-authors").exists()
    assert FETCH + "eccv16-authors" in _labels(w).values()
    _no_engine_here()
    assert os.environ[CATALOGUE_ENV]


def test_cancel_a_download(make_napari_viewer, qtbot, wait_idle, local_catalogue, monkeypatch):
    models, catalogue, requests, url = local_catalogue
    catalogue(base_url=url + "/slow")
    monkeypatch.setattr(_model_choice, "_ask", lambda *a: True)
    viewer = make_napari_viewer()
    w = ColorizeWidget(viewer)
    before = w.model.value
    w.model.value = FETCH + "eccv16-authors"
    qtbot.waitUntil(lambda: "MB" in w.status.value, timeout=60_000)  # bytes are arriving
    assert w.progress.max > 0 and "downloading eccv16-authors" in w.status.value
    w.cancel_button.changed.emit(True)
    wait_idle(w, timeout=60_000)
    level, text = w.messages[-1]
    assert level == "info" and "cancelled" in text and "nothing was installed" in text, w.messages
    assert w.model.value == before and w.run_button.enabled
    assert not (models / "eccv16-authors").exists()
    cache = models / ".downloads"
    assert not cache.exists() or list(cache.iterdir()) == []
    _no_engine_here()
