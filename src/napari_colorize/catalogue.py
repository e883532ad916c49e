"""The model catalogue: built-in models, the user models folder, and how a model name is resolved.

The single rule for turning a name or a path into a model folder is
:func:`resolve_model_path`; the API, the command line, the engine server and
the napari plugin all use it.  Reading the catalogue only reads
``config.json`` files: this module never imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from .errors import ModelFolderError

__all__ = [
    "DEFAULT_MODEL",
    "builtin_models_dir",
    "builtin_models",
    "untrained_models",
    "user_models_dir",
    "list_models",
    "describe_model_folder",
    "resolve_model_path",
    "default_model_path",
    "preferred_model_path",
    "is_model_folder",
    "check_model_out",
]

#: the model used when none is named (the command line, the demo, the napari Colorize widget)
DEFAULT_MODEL = "default"

#: environment variable that overrides the user models folder
MODELS_ENV = "NAPARI_COLORIZE_MODELS"


def builtin_models_dir() -> Path:
    """The folder of the models shipped inside the package."""
    return Path(__file__).parent / "models"


def _model_folders(d: Path) -> dict[str, Path]:
    """The model folders (those with a ``config.json``) directly in ``d``: name -> folder."""
    if not d.is_dir():
        return {}
    return {p.name: p for p in sorted(d.iterdir()) if (p / "config.json").is_file()}


def builtin_models() -> dict[str, Path]:
    """Built-in models shipped in the package: name -> folder."""
    return _model_folders(builtin_models_dir())


def untrained_models() -> dict[str, Path]:
    """Built-in models that need no training (``propagate``): name -> folder.

    Each is a ``config.json`` with the method's default config (``"config": {}``), shipped in
    ``models/untrained``, so ``--model propagate`` works like any model folder.
    """
    return _model_folders(builtin_models_dir() / "untrained")


def user_models_dir() -> Path:
    """The user models folder (platformdirs), overridable with ``$NAPARI_COLORIZE_MODELS``."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("napari-colorize")) / "models"


def _user_models() -> dict[str, Path]:
    from .io import clean_leftovers, is_leftover

    d = user_models_dir()
    if not d.is_dir():
        return {}
    # temporary folders of killed saves are no models: removed (unless a save is under way)
    clean_leftovers(d)
    return {p.name: p for p in sorted(d.iterdir()) if not is_leftover(p) and (p / "config.json").is_file()}


def is_model_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` says it is a napari-colorize model folder.

    Only the file's shape is checked (a dict with a ``method`` name, a ``config`` dict and a
    ``version``); a model of a newer version is a model folder too.
    """
    import json

    try:
        info = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(info, dict)
        and isinstance(info.get("method"), str)
        and isinstance(info.get("config"), dict)
        and "version" in info
    )


def _models_folders() -> list[Path]:
    return [user_models_dir(), builtin_models_dir(), builtin_models_dir() / "untrained"]


def check_model_out(path: str | os.PathLike[str], *, overwrite: bool = False, resume: bool = False) -> Path:
    """Check, before any work, that a model may be saved at ``path``; returns ``path``.

    A model folder is written only where nothing but a model can be lost: a new or empty
    folder, or, with ``overwrite`` (or ``resume``, which continues the model there), a
    folder whose ``config.json`` says it is a napari-colorize model (:func:`is_model_folder`).
    A models folder (the user's, the built-in ones) and every folder above one are refused.

    Raises
    ------
    ModelFolderError
        With one line saying why and what to do.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ModelFolderError(f"a model is saved into a folder path, got {path!r}")
    path = Path(path).expanduser()
    real = path.resolve()
    for m in _models_folders():
        m = m.expanduser().resolve()
        if real == m or real in m.parents:
            where = "the models folder" if real == m else f"a folder above the models folder {m}"
            raise ModelFolderError(
                f"{path} is {where}; save a model into a folder of its own (e.g. {m / 'my_model'})"
            )
    if not path.exists() and not path.is_symlink():
        return path
    if not path.is_dir():
        raise ModelFolderError(f"{path} exists and is not a folder; refusing to replace it")
    if is_model_folder(path):
        if overwrite or resume:
            return path
        raise ModelFolderError(
            f"{path} already holds a model; pass --overwrite (overwrite=True) to replace it, "
            "or choose another folder"
        )
    if any(path.iterdir()):
        raise ModelFolderError(
            f"{path} is a folder that is not a napari-colorize model folder (no model config.json); "
            "refusing to replace it: choose a new or empty folder"
        )
    return path


def _all_builtin_models() -> dict[str, Path]:
    """Every built-in model, untrained or trained (a trained one wins a shared name): name -> folder."""
    return {**untrained_models(), **builtin_models()}


def _named_model(name: str) -> Path | None:
    """The folder of a model name: the user models folder's, else a built-in one; None if neither."""
    user = user_models_dir() / name
    if user.is_dir():
        return user
    return _all_builtin_models().get(name)


def resolve_model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The model folder that a name or a path stands for.

    The rule, in order:

    1. an existing path (``~`` expanded) is taken as it is;
    2. else a folder of that name in the user models folder (:func:`user_models_dir`);
    3. else a built-in model of that name (:func:`builtin_models`, then
       :func:`untrained_models`).

    So a user's own model shadows a built-in model of the same name, and an
    explicit path always wins.  The folder's content is checked when it is
    loaded (or by :func:`describe_model_folder`), not here.

    Raises
    ------
    ModelFolderError
        When the name matches nothing.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not os.fspath(name_or_path):
        raise ModelFolderError(f"a model is a model folder or a model name, got {name_or_path!r}")
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = os.fspath(name_or_path)
    found = _named_model(name)
    if found is not None:
        return found
    from .pretrained import pretrained_models

    entry = None
    with contextlib.suppress(ValueError):  # a broken extra catalogue file: the plain message
        entry = pretrained_models().get(name)
    if entry is not None:
        raise ModelFolderError(
            f"the pretrained model {name!r} is not installed: fetch it with "
            f"'napari-colorize fetch {name}' or napari_colorize.fetch({name!r}) ({entry.size_text})"
        )
    known = sorted(set(_all_builtin_models()) | set(_user_models()))
    raise ModelFolderError(
        f"no such model folder or model name: {name!r}"
        + (f" (model names: {', '.join(known)})" if known else "")
    )


def default_model_path() -> Path:
    """The folder of :data:`DEFAULT_MODEL`, the model used when none is named.

    Looked up by name only (the user models folder, then the built-in models): a folder
    ``./default`` in the current directory never stands in for it (pass it as a path to use it).

    Raises
    ------
    ModelFolderError
        When no model of that name is installed.
    """
    found = _named_model(DEFAULT_MODEL)
    if found is not None:
        return found
    raise ModelFolderError(f"the model {DEFAULT_MODEL!r} is not installed")


def preferred_model_path() -> Path:
    """The model used when none is named: the best-ranked installed pretrained model
    (:func:`napari_colorize.pretrained.best_installed`), else :func:`default_model_path`.

    Raises
    ------
    ModelFolderError
        When neither is installed.
    """
    from .pretrained import best_installed

    best = best_installed()
    return best if best is not None else default_model_path()


def list_models() -> dict[str, str]:
    """Models a user can pick: display name -> folder.

    User models appear under their name; a built-in model appears under its
    name unless a user model of the same name shadows it (see
    :func:`resolve_model_path`), then as ``"<name> (built-in)"``.  Built-ins
    come first.
    """
    user = _user_models()
    builtins = {**builtin_models(), **untrained_models()}
    out = {(f"{n} (built-in)" if n in user else n): str(p) for n, p in builtins.items()}
    out.update({n: str(p) for n, p in user.items()})
    return out


def describe_model_folder(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Method, config and provenance of a model folder (reads its ``config.json`` only).

    Raises
    ------
    ModelFolderError
        For a folder that is not a napari-colorize model.
    """
    from .methods.colorizer import read_model_info

    info = read_model_info(path)
    return {
        "path": str(Path(path)),
        "method": info["method"],
        "config": info.get("config", {}),
        "trained": bool(info.get("trained", True)),
        "info": info.get("info", {}),
        "version": info.get("version"),
    }
