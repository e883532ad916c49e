"""train_from_layers never replaces what is not a model (issue 19), checked before the worker runs."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from napari_colorize._napari._train_from_layers import train_from_layers
from napari_colorize.errors import ModelFolderError


class _NoWorker:
    def __getattr__(self, name):
        raise AssertionError("the worker was used although the destination is refused")


def _tree(path):
    return sorted((str(p.relative_to(path)), p.is_dir()) for p in path.rglob("*"))


def test_train_from_layers_refuses_the_models_folder_its_parent_and_other_folders(tmp_path, user_models_dir):
    refdir = tmp_path / "refdir"
    refdir.mkdir()
    iio.imwrite(refdir / "a.png", np.zeros((16, 16, 3), np.uint8))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("x")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"method": "lookup", "config": {}, "version": "0.1"}))
    parent = user_models_dir.parent
    before = _tree(parent)
    for out, msg in (
        ("..", "above the models folder"),  # a bare name is saved in the models folder: ".." is its parent
        (user_models_dir, "is the models folder"),
        (precious, "not a napari-colorize model folder"),
        (model, "already holds a model"),
    ):
        with pytest.raises(ModelFolderError, match=msg):
            train_from_layers(None, refdir, "lookup", out, worker=_NoWorker())
    assert _tree(parent) == before
    assert (precious / "thesis.txt").read_text() == "x"
