"""The model catalogue: one rule resolves a model name, tested here once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from napari_colorize import catalogue
from napari_colorize.errors import ModelFolderError


def _model(folder: Path, method: str = "lookup") -> Path:
    """A folder that the catalogue takes for a model (only config.json is read)."""
    from napari_colorize import __version__

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"method": method, "config": {}, "version": __version__}))
    return folder


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    d = tmp_path / "user_models"
    d.mkdir()
    monkeypatch.setenv(catalogue.MODELS_ENV, str(d))
    return d


def test_builtin_models_are_found():
    builtins = catalogue.builtin_models()
    assert builtins, "the package ships built-in models"
    for folder in builtins.values():
        assert (folder / "config.json").is_file()
        assert catalogue.describe_model_folder(folder)["method"]


def test_resolution_order_path_then_user_folder_then_builtin(user_dir, tmp_path, monkeypatch):
    name = next(iter(catalogue.builtin_models()))
    builtin = catalogue.builtin_models()[name]
    # 3. a built-in model by its name
    assert catalogue.resolve_model_path(name) == builtin
    # 2. a user model of the same name shadows the built-in one
    user = _model(user_dir / name)
    assert catalogue.resolve_model_path(name) == user
    # 1. an existing path wins over both (here relative to the working folder)
    monkeypatch.chdir(tmp_path)
    local = _model(tmp_path / name)
    assert catalogue.resolve_model_path(name) == Path(name)
    assert catalogue.resolve_model_path(name).resolve() == local.resolve()
    assert catalogue.resolve_model_path(local) == local
    # the user folder also holds names no built-in has
    mine = _model(user_dir / "mine")
    assert catalogue.resolve_model_path("mine") == mine


def test_unknown_names_fail_with_one_line(user_dir):
    _model(user_dir / "mine")
    with pytest.raises(ModelFolderError, match="no such model folder or model name: 'nope'") as e:
        catalogue.resolve_model_path("nope")
    assert "\n" not in str(e.value) and "mine" in str(e.value)
    for bad in ("", None, 3):
        with pytest.raises(ModelFolderError):
            catalogue.resolve_model_path(bad)


def test_list_models_names_what_the_rule_resolves(user_dir):
    name = next(iter(catalogue.builtin_models()))
    _model(user_dir / name)
    _model(user_dir / "mine")
    (user_dir / "not_a_model").mkdir()
    models = catalogue.list_models()
    assert "not_a_model" not in models
    assert models["mine"] == str(user_dir / "mine")
    # the plain name is the user's model, as resolve_model_path says; the built-in keeps a label
    assert Path(models[name]) == catalogue.resolve_model_path(name)
    assert models[f"{name} (built-in)"] == str(catalogue.builtin_models()[name])


def test_describe_refuses_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ModelFolderError, match="config.json"):
        catalogue.describe_model_folder(tmp_path / "x")


def test_api_loads_what_the_catalogue_resolves(user_dir):
    """api.resolve_model follows the same rule (a user model shadows a built-in one)."""
    from skimage import data

    from napari_colorize.api import resolve_model, train

    name = next(iter(catalogue.builtin_models()))
    assert resolve_model(name).name != "lookup"  # the built-ins are neural models
    train("lookup", [data.coffee()[:64, :64]], out=user_dir / name)
    assert resolve_model(name).name == "lookup"


def test_catalogue_does_not_import_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        from napari_colorize import catalogue
        catalogue.list_models()
        for p in catalogue.builtin_models().values():
            catalogue.describe_model_folder(p)
        print("LOADED", [m for m in ("tensorflow", "keras", "napari") if m in sys.modules])
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout, r.stdout
