"""The client of the engine process, for napari and for scripts.

TensorFlow and napari cannot share a process on Mesa OpenGL (see docs/architecture.md:
clashing LLVM symbols segfault), so the engine runs in a child process,
:mod:`napari_colorize.server`, started as ``python -m napari_colorize.server``
(not ``multiprocessing`` spawn, which re-runs an unguarded ``__main__`` script).
A :class:`Worker` owns one such process, keeps it warm between requests and
restarts it after a crash.

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
import collections
import itertools
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Cancelled, ConfigError
from .protocol import (
    STOP_GRACE,
    TRAIN_STOP_GRACE,
    WorkerCrashed,
    WorkerError,
    clean_normalize_options,
    clean_tiling_options,
    decode_arrays,
    dumps,
    encode_arrays,
    encode_hints,
    error_from_message,
    hints_plane,
    loads,
    progress_event,
)

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

#: the worker roles: training runs apart from everything else
ROLES = ("interactive", "train")

#: the module the child runs
SERVER_MODULE = "napari_colorize.server"


#: the start of a worker scratch folder's name: ``napari-colorize-<owner pid>-XXXX``
SCRATCH_PREFIX = "napari-colorize-"
_SCRATCH_NAME = re.compile(r"napari-colorize-(\d+)-[A-Za-z0-9_]+")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_dead_scratch(tmpdir: str | os.PathLike | None = None) -> list[Path]:
    """Remove the worker scratch folders of this user whose owner process is gone; returns them.

    Only ``napari-colorize-<pid>-XXXX`` folders in the temporary folder, owned by this user,
    whose ``pid`` runs no process any more.
    """
    root = Path(tmpdir if tmpdir is not None else tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.glob(f"{SCRATCH_PREFIX}*-*"))
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for p in entries:
        m = _SCRATCH_NAME.fullmatch(p.name)
        if not m:
            continue
        try:
            st = p.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
            continue
        pid = int(m[1])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


class Worker:
    """Client of one engine worker process (started on demand, kept alive).

    Parameters
    ----------
    role : str
        A name for the worker (``"interactive"`` or ``"train"`` for the process-wide ones).
    env : dict, optional
        Extra environment variables for the child.
    stop_grace : float
        Seconds a cooperative stop may take before the child is killed.

    Notes
    -----
    One request runs at a time; :meth:`stop` may be called from any thread.
    If the child dies during a request, the request raises
    :class:`WorkerCrashed` and the next request starts a fresh child.
    """

    def __init__(
        self,
        *,
        role: str = "interactive",
        env: dict[str, str] | None = None,
        stop_grace: float = STOP_GRACE,
        start_timeout: float = 120.0,
    ) -> None:
        self.role = role
        self._env = dict(env or {})
        self.stop_grace = stop_grace
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._events: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.RLock()  # one request at a time
        self._write_lock = threading.Lock()
        self._current: int | None = None
        self._stop_deadline: float | None = None
        self._stop_grace_now = stop_grace
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._tmp: Path | None = None
        self.starts = 0  # how many child processes were started (tests, diagnostics)

    # -- process management -------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def scratch_dir(self) -> Path:
        """A private temporary folder of this worker (removed at shutdown).

        Named ``napari-colorize-<pid>-XXXX`` after this process, so that the folders of a
        process that died without cleaning up (killed) are removed here, by the next one.
        """
        if self._tmp is None or not self._tmp.exists():
            clean_dead_scratch()
            self._tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        return self._tmp

    def start(self) -> None:
        """Start the child if it is not running (waits until it is ready)."""
        with self._lock:
            if self.alive:
                return
            self._cleanup_proc()
            clean_dead_scratch()
            env = {**os.environ, **self._env}
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            env["PYTHONUNBUFFERED"] = "1"
            # the child must be able to import this package even when it was
            # put on sys.path by hand (not installed)
            pkg_root = Path(__file__).resolve().parent.parent
            if pkg_root.name not in ("site-packages", "dist-packages"):  # never shadow the stdlib
                env["PYTHONPATH"] = str(pkg_root) + (
                    os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
                )
            self._events = queue.Queue()
            kw: dict[str, Any] = {}
            if os.name == "posix":
                kw["start_new_session"] = True  # Ctrl-C in a terminal goes to the parent only
            self._proc = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
                bufsize=1,
                **kw,
            )
            self.starts += 1
            proc = self._proc
            threading.Thread(
                target=self._read_stdout,
                args=(proc, self._events),
                daemon=True,
                name=f"colorize-{self.role}-out",
            ).start()
            threading.Thread(
                target=self._read_stderr, args=(proc,), daemon=True, name=f"colorize-{self.role}-err"
            ).start()
            deadline = time.monotonic() + self.start_timeout
            while True:
                try:
                    msg = self._events.get(timeout=0.2)
                except queue.Empty:
                    if time.monotonic() > deadline:
                        self._kill()
                        raise WorkerCrashed("the engine worker did not start in time") from None
                    continue
                if msg.get("event") == "ready":
                    return
                if msg.get("event") == "dead":
                    raise WorkerCrashed(f"the engine worker failed to start:\n{self.stderr_tail()}")

    @staticmethod
    def _read_stdout(proc: subprocess.Popen, events: queue.Queue) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            msg = loads(line)
            if msg is not None:
                events.put(msg)
        proc.wait()
        events.put({"id": None, "event": "dead", "returncode": proc.returncode})

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        verbose = os.environ.get("NAPARI_COLORIZE_WORKER_VERBOSE")
        for line in proc.stderr:
            self._stderr_tail.append(line.rstrip("\n"))
            if verbose:
                sys.__stderr__.write(f"[{self.role} worker] {line}")

    def stderr_tail(self, n: int = 15) -> str:
        """The last lines the child wrote to stderr (for error messages)."""
        return "\n".join(list(self._stderr_tail)[-n:])

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass

    def _cleanup_proc(self) -> None:
        proc = self._proc
        if proc is not None:
            for f in (proc.stdin,):
                try:
                    if f is not None:
                        f.close()
                except OSError:
                    pass
        self._proc = None

    def shutdown(self, timeout: float = 3.0) -> None:
        """Stop the child: ask politely, close its stdin, then kill."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if self._current is not None:
                self.stop()
            try:
                self._send({"id": 0, "cmd": "shutdown"})
                assert proc.stdin is not None
                proc.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:  # pragma: no cover
                    pass
        self._proc = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    close = shutdown

    def kill(self) -> None:
        """Kill the child at once (simulates a crash in tests)."""
        self._kill()

    def _send(self, msg: dict) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise WorkerCrashed("the engine worker is not running")
        with self._write_lock:
            proc.stdin.write(dumps(msg) + "\n")
            proc.stdin.flush()

    # -- requests -----------------------------------------------------------
    def stop(self, grace: float | None = None) -> None:
        """Ask the running request to stop (cooperatively); kill after ``grace`` s.

        ``grace`` defaults to :attr:`stop_grace`; training passes a longer one,
        since a Keras batch plus the epoch's validation may take a while.
        """
        rid = self._current
        if rid is None:
            return
        if self._stop_deadline is None:
            self._stop_grace_now = self.stop_grace if grace is None else float(grace)
            self._stop_deadline = time.monotonic() + self._stop_grace_now
        try:
            self._send({"id": rid, "cmd": "stop"})
        except (OSError, ValueError, WorkerCrashed):
            pass

    cancel = stop

    def iter_request(
        self, cmd: str, *, should_stop: Callable[[], bool] | None = None, **args: Any
    ) -> Generator[dict, None, Any]:
        """Send a request; yield its progress events; return its result.

        ``should_stop``, polled while the request runs (from the moment it is sent), stops it
        as :meth:`stop` does: a caller in another thread sets a flag, and is never too early
        for the request that its run is making.

        Raises
        ------
        Cancelled
            When stopped and the child had to be terminated, or the request
            raised Cancelled.
        WorkerCrashed
            When the child died; the next request starts a fresh one.
        ColorizeError
            Errors raised in the child are re-raised here with their type.
        """
        with self._lock:
            if not self.alive:
                yield progress_event(None, "starting")
            self.start()
            rid = next(self._ids)
            req_dir = Path(tempfile.mkdtemp(prefix=f"req{rid}-", dir=self.scratch_dir()))
            payload = encode_arrays(args, req_dir, itertools.count())
            self._current = rid
            self._stop_deadline = None
            events = self._events
            try:
                self._send({"id": rid, "cmd": cmd, "args": payload})
                while True:
                    if should_stop is not None and self._stop_deadline is None and should_stop():
                        self.stop()
                    try:
                        msg = events.get(timeout=0.1)
                    except queue.Empty:
                        if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                            self._kill()
                            self._cleanup_proc()
                            raise Cancelled(
                                f"{cmd} stopped: the engine worker was terminated after "
                                f"{self._stop_grace_now:g} s"
                            ) from None
                        continue
                    ev = msg.get("event")
                    if ev == "dead":
                        self._cleanup_proc()
                        if self._stop_deadline is not None:
                            raise Cancelled(f"{cmd} stopped")
                        tail = self.stderr_tail()
                        raise WorkerCrashed(
                            f"the engine worker died during {cmd!r} (exit code {msg.get('returncode')}); "
                            f"a new one starts with the next request." + (f"\n{tail}" if tail else "")
                        )
                    if msg.get("id") != rid:
                        continue
                    if ev == "progress":
                        yield msg
                    elif ev == "result":
                        return decode_arrays(msg.get("value"))
                    elif ev == "error":
                        raise error_from_message(msg)
            except (BrokenPipeError, OSError) as e:
                if isinstance(e, BrokenPipeError) or not self.alive:
                    self._cleanup_proc()
                    raise WorkerCrashed(
                        f"the engine worker died ({e}); a new one starts with the next request"
                    ) from None
                raise
            finally:
                self._current = None
                self._stop_deadline = None
                shutil.rmtree(req_dir, ignore_errors=True)

    def request(
        self,
        cmd: str,
        *,
        progress: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        **args: Any,
    ) -> Any:
        """Blocking :meth:`iter_request`; ``progress(event)`` gets each event."""
        return _drive(self.iter_request(cmd, should_stop=should_stop, **args), self, progress, should_stop)

    # -- typed helpers -----------------------------------------------------------
    def iter_colorize(
        self,
        image: Any,
        model: Any,
        *,
        rgb: bool | None = None,
        hints: Any = None,
        normalize: str | None = None,
        percentiles: Sequence[float] | None = None,
        limits: Sequence[float] | None = None,
        saturation: float = 1.0,
        confidence: bool = False,
        should_stop: Callable[[], bool] | None = None,
        **options: Any,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize in the worker; yields progress; returns L, ab, rgb arrays, the plan and the limits.

        The result's ``near_gray`` is None, or one line for the status bar saying that the
        automatic result is nearly gray and what to do (``Colorization.near_gray``).

        ``image`` is a numpy array (..., H, W); dask arrays are computed plane
        by plane (see :func:`iter_colorize_planes`).

        Parameters
        ----------
        hints : Hints, array (N, 5..7) of points, CSV path, or None
            See :func:`~napari_colorize.protocol.encode_hints`.
        normalize, percentiles, limits
            How intensities become lightness (:func:`~napari_colorize.color.intensity_limits`).
        saturation : float
            Multiplies the predicted ab (0 = gray, 1 = the model's colors).
        confidence : bool
            Also return ``confidence`` (..., H, W) in 0..1 (models with ``predict_confidence``).
        should_stop : callable, optional
            Polled while the worker runs; True stops it (see :meth:`iter_request`).
        **options
            Tiling options (:data:`~napari_colorize.tiling.TILING_KEYS`).
        """
        from .color import check_saturation

        intensity = clean_normalize_options(
            {"normalize": normalize, "percentiles": percentiles, "limits": limits}
        )
        extra = _color_options(check_saturation(saturation), confidence)
        hints = encode_hints(hints)
        if hasattr(image, "dask") and np.prod(image.shape[: -2 if not rgb else -3]) > 1:
            return (
                yield from self.iter_colorize_planes(
                    image,
                    model,
                    rgb=rgb,
                    hints=hints,
                    should_stop=should_stop,
                    **intensity,
                    **extra,
                    **options,
                )
            )
        image = np.asarray(image.compute() if hasattr(image, "compute") else image)
        model = str(model) if isinstance(model, Path) else model
        out_dir = Path(tempfile.mkdtemp(prefix="out-", dir=self.scratch_dir()))
        try:
            res = yield from self.iter_request(
                "colorize",
                image=image,
                model=model,
                out_dir=str(out_dir),
                options=clean_tiling_options(options),
                rgb=rgb,
                intensity=intensity,
                hints=hints,
                should_stop=should_stop,
                **extra,
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
        Returns ``{"store", "levels", "plan", "limits", "model"}``.
        """
        import warnings

        import dask
        import dask.array as da
        import zarr
        from ome_zarr.writer import write_multiscale

        from .color import check_saturation
        from .multiscale import ZARR_CHUNK, check_levels

        shapes = check_levels(levels)
        extra = _color_options(check_saturation(saturation), False)
        intensity = clean_normalize_options({"limits": limits})

        def request(store: str | os.PathLike) -> Generator[dict, None, dict[str, Any]]:
            bands = None
            if sample_grid is not None:
                extra["sample_grid"] = [int(n) for n in sample_grid]
                bands = Path(tempfile.mkdtemp(prefix="bands-", dir=self.scratch_dir()))
                extra["band_dir"] = str(bands)
            events = self.iter_request(
                "colorize_store",
                src=str(store),
                out=str(out),
                model=str(model) if isinstance(model, Path) else model,
                options=clean_tiling_options(options),
                intensity=intensity,
                hints=encode_hints(hints),
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
            return (yield from request(src))
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
            return (yield from request(src))
        finally:
            shutil.rmtree(src.parent, ignore_errors=True)

    def iter_colorize_planes(
        self,
        image: Any,
        model: Any,
        *,
        rgb: bool | None = None,
        hints: Any = None,
        normalize: str | None = None,
        percentiles: Sequence[float] | None = None,
        limits: Sequence[float] | None = None,
        saturation: float = 1.0,
        confidence: bool = False,
        should_stop: Callable[[], bool] | None = None,
        **options: Any,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize a stack plane by plane, never holding more than one input plane.

        Outputs are written into ``.npy`` memory maps in the worker's temporary
        folder, so a large stack is not held in RAM either.  A gray stack gets one
        pair of intensity limits for all its planes; hints on a (T, H, W) stack go
        to their own plane.
        """
        from .color import DEFAULT_PERCENTILES, intensity_limits

        spatial = image.shape[-3:-1] if rgb else image.shape[-2:]
        lead = image.shape[:-3] if rgb else image.shape[:-2]
        n = int(np.prod(lead))
        hints = encode_hints(hints)
        if not rgb:
            limits = intensity_limits(
                image,
                normalize=normalize or "auto",
                percentiles=tuple(percentiles or DEFAULT_PERCENTILES),
                limits=limits,
            )
        store = Path(tempfile.mkdtemp(prefix="stack-", dir=self.scratch_dir()))
        mm = {
            "L": np.lib.format.open_memmap(store / "L.npy", "w+", np.float32, lead + spatial),
            "ab": np.lib.format.open_memmap(store / "ab.npy", "w+", np.float32, lead + spatial + (2,)),
            "rgb": np.lib.format.open_memmap(store / "rgb.npy", "w+", np.float32, lead + spatial + (3,)),
        }
        if confidence:
            mm["confidence"] = np.lib.format.open_memmap(
                store / "confidence.npy", "w+", np.float32, lead + spatial
            )
        res: dict[str, Any] = {}
        near_gray: list[str | None] = []
        for i, idx in enumerate(np.ndindex(*lead)):
            plane = image[idx]
            plane = np.asarray(plane.compute() if hasattr(plane, "compute") else plane)
            gen = self.iter_colorize(
                plane,
                model,
                rgb=rgb,
                hints=hints_plane(hints, i),
                normalize=normalize,
                percentiles=percentiles,
                limits=limits,
                saturation=saturation,
                confidence=confidence,
                should_stop=should_stop,
                **options,
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
        model: Any,
        *,
        progress: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        rgb: bool | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Blocking colorize through the worker (see :meth:`iter_colorize`)."""
        gen = self.iter_colorize(image, model, rgb=rgb, should_stop=should_stop, **options)
        return _drive(gen, self, progress, should_stop)

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
        return _drive(self.iter_train(method, images, **kw), self, progress, should_stop, TRAIN_STOP_GRACE)

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


def _color_options(saturation: float, confidence: bool) -> dict[str, Any]:
    """The saturation and confidence of a colorize request; defaults are left out."""
    out: dict[str, Any] = {}
    if saturation != 1.0:
        out["saturation"] = float(saturation)
    if confidence:
        out["confidence"] = True
    return out


def _drive(
    gen: Generator,
    worker: Worker,
    progress: Callable[[dict], None] | None,
    should_stop: Callable[[], bool] | None,
    grace: float | None = None,
) -> Any:
    try:
        while True:
            ev = next(gen)
            if progress is not None:
                progress(ev)
            if should_stop is not None and should_stop():
                worker.stop(grace)
    except StopIteration as s:
        return s.value


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
