"""The engine-process server: runs requests from a client, with TensorFlow, in its own process.

Started by :class:`napari_colorize.client.Worker` as ``python -m napari_colorize.server``
(never with ``multiprocessing`` spawn, which re-runs an unguarded ``__main__`` script).
It speaks the line protocol of :mod:`napari_colorize.protocol` on a private copy
of stdout; stray prints from libraries go to stderr.  It serves one request at a
time, keeps loaded models warm, and exits at once when its stdin closes (the
client went away).

Commands: ``ping``, ``describe``, ``colorize``, ``colorize_store`` (OME-Zarr in and out), ``train``
and ``evaluate``.
More handlers can be registered from the module named in
``$NAPARI_COLORIZE_SERVER_HANDLERS``: its ``HANDLERS`` dict maps a command to
``handler(server, rid, **args)``.  Only tests use this (to crash or stall a server).
"""

from __future__ import annotations

import functools
import importlib
import itertools
import os
import queue
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .errors import InputError, NearGrayWarning
from .io import jsonable
from .protocol import decode_arrays, decode_hints, dumps, error_message, loads, progress_event

__all__ = ["Server", "ProgressCallback", "HANDLERS_ENV", "main"]

#: environment variable naming a module whose ``HANDLERS`` are added to the server's commands
HANDLERS_ENV = "NAPARI_COLORIZE_SERVER_HANDLERS"


class ProgressCallback:
    """A Keras-compatible callback that streams training progress and honours stops.

    Duck-typed (Keras 3 accepts any object with the callback methods), so that
    methods that do not use Keras need not import it.

    Parameters
    ----------
    send : callable(dict)
        Sends one progress event (made with :func:`~napari_colorize.protocol.progress_event`).
    stop : threading.Event
        Set when the client asks to stop; training stops after the current batch.
    """

    def __init__(self, send: Callable[[dict], None], stop: threading.Event) -> None:
        self._send = send
        self._stop = stop
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self.epoch = 0
        self.stopped = False
        self._last = 0.0

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params or {})

    def _check_stop(self) -> None:
        if self._stop.is_set() and not self.stopped:
            self.stopped = True
            if self.model is not None and hasattr(self.model, "stop_training"):
                self.model.stop_training = True

    def _event(self, stage: str, **fields: Any) -> None:
        self._send(
            progress_event(
                None, stage, epochs=self.params.get("epochs"), steps=self.params.get("steps"), **fields
            )
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._event("train_begin")
        self._check_stop()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = int(epoch)
        self._check_stop()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            loss = _floats(logs).get("loss")
            self._event("batch", epoch=self.epoch, batch=int(batch) + 1, loss=loss)
        self._check_stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._event("epoch", epoch=int(epoch) + 1, logs=jsonable(_floats(logs)))
        self._check_stop()

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # every other hook (on_test_*, on_predict_*, on_batch_*) only checks for a stop
        if name.startswith("on_"):
            return lambda *a, **k: self._check_stop()
        raise AttributeError(name)


def _floats(logs: dict | None) -> dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def _describe(model: Any) -> dict[str, Any]:
    from .engine import has_confidence

    return {
        "method": model.name,
        "block_size": int(model.block_size),
        "receptive_field": int(model.receptive_field),
        "default_tile": int(model.default_tile),
        "default_overlap": int(model.default_overlap),
        "config": model.config.to_dict(),
        "trained": bool(getattr(model, "trained", True)),
        "confidence": has_confidence(model),
    }


class Server:
    """Serves requests read from ``stdin`` and writes events to ``out``.

    Attributes
    ----------
    handlers : dict
        Command name -> ``handler(rid, **args)``.
    stop_requested : threading.Event
        Set while the client wants the current request to stop.
    """

    #: how many loaded models stay warm
    MODEL_CACHE = 4

    def __init__(self, out: TextIO, stdin: TextIO | None = None) -> None:
        self._out = out
        self._stdin = stdin if stdin is not None else sys.stdin
        self._out_lock = threading.Lock()
        self._requests: queue.Queue = queue.Queue()
        self.stop_requested = threading.Event()
        self._current: int | None = None
        self._stopped: set = set()
        self._models: dict[tuple[str, float], Any] = {}
        self.handlers: dict[str, Callable[..., Any]] = {
            "ping": self.do_ping,
            "describe": self.do_describe,
            "colorize": self.do_colorize,
            "colorize_store": self.do_colorize_store,
            "train": self.do_train,
            "evaluate": self.do_evaluate,
            "fetch": self.do_fetch,
        }
        extra = os.environ.get(HANDLERS_ENV)
        if extra:
            for cmd, fn in importlib.import_module(extra).HANDLERS.items():
                self.handlers[cmd] = functools.partial(fn, self)

    # -- io --------------------------------------------------------------
    def send(self, msg: dict) -> None:
        """Write one event line."""
        line = dumps(msg)
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def progress(self, rid: int, stage: str, **fields: Any) -> None:
        """Send a progress event of request ``rid``."""
        self.send(progress_event(rid, stage, **fields))

    def _read_stdin(self) -> None:
        for line in self._stdin:
            msg = loads(line)
            if msg is None:
                continue
            if msg.get("cmd") == "stop":
                # a stop may overtake its request: remember it for when it starts
                self._stopped.add(msg.get("id"))
                if msg.get("id") is None or msg.get("id") == self._current:
                    self.stop_requested.set()
                continue
            self._requests.put(msg)
        # the client went away (or closed our stdin): leave at once
        os._exit(0)

    def serve(self) -> None:
        """Announce readiness, then serve requests until ``shutdown``."""
        threading.Thread(target=self._read_stdin, daemon=True, name="server-stdin").start()
        self.send({"id": None, "event": "ready", "pid": os.getpid()})
        while True:
            msg = self._requests.get()
            rid, cmd = msg.get("id"), msg.get("cmd")
            if cmd == "shutdown":
                self.send({"id": rid, "event": "result", "value": None})
                return
            self.stop_requested.clear()
            self._current = rid
            if rid in self._stopped:
                self.stop_requested.set()
            try:
                handler = self.handlers.get(cmd)
                if handler is None:
                    raise InputError(f"unknown worker command {cmd!r}")
                value = handler(rid, **decode_arrays(msg.get("args") or {}, mmap=True))
                self.send({"id": rid, "event": "result", "value": value})
            except Exception as e:  # every error goes back to the client
                self.send(error_message(rid, e, traceback.format_exc()))
            finally:
                self._current = None

    # -- models ------------------------------------------------------------
    def model(self, spec: str, rid: int | None = None) -> Any:
        """A loaded model for a name or folder, cached by folder and ``config.json`` time.

        With ``rid``, loading a model that is not cached yet is announced as a
        ``"loading"`` progress event of that request (the first Keras model also
        starts TensorFlow, which takes seconds).
        """
        from .catalogue import resolve_model_path
        from .methods import load_model

        path = resolve_model_path(spec)
        cfg = path / "config.json"
        key = (str(path.resolve()), cfg.stat().st_mtime if cfg.is_file() else 0.0)
        if key not in self._models:
            if rid is not None:
                self.progress(rid, "loading", model=path.name)
            model = load_model(path)  # a folder of the wrong kind raises here, before caching
            if len(self._models) >= self.MODEL_CACHE:
                self._models.pop(next(iter(self._models)))
            self._models[key] = model
        return self._models[key]

    def _tiles_progress(self, rid: int) -> Callable[[int, int], None]:
        """The engine's ``progress(done, total)`` as ``"tiles"`` events of request ``rid``."""

        def progress(done: int, total: int) -> None:
            self.progress(rid, "tiles", done=int(done), total=int(total))

        return progress

    # -- commands ------------------------------------------------------------
    def do_ping(self, rid: int) -> dict[str, Any]:
        from ._version import __version__

        return {"pid": os.getpid(), "version": __version__, "tensorflow": "tensorflow" in sys.modules}

    def do_describe(self, rid: int, model: str) -> dict[str, Any]:
        return _describe(self.model(model, rid))

    def do_colorize(
        self,
        rid: int,
        image: Any,
        out_dir: str,
        request: dict[str, Any],
        hints: dict | None = None,
    ) -> dict[str, Any]:
        """Colorize ``image`` as the :class:`~napari_colorize.request.ColorizeRequest` of the dict
        ``request`` says (:func:`napari_colorize.api.colorize_request`); ``hints``, in
        :func:`~napari_colorize.protocol.encode_hints`'s form, are those beside the request (they
        replace its own).  The result holds the ``.npy`` paths of L, ab, rgb (and ``confidence``),
        the plan, the limits, the model's description and ``near_gray``
        (``Colorization.near_gray``: None, or one line saying that the automatic result is nearly
        gray and what to do)."""
        from . import api
        from .color import _image_and_rgb
        from .request import ColorizeRequest

        req = ColorizeRequest.from_dict(request)
        m = self.model(req.model, rid)
        wire = hints or req.wire_hints()
        beside = None
        if wire:
            is_rgb = _image_and_rgb(image, req.rgb)[1]
            beside = decode_hints(wire, tuple(image.shape[:-1] if is_rgb else image.shape))
        with warnings.catch_warnings():
            # the result's near_gray field carries it to the client
            warnings.simplefilter("ignore", NearGrayWarning)
            res = api.colorize_request(
                image,
                req,
                model=m,
                hints=beside,
                progress=self._tiles_progress(rid),
                should_stop=self.stop_requested.is_set,
            )
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for key in ("L", "ab", "rgb", "confidence"):
            arr = getattr(res, key)
            if arr is None:
                continue
            arr = np.asarray(arr.compute() if hasattr(arr, "compute") else arr, dtype=np.float32)
            np.save(out / f"{key}.npy", arr)
            files[key] = {"__npy__": str(out / f"{key}.npy")}
        plan = res.plan.to_dict() if res.plan is not None else None
        limits = [float(v) for v in res.limits] if getattr(res, "limits", None) is not None else None
        return {**files, "plan": plan, "limits": limits, "model": _describe(m), "near_gray": res.near_gray}

    def do_colorize_store(
        self,
        rid: int,
        src: str,
        out: str,
        request: dict[str, Any],
        hints: dict | None = None,
        sample_grid: list[int] | None = None,
        band_dir: str | None = None,
    ) -> dict[str, Any]:
        """Colorize the multiscale gray OME-Zarr image ``src`` into the OME-Zarr RGB pyramid ``out``,
        as the :class:`~napari_colorize.request.ColorizeRequest` of the dict ``request`` says
        (``hints`` as :meth:`do_colorize` takes them).

        The levels travel as a path, never as arrays: level 0 is colorized tile by tile, each
        level written chunk by chunk (:func:`~napari_colorize.multiscale.write_rgb_store`).
        With ``sample_grid`` (h, w) and ``band_dir``, each band of level 0 written sends a
        ``"band"`` progress event: the finished rows of the result sampled on that grid
        (:func:`~napari_colorize.multiscale.preview_sample`), as a ``.npy`` file in ``band_dir``,
        so that the client replaces its preview as the result is written.
        Returns the store's path, the levels' count, level 0's tile plan and the limits used.
        """
        from . import api
        from .multiscale import preview_sample, read_ome_zarr, write_rgb_store
        from .request import ColorizeRequest

        req = ColorizeRequest.from_dict(request)
        m = self.model(req.model, rid)
        image = read_ome_zarr(src)
        wire = hints or req.wire_hints()
        beside = decode_hints(wire, tuple(int(n) for n in image.levels[0].shape)) if wire else None
        res = api.colorize_request(
            image.levels,
            req,
            model=m,
            hints=beside,
            progress=self._tiles_progress(rid),
            should_stop=self.stop_requested.is_set,
        )
        sample = on_band = None
        if sample_grid is not None and band_dir is not None:
            sample = preview_sample(image.levels[0].shape, sample_grid)
            files = itertools.count()

            def on_band(r0: int, r1: int, rgb: np.ndarray) -> None:
                path = Path(band_dir, f"band{next(files)}.npy")
                np.save(path, rgb)
                self.progress(rid, "band", rows=[int(r0), int(r1)], rgb={"__npy__": str(path)})

        write_rgb_store(
            out,
            res.L,
            res.ab[0],
            sample=sample,
            on_band=on_band,
            scale=image.scale,
            translation=image.translation,
            units=image.units,
            name=image.name,
            metadata={"limits": [float(v) for v in res.limits], "model": _describe(m).get("method")},
        )
        plan = res.plan.to_dict() if res.plan is not None else None
        return {
            "store": str(out),
            "levels": len(res.L),
            "plan": plan,
            "limits": [float(v) for v in res.limits],
            "model": _describe(m),
        }

    def do_train(
        self,
        rid: int,
        method: str,
        images: Any,
        out: str | None = None,
        config: dict | None = None,
        box: list[int] | None = None,
        init: str | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        from . import api

        cb = ProgressCallback(lambda ev: self.send({**ev, "id": rid}), self.stop_requested)
        model = api.train(
            method,
            images,
            out=out,
            config=config or {},
            init=init,
            overwrite=overwrite,
            callbacks=[cb],
            box=tuple(box) if box else None,
        )
        if out is not None:
            self.progress(rid, "saved", path=str(out))
        history = {k: [float(v) for v in vals] for k, vals in (getattr(model, "history", None) or {}).items()}
        return {"path": out, "history": history, "stopped": cb.stopped, "model": _describe(model)}

    def do_evaluate(self, rid: int, pred: Any, truth: Any) -> dict[str, Any]:
        from .metrics import evaluate_pair

        return jsonable(evaluate_pair(np.asarray(pred), np.asarray(truth)))

    def do_fetch(self, rid: int, name: str, overwrite: bool = False) -> dict[str, Any]:
        """Download, check and install the pretrained model ``name``
        (:func:`napari_colorize.install.fetch`); progress ``"download"`` (bytes), then
        ``"converting"``; a stop request cancels the download."""
        from .install import fetch

        def progress(stage: str, done: int, total: int) -> None:
            self.progress(rid, stage, done=int(done), total=int(total), model=name)

        path = fetch(name, overwrite=overwrite, progress=progress, should_stop=self.stop_requested.is_set)
        return {"path": str(path), "name": name}


def main() -> None:
    """Serve on this process's stdin/stdout (``python -m napari_colorize.server``)."""
    # keep the protocol on a private copy of stdout; stray prints go to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .memory import tune_allocator

    tune_allocator()  # long tiled runs: freed tiles go back to the system
    Server(proto).serve()


if __name__ == "__main__":
    main()
