"""Train a model from RGB layers (or a folder) in the ``"train"`` engine worker.

Examples
--------
>>> import napari, napari_colorize as nc                        # doctest: +SKIP
>>> viewer = napari.Viewer()                                     # doctest: +SKIP
>>> ref = viewer.add_image(color_image, rgb=True)                # doctest: +SKIP
>>> path = nc.train_from_layers(viewer, [ref], "lookup", "my_lookup")   # doctest: +SKIP
>>> gray = viewer.add_image(gray_image, name="gray")             # doctest: +SKIP
>>> layers = nc.colorize_layer(viewer, gray, path, tile=256)     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from ..catalogue import check_model_out, user_models_dir
from ..client import Worker, get_worker
from ..errors import InputError
from ._layer_input import _rgb_data, check_rgb_layer, layer_box
from ._lifecycle import refresh_model_lists, watch_viewer
from ._notifications import _notify_error

__all__ = ["train_from_layers", "model_exists"]


def _train_args(viewer: Any, layers: Any, box: Any) -> tuple[Any, tuple[int, int, int, int] | None]:
    if isinstance(layers, (str, os.PathLike)) and Path(layers).exists():
        return str(layers), None
    if not isinstance(layers, (list, tuple)):
        layers = [layers]
    if not layers:
        raise InputError("choose at least one RGB layer (or a folder) to train on")
    resolved = [viewer.layers[x] if isinstance(x, str) else x for x in layers]
    for ly in resolved:
        check_rgb_layer(ly, role="training")
    images = [_rgb_data(ly) for ly in resolved]
    if box is not None and not isinstance(box, (tuple, list)):
        box = layer_box(box, resolved[0])
    return images, (tuple(int(v) for v in box) if box is not None else None)


def model_exists(path: str | os.PathLike) -> bool:
    """Whether a folder holds something a training would replace (a model, or any file)."""
    p = Path(path)
    return (p.is_dir() and any(p.iterdir())) or p.is_file()


def train_from_layers(
    viewer: Any,
    layers: Any,
    method: str,
    out: str | os.PathLike,
    *,
    blocking: bool = True,
    box: Any = None,
    overwrite: bool = False,
    worker: Worker | None = None,
    on_progress: Callable[[dict], None] | None = None,
    on_done: Callable[[Path], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    **config: Any,
) -> Any:
    """Train a model from RGB layers (or a folder) and save it to ``out``.

    Parameters
    ----------
    viewer : napari.Viewer
    layers : RGB Image layer(s), their names, or a folder of images
    method : str
        A method name (``napari_colorize.list_methods()``).
    out : path or str
        The model folder to write.  A bare name (no path separator) is saved
        in :func:`napari_colorize.catalogue.user_models_dir`.
    blocking : bool
        Wait and return the path (scripts); with ``False`` return the started
        napari ``GeneratorWorker``.
    box : (y0, x0, y1, x1) or a Shapes layer, optional
        Train only on this region (the first rectangle of a Shapes layer).
    overwrite : bool
        Replace an existing model folder at ``out``.  Without it an existing model folder is
        refused, and so is any folder that is not a model folder, the models folder and the
        folders above it (:func:`napari_colorize.catalogue.check_model_out`), before training.
    worker : Worker, optional
        The engine worker (``get_worker("train")`` by default, so that
        colorizing goes on while training runs).
    on_progress, on_done, on_error : callable, optional
        Called with each progress event, the saved folder, the exception.
    **config
        Method config values (epochs, batch_size, crop_size, ...).

    Returns
    -------
    pathlib.Path, or a napari GeneratorWorker when ``blocking=False``
    """
    from ..methods import get_config_class

    cfg_cls = get_config_class(method)  # ConfigError for an unknown method; never imports TF
    cfg_cls.from_dict(config)  # unknown keys / invalid values fail here, before the worker
    images, box = _train_args(viewer, layers, box)
    out_p = Path(out)
    if isinstance(out, str) and os.sep not in out and "/" not in out and not out_p.is_absolute():
        out_p = user_models_dir() / out
    out_p = out_p.expanduser().resolve()
    check_model_out(out_p, overwrite=overwrite)  # before the worker: nothing but a model is replaced
    out_p.parent.mkdir(parents=True, exist_ok=True)
    worker = worker or get_worker("train")
    watch_viewer(viewer)
    # the engine's own refusal (when it has one) is lifted only for a replacement the caller asked for

    def gen() -> Generator[dict, None, dict]:
        res = yield from worker.iter_train(
            method, images, out=out_p, config=config, box=box, overwrite=overwrite
        )
        return res

    def saved(ev: dict) -> None:
        if ev.get("stage") == "saved":
            refresh_model_lists()

    if blocking:
        g = gen()
        try:
            while True:
                ev = next(g)
                saved(ev)
                if on_progress is not None:
                    on_progress(ev)
        except StopIteration as s:
            res = s.value
        return Path(res["path"])

    from napari.qt.threading import create_worker

    tw = create_worker(gen, _start_thread=False, _connect={"errored": on_error or _notify_error})
    tw.yielded.connect(saved)
    if on_progress is not None:
        tw.yielded.connect(on_progress)
    tw.returned.connect(lambda res: on_done(Path(res["path"])) if on_done else None)
    tw.engine_worker = worker  # type: ignore[attr-defined]
    tw.start()
    return tw
