"""The client of the engine process, for napari and for scripts.

A :class:`Worker` is a :class:`~napari_colorize.worker_process.WorkerProcess` (one engine
process, started on demand, kept warm, restarted after a crash; see docs/architecture.md for
why the engine runs in its own process) with the typed requests: colorize (a
:class:`~napari_colorize.request.ColorizeRequest`, sent as it is), colorize a multiscale image
into an OME-Zarr store, train, fetch and describe.

There is one worker per *role*: ``get_worker("train")`` runs trainings,
``get_worker("interactive")`` runs colorize, describe and evaluate, so a long
training never delays a colorization.  Each has its own progress, stop and
crash recovery; :func:`shutdown_workers` stops them all (also at interpreter exit).

This module imports neither napari, Qt nor TensorFlow.

Examples
--------
>>> from napari_colorize.client import get_worker                 # doctest: +SKIP
>>> res = get_worker().colorize(gray, "my_model", tile=512)       # doctest: +SKIP
>>> res["rgb"].shape                                              # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .protocol import (
    STOP_GRACE,
    TRAIN_STOP_GRACE,
    WorkerCrashed,
    WorkerError,
    decode_arrays,
    encode_hints,
    hints_plane,
)
from .request import ColorizeRequest, split_hints
from .worker_process import ROLES, WorkerProcess, clean_dead_scratch, drive

__all__ = [
    "Worker",
    "WorkerError",
    "WorkerCrashed",
    "ROLES",
    "get_worker",
    "shutdown_workers",
    "STOP_GRACE",
    "TRAIN_STOP_GRACE",
    "clean_dead_scratch",
]


class Worker(WorkerProcess):
    """Client of one engine worker process: its typed requests.

    Started, stopped and restarted as a :class:`~napari_colorize.worker_process.WorkerProcess`
    (same parameters: ``role``, ``env``, ``stop_grace``, ``start_timeout``).
    """

    # -- typed helpers -----------------------------------------------------------
    def iter_colorize(
        self,
        image: Any,
        model: Any = None,
        *,
        request: ColorizeRequest | None = None,
        hints: Any = None,
        should_stop: Callable[[], bool] | None = None,
        **options: Any,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize in the worker; yields progress; returns L, ab, rgb arrays, the plan and the limits.

        The result's ``near_gray`` is None, or one line for the status bar saying that the
        automatic result is nearly gray and what to do (``Colorization.near_gray``).

        ``image`` is a numpy array (..., H, W); dask arrays are computed plane
        by plane (see :func:`iter_colorize_planes`).  The request travels as it is
        (``request.to_dict()``); the server rebuilds it.

        Parameters
        ----------
        model : str or path, optional
            The model folder or name (the request's ``model`` when a request is given).
        request : ColorizeRequest, optional
            What to colorize with.  Without it, ``model``, ``hints`` and ``**options`` build it
            (:meth:`ColorizeRequest.build <napari_colorize.request.ColorizeRequest.build>`):
            the tiling (:data:`~napari_colorize.tiling.TILING_KEYS`), ``rgb``, ``normalize``,
            ``percentiles``, ``limits`` (how intensities become lightness,
            :func:`~napari_colorize.color.intensity_limits`; None: the default), ``saturation``
            (0 = gray, 1 = the model's colors) and ``confidence`` (also return ``confidence``
            (..., H, W) in 0..1, for models with ``predict_confidence``).
        hints : Hints, array (N, 5..7) of points, CSV path, or None
            A table of points or a CSV path goes into the request; dense hints travel beside
            it (see :func:`~napari_colorize.protocol.encode_hints`).
        should_stop : callable, optional
            Polled while the worker runs; True stops it (see :meth:`iter_request`).
        """
        request, beside = _request_of(request, model, hints, options)
        if hasattr(image, "dask") and np.prod(image.shape[: -3 if request.rgb else -2]) > 1:
            return (
                yield from self.iter_colorize_planes(
                    image, request=request, hints=beside, should_stop=should_stop
                )
            )
        image = np.asarray(image.compute() if hasattr(image, "compute") else image)
        out_dir = Path(tempfile.mkdtemp(prefix="out-", dir=self.scratch_dir()))
        try:
            res = yield from self.iter_request(
                "colorize",
                image=image,
                out_dir=str(out_dir),
                request=request.to_dict(),
                hints=encode_hints(beside),
                should_stop=should_stop,
            )
            return res
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def iter_colorize_store(
        self,
        levels: Sequence[Any],
        model: Any,
        out: str | os.PathLike,
        *,
        scale: Sequence[float] = (1.0, 1.0),
        translate: Sequence[float] = (0.0, 0.0),
        hints: Any = None,
        limits: Sequence[float] | None = None,
        saturation: float = 1.0,
        should_stop: Callable[[], bool] | None = None,
        src: str | os.PathLike | None = None,
        sample_grid: Sequence[int] | None = None,
        request: ColorizeRequest | None = None,
        **options: Any,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize a multiscale gray image in the worker into the OME-Zarr RGB pyramid ``out``.

        With ``sample_grid`` (h, w), a ``"band"`` event follows each band of level 0 written:
        ``rows`` (r0, r1) and ``rgb``, those rows of the result sampled on the grid
        (:func:`~napari_colorize.multiscale.preview_sample`), to replace a preview as it comes.

        The levels (numpy or dask (H, W), level 0 first) travel as a path: they are written
        chunk by chunk into an OME-Zarr store in this worker's scratch folder (never held whole),
        which the worker reads lazily; it writes ``out`` chunk by chunk (level 0 at ``scale``
        and ``translate``, each lower level at its size ratio, pixel centres aligned).  With
        ``src``, an OME-Zarr image on disk that holds these levels, the worker reads it directly
        (nothing is copied; its own scales go to ``out``).
        ``request`` (or ``model``, ``hints``, ``limits``, ``saturation`` and the tiling
        ``**options``, which build it) travels as its dict.
        Returns ``{"store", "levels", "plan", "limits", "model"}``.
        """
        import warnings

        import dask
        import dask.array as da
        import zarr
        from ome_zarr.writer import write_multiscale

        from .multiscale import ZARR_CHUNK, check_levels

        shapes = check_levels(levels)
        if request is None:
            options = {**options, "limits": limits, "saturation": saturation}
        request, beside = _request_of(request, model, hints, options)
        wire = request.to_dict()
        extra: dict[str, Any] = {}

        def send(store: str | os.PathLike) -> Generator[dict, None, dict[str, Any]]:
            bands = None
            if sample_grid is not None:
                extra["sample_grid"] = [int(n) for n in sample_grid]
                bands = Path(tempfile.mkdtemp(prefix="bands-", dir=self.scratch_dir()))
                extra["band_dir"] = str(bands)
            events = self.iter_request(
                "colorize_store",
                src=str(store),
                out=str(out),
                request=wire,
                hints=encode_hints(beside),
                should_stop=should_stop,
                **extra,
            )
            try:
                while True:
                    try:
                        ev = next(events)
                    except StopIteration as done:
                        return done.value
                    if ev.get("stage") == "band" and isinstance(ev.get("rgb"), dict):
                        path = ev["rgb"].get("__npy__")
                        ev = {**ev, "rgb": decode_arrays(ev["rgb"])}
                        Path(path).unlink(missing_ok=True)  # read whole: the file is done with
                    yield ev
            finally:
                events.close()
                if bands is not None:
                    shutil.rmtree(bands, ignore_errors=True)

        if src is not None:
            return (yield from send(src))
        src = Path(tempfile.mkdtemp(prefix="slide-", dir=self.scratch_dir())) / "gray.zarr"
        try:
            H0, W0 = shapes[0]
            transforms = []
            for h, w in shapes:
                f = (H0 / h, W0 / w)
                transforms.append(
                    [
                        {"type": "scale", "scale": [float(scale[0]) * f[0], float(scale[1]) * f[1]]},
                        {
                            "type": "translation",
                            "translation": [
                                float(translate[0]) + float(scale[0]) * (f[0] - 1) / 2,
                                float(translate[1]) + float(scale[1]) * (f[1] - 1) / 2,
                            ],
                        },
                    ]
                )
            group = zarr.open_group(str(src), mode="w")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # coordinate_transformations
                delayed = write_multiscale(
                    [da.asarray(a) for a in levels],
                    group,
                    axes=["y", "x"],
                    coordinate_transformations=transforms,
                    storage_options=[{"chunks": (min(ZARR_CHUNK, h), min(ZARR_CHUNK, w))} for h, w in shapes],
                    compute=False,
                )
            with dask.config.set(scheduler="threads"):
                dask.compute(*delayed)
            return (yield from send(src))
        finally:
            shutil.rmtree(src.parent, ignore_errors=True)

    def iter_colorize_planes(
        self,
        image: Any,
        request: ColorizeRequest,
        *,
        hints: Any = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize a stack plane by plane, never holding more than one input plane.

        Outputs are written into ``.npy`` memory maps in the worker's temporary
        folder, so a large stack is not held in RAM either.  A gray stack gets one
        pair of intensity limits for all its planes; hints on a (T, H, W) stack go
        to their own plane.  ``hints`` are those beside the request (see :meth:`iter_colorize`).
        """
        from .color import intensity_limits

        rgb = request.rgb
        spatial = image.shape[-3:-1] if rgb else image.shape[-2:]
        lead = image.shape[:-3] if rgb else image.shape[:-2]
        n = int(np.prod(lead))
        hints = encode_hints(hints) or request.wire_hints()
        request = request.replace(hints=None)
        if not rgb:
            limits = intensity_limits(
                image, normalize=request.normalize, percentiles=request.percentiles, limits=request.limits
            )
            request = request.replace(limits=limits)
        store = Path(tempfile.mkdtemp(prefix="stack-", dir=self.scratch_dir()))
        mm = {
            "L": np.lib.format.open_memmap(store / "L.npy", "w+", np.float32, lead + spatial),
            "ab": np.lib.format.open_memmap(store / "ab.npy", "w+", np.float32, lead + spatial + (2,)),
            "rgb": np.lib.format.open_memmap(store / "rgb.npy", "w+", np.float32, lead + spatial + (3,)),
        }
        if request.confidence:
            mm["confidence"] = np.lib.format.open_memmap(
                store / "confidence.npy", "w+", np.float32, lead + spatial
            )
        res: dict[str, Any] = {}
        near_gray: list[str | None] = []
        for i, idx in enumerate(np.ndindex(*lead)):
            plane = image[idx]
            plane = np.asarray(plane.compute() if hasattr(plane, "compute") else plane)
            gen = self.iter_colorize(
                plane, request=request, hints=hints_plane(hints, i), should_stop=should_stop
            )
            try:
                while True:
                    ev = next(gen)
                    yield {**ev, "plane": i, "planes": n}
            except StopIteration as s:
                res = s.value
            near_gray.append(res.get("near_gray"))
            for k in mm:
                mm[k][idx] = res[k]
            yield {"event": "progress", "stage": "planes", "done": i + 1, "total": n}
        for k in mm:
            mm[k].flush()
        # a stack is nearly gray when every plane is
        return {**res, **mm, "near_gray": near_gray[0] if near_gray and all(near_gray) else None}

    def colorize(
        self,
        image: Any,
        model: Any = None,
        *,
        progress: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Blocking colorize through the worker (see :meth:`iter_colorize`)."""
        gen = self.iter_colorize(image, model, should_stop=should_stop, **options)
        return drive(gen, self, progress, should_stop)

    def iter_train(
        self,
        method: str,
        images: Any,
        *,
        out: str | os.PathLike | None = None,
        config: dict[str, Any] | None = None,
        box: Sequence[int] | None = None,
        init: str | os.PathLike | None = None,
        overwrite: bool = False,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Train in the worker; yields progress (batch/epoch, loss); returns path and history.

        ``overwrite`` replaces an existing model folder at ``out`` (see :func:`napari_colorize.api.train`).
        """
        if isinstance(images, (list, tuple)):
            images = [
                np.asarray(x.compute() if hasattr(x, "compute") else x)
                if not isinstance(x, (str, os.PathLike))
                else str(x)
                for x in images
            ]
        elif isinstance(images, (str, os.PathLike)):
            images = str(images)
        else:
            images = [np.asarray(images)]
        return (
            yield from self.iter_request(
                "train",
                method=method,
                images=images,
                out=str(out) if out is not None else None,
                config=dict(config or {}),
                box=list(box) if box is not None else None,
                init=str(init) if init is not None else None,
                overwrite=bool(overwrite),
            )
        )

    def train(
        self,
        method: str,
        images: Any,
        *,
        progress: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """Blocking :meth:`iter_train`."""
        return drive(self.iter_train(method, images, **kw), self, progress, should_stop, TRAIN_STOP_GRACE)

    def fetch(
        self,
        name: str,
        *,
        overwrite: bool = False,
        progress: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Download and install the pretrained model ``name`` in the worker (the download and
        the conversion, torch and TensorFlow included, stay out of this process); returns its
        ``path``.  Progress events: ``"download"`` (bytes), then ``"converting"``."""
        return self.request(
            "fetch", progress=progress, should_stop=should_stop, name=name, overwrite=bool(overwrite)
        )

    def describe(self, model: Any) -> dict[str, Any]:
        """Block size, receptive field, default tiling and config of a model (loads it in the child)."""
        return self.request("describe", model=str(model) if isinstance(model, Path) else model)


def _request_of(
    request: ColorizeRequest | None, model: Any, hints: Any, options: dict[str, Any]
) -> tuple[ColorizeRequest, Any]:
    """The request to send and the hints beside it: ``request``, or the one that ``model``,
    ``hints`` and the keyword conveniences ``options`` build."""
    in_request, beside = split_hints(hints)
    if request is None:
        return ColorizeRequest.build(model=model, hints=in_request, **options), beside
    if model is not None or options or in_request is not None:
        raise ConfigError("give a colorize request or its keywords (model, hints, options), not both")
    return request, beside


_WORKERS: dict[str, Worker] = {}
_WORKERS_LOCK = threading.Lock()


def get_worker(role: str = "interactive") -> Worker:
    """The process-wide worker of a role (created on first use; its process starts lazily).

    Parameters
    ----------
    role : {"interactive", "train"}
        ``"train"`` for trainings, ``"interactive"`` for colorize, describe and evaluate.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown worker role {role!r}; use one of {', '.join(ROLES)}")
    with _WORKERS_LOCK:
        if role not in _WORKERS:
            _WORKERS[role] = Worker(role=role)
        return _WORKERS[role]


def running_workers() -> list[Worker]:
    """The process-wide workers whose process is alive."""
    return [w for w in list(_WORKERS.values()) if w.alive]


def shutdown_workers() -> None:
    """Stop every process-wide worker (also runs at interpreter exit); they restart on the next request."""
    for w in list(_WORKERS.values()):
        w.shutdown()


atexit.register(shutdown_workers)
