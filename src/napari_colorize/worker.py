"""The engine worker: TensorFlow runs in a child process, never in napari's.

TensorFlow and napari cannot share a process on Mesa OpenGL (see DESIGN.md:
clashing LLVM symbols segfault).  The napari side therefore talks to one
long-lived child process, started as ``python -m napari_colorize.worker``
(not ``multiprocessing`` spawn, which re-runs an unguarded ``__main__``
script in the child).  The child stays alive between requests so that
TensorFlow's import and loaded models stay warm.

Protocol
--------
One JSON object per line.  The parent writes requests to the child's stdin::

    {"id": 3, "cmd": "colorize", "args": {...}}
    {"id": 3, "cmd": "stop"}          # cooperative stop of request 3

and the child answers on its (private copy of) stdout with events::

    {"id": 3, "event": "progress", ...}
    {"id": 3, "event": "result", "value": {...}}
    {"id": 3, "event": "error", "type": "InputError", "message": "..."}

Arrays never travel inside the JSON: they are written as temporary ``.npy``
files and referenced as ``{"__npy__": "/tmp/.../x.npy"}``.

The child's real stdout is redirected to stderr so that prints from
libraries cannot corrupt the protocol.  When the parent goes away the
child's stdin closes and the child exits at once.

This module imports neither napari, Qt nor TensorFlow (in the parent).

Examples
--------
>>> from napari_colorize.worker import get_worker        # doctest: +SKIP
>>> res = get_worker().colorize(gray, "my_model", tile=512)   # doctest: +SKIP
>>> res["rgb"].shape                                      # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import errors as _errors
from .errors import Cancelled, ColorizeError, InputError
from .io import jsonable

__all__ = [
    "Worker",
    "WorkerError",
    "WorkerCrashed",
    "get_worker",
    "shutdown_worker",
    "list_models",
    "describe_model_folder",
    "plan_write_boxes",
    "STOP_GRACE",
    "TRAIN_STOP_GRACE",
]

#: seconds a cooperative stop may take before the worker is terminated
STOP_GRACE = 10.0
#: the same for training (a batch plus the epoch's validation must finish)
TRAIN_STOP_GRACE = 60.0


class WorkerError(ColorizeError):
    """An unexpected error inside the engine worker process."""


class WorkerCrashed(WorkerError):
    """The engine worker process died (segfault, out of memory, killed)."""


# ---------------------------------------------------------------------------
# helpers shared by both sides (pure, no TensorFlow)
# ---------------------------------------------------------------------------
def _encode(obj: Any, tmpdir: Path, counter: Iterable[int]) -> Any:
    """Replace arrays in ``obj`` by ``{"__npy__": path}`` files in ``tmpdir``."""
    if (
        isinstance(obj, np.ndarray)
        or hasattr(obj, "dask")
        or (hasattr(obj, "__array__") and hasattr(obj, "shape") and not np.isscalar(obj))
    ):
        path = tmpdir / f"a{next(iter(counter))}.npy"
        np.save(path, np.asarray(obj))
        return {"__npy__": str(path)}
    if isinstance(obj, dict):
        return {k: _encode(v, tmpdir, counter) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, tmpdir, counter) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj: Any, *, mmap: bool = False) -> Any:
    """Inverse of :func:`_encode`: load ``{"__npy__": path}`` entries."""
    if isinstance(obj, dict):
        if set(obj) == {"__npy__"}:
            return np.load(obj["__npy__"], mmap_mode="r" if mmap else None, allow_pickle=False)
        return {k: _decode(v, mmap=mmap) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, mmap=mmap) for v in obj]
    return obj


def _box(b: Any) -> list[int] | None:
    """A box as ``[y0, x0, y1, x1]`` from a tuple, a dict or an object with slices."""
    if b is None:
        return None
    if isinstance(b, dict):
        for keys in (("y0", "x0", "y1", "x1"),):
            if all(k in b for k in keys):
                return [int(b[k]) for k in keys]
        return None
    if isinstance(b, (tuple, list)):
        if len(b) == 2 and all(isinstance(s, slice) for s in b):
            return [int(b[0].start), int(b[1].start), int(b[0].stop), int(b[1].stop)]
        if len(b) == 4:
            return [int(v) for v in b]
        return None
    if hasattr(b, "y0"):
        return [int(b.y0), int(b.x0), int(b.y1), int(b.x1)]
    if hasattr(b, "slices"):
        return _box(tuple(b.slices))
    return None


def plan_write_boxes(plan: Any) -> list[list[int]]:
    """The write boxes ``[y0, x0, y1, x1]`` of a tile plan, in tile order.

    Accepts the tiling module's plan object (``plan.tiles[i].write`` or
    ``plan.write_boxes``), its ``to_dict()`` form, or an already serialised
    list of boxes.
    """
    if plan is None:
        return []
    if isinstance(plan, dict):
        for key in ("write_boxes", "write"):
            if key in plan:
                return [_box(b) for b in plan[key]]
        if "tiles" in plan:
            return plan_write_boxes(plan["tiles"])
        return []
    if isinstance(plan, (list, tuple)):
        out = []
        for t in plan:
            b = None
            if isinstance(t, dict):
                b = _box(t.get("write") or t.get("write_box"))
            elif hasattr(t, "write") or hasattr(t, "write_box"):
                b = _box(getattr(t, "write", None) or getattr(t, "write_box", None))
            else:
                b = _box(t)
            if b is not None:
                out.append(b)
        return out
    wb = getattr(plan, "write_boxes", None)
    if wb is not None:
        wb = wb() if callable(wb) else wb
        return [_box(b) for b in wb]
    if hasattr(plan, "tiles"):
        return plan_write_boxes(list(plan.tiles))
    if hasattr(plan, "to_dict"):
        return plan_write_boxes(plan.to_dict())
    return []


def _plan_dict(plan: Any) -> dict[str, Any] | None:
    if plan is None:
        return None
    d: dict[str, Any] = {}
    if hasattr(plan, "to_dict"):
        try:
            d = jsonable(plan.to_dict())
        except Exception:  # noqa: BLE001 - best effort
            d = {}
    if not isinstance(d, dict):
        d = {"raw": d}
    d["write_boxes"] = plan_write_boxes(plan)
    return d


def describe_model_folder(path: str | os.PathLike) -> dict[str, Any]:
    """Method, config and provenance of a model folder (reads config.json only).

    Raises :class:`~napari_colorize.errors.ModelFolderError` for a folder that
    is not a napari-colorize model.
    """
    from .methods.base import read_model_info

    info = read_model_info(path)
    return {
        "path": str(Path(path)),
        "method": info["method"],
        "config": info.get("config", {}),
        "trained": bool(info.get("trained", True)),
        "info": info.get("info", {}),
        "version": info.get("version"),
    }


def list_models() -> dict[str, str]:
    """Models a user can pick: display name -> folder.

    Built-in models first (their name), then the folders in
    :func:`napari_colorize.api.user_models_dir` that hold a ``config.json``.
    """
    from .api import builtin_models, user_models_dir

    out = {name: str(p) for name, p in builtin_models().items()}
    d = user_models_dir()
    if d.is_dir():
        for p in sorted(d.iterdir()):
            if (p / "config.json").is_file():
                key = p.name if p.name not in out else f"{p.name} (user)"
                out[key] = str(p)
    return out


# ---------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------
class _StopRequested(Exception):
    pass


class _ProgressCallback:
    """A Keras-compatible callback streaming progress and honouring stops.

    Duck-typed (Keras 3 accepts any object with the callback methods), so
    that methods that do not use Keras need not import it.
    """

    def __init__(self, send: Callable[[dict], None], stop: threading.Event) -> None:
        self._send = send
        self._stop = stop
        self.model = None
        self.params: dict[str, Any] = {}
        self.epoch = 0
        self.stopped = False
        self._last = 0.0

    # keras plumbing
    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params or {})

    def _check_stop(self) -> None:
        if self._stop.is_set() and not self.stopped:
            self.stopped = True
            if self.model is not None and hasattr(self.model, "stop_training"):
                self.model.stop_training = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._send(
            {
                "event": "progress",
                "stage": "train_begin",
                "epochs": self.params.get("epochs"),
                "steps": self.params.get("steps"),
            }
        )
        self._check_stop()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = int(epoch)
        self._check_stop()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            ev = {
                "event": "progress",
                "stage": "batch",
                "epoch": self.epoch,
                "batch": int(batch) + 1,
                "steps": self.params.get("steps"),
                "epochs": self.params.get("epochs"),
            }
            if logs and "loss" in logs:
                try:
                    ev["loss"] = float(logs["loss"])
                except (TypeError, ValueError):
                    pass
            self._send(ev)
        self._check_stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        vals = {}
        for k, v in (logs or {}).items():
            try:
                vals[k] = float(v)
            except (TypeError, ValueError):
                pass
        self._send(
            {
                "event": "progress",
                "stage": "epoch",
                "epoch": int(epoch) + 1,
                "epochs": self.params.get("epochs"),
                "logs": jsonable(vals),
            }
        )
        self._check_stop()

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # every other hook (on_test_*, on_predict_*, on_batch_*) is a no-op
        if name.startswith("on_"):
            return lambda *a, **k: self._check_stop()
        raise AttributeError(name)


class _Server:
    def __init__(self, out: Any) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self._requests: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._current: int | None = None
        self._stopped: set = set()
        self._models: dict[tuple[str, float], Any] = {}

    # -- io --------------------------------------------------------------
    def send(self, msg: dict) -> None:
        line = json.dumps(jsonable(msg))
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if msg.get("cmd") == "stop":
                # a stop may overtake its request: remember it for when it starts
                self._stopped.add(msg.get("id"))
                if msg.get("id") is None or msg.get("id") == self._current:
                    self._stop.set()
                continue
            self._requests.put(msg)
        # the parent went away (or closed our stdin): leave at once
        os._exit(0)

    def serve(self) -> None:
        threading.Thread(target=self._read_stdin, daemon=True, name="worker-stdin").start()
        self.send({"id": None, "event": "ready", "pid": os.getpid()})
        while True:
            msg = self._requests.get()
            rid = msg.get("id")
            cmd = msg.get("cmd")
            if cmd == "shutdown":
                self.send({"id": rid, "event": "result", "value": None})
                return
            self._stop.clear()
            self._current = rid
            if rid in self._stopped:
                self._stop.set()
            try:
                handler = getattr(
                    self, f"do_{cmd.lstrip('_')}" if not cmd.startswith("_") else f"test_{cmd[1:]}", None
                )
                if handler is None:
                    raise InputError(f"unknown worker command {cmd!r}")
                value = handler(rid, **_decode(msg.get("args") or {}, mmap=True))
                self.send({"id": rid, "event": "result", "value": value})
            except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                self.send(
                    {
                        "id": rid,
                        "event": "error",
                        "type": type(e).__name__,
                        "message": str(e) or type(e).__name__,
                        "traceback": traceback.format_exc(),
                    }
                )
            finally:
                self._current = None

    def progress(self, rid: int, **kw: Any) -> None:
        self.send({"id": rid, "event": "progress", **kw})

    # -- models ------------------------------------------------------------
    def _model(self, spec: Any) -> Any:
        from .api import resolve_model

        path = None
        if isinstance(spec, str):
            from .api import builtin_models, user_models_dir

            cand = [Path(spec), user_models_dir() / spec]
            if spec in builtin_models():
                cand.insert(0, builtin_models()[spec])
            for c in cand:
                if (c / "config.json").is_file():
                    path = c
                    break
        if path is None:
            return resolve_model(spec)
        key = (str(path.resolve()), (path / "config.json").stat().st_mtime)
        if key not in self._models:
            if len(self._models) > 4:
                self._models.pop(next(iter(self._models)))
            self._models[key] = resolve_model(str(path))
        return self._models[key]

    @staticmethod
    def _describe(model: Any) -> dict[str, Any]:
        return {
            "method": model.name,
            "block_size": int(model.block_size),
            "receptive_field": int(model.receptive_field),
            "default_tile": int(model.default_tile),
            "default_overlap": int(model.default_overlap),
            "config": model.config.to_dict(),
            "trained": bool(getattr(model, "trained", True)),
        }

    # -- commands ------------------------------------------------------------
    def do_ping(self, rid: int) -> dict[str, Any]:
        from ._version import __version__

        return {"pid": os.getpid(), "version": __version__, "tensorflow": "tensorflow" in sys.modules}

    def do_describe(self, rid: int, model: Any) -> dict[str, Any]:
        return self._describe(self._model(model))

    def do_colorize(
        self,
        rid: int,
        image: Any,
        model: Any,
        out_dir: str,
        options: dict | None = None,
        rgb: bool | None = None,
    ) -> dict[str, Any]:
        from . import api

        m = self._model(model)
        opts = dict(options or {})

        def progress(done: int, total: int) -> None:
            self.progress(rid, done=int(done), total=int(total), stage="tiles")

        res = api.colorize(image, m, rgb=rgb, progress=progress, should_stop=self._stop.is_set, **opts)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for key in ("L", "ab", "rgb"):
            arr = getattr(res, key)
            arr = np.asarray(arr.compute() if hasattr(arr, "compute") else arr, dtype=np.float32)
            p = out / f"{key}.npy"
            np.save(p, arr)
            files[key] = {"__npy__": str(p)}
        return {**files, "plan": _plan_dict(res.plan), "model": self._describe(m)}

    def do_train(
        self,
        rid: int,
        method: str,
        images: Any,
        out: str | None = None,
        config: dict | None = None,
        box: list[int] | None = None,
        init: str | None = None,
    ) -> dict[str, Any]:
        from . import api

        cb = _ProgressCallback(lambda ev: self.send({"id": rid, **ev}), self._stop)
        if isinstance(images, list):
            images = [np.asarray(x) if isinstance(x, np.ndarray) else x for x in images]
        model = api.train(
            method,
            images,
            out=out,
            config=config or {},
            init=init,
            callbacks=[cb],
            box=tuple(box) if box else None,
        )
        if cb.stopped and getattr(model, "name", None) is not None and out is None:
            pass
        history = {k: [float(v) for v in vals] for k, vals in (getattr(model, "history", None) or {}).items()}
        return {"path": out, "history": history, "stopped": cb.stopped, "model": self._describe(model)}

    def do_evaluate(self, rid: int, pred: Any, truth: Any) -> dict[str, Any]:
        from .metrics import evaluate_pair

        return jsonable(evaluate_pair(np.asarray(pred), np.asarray(truth)))

    # -- test hooks ---------------------------------------------------------
    def test_crash(self, rid: int, code: int = 1) -> None:
        """Die like a segfault would (tests the parent's recovery)."""
        sys.stderr.write("napari-colorize worker: crashing on request\n")
        sys.stderr.flush()
        os._exit(code)

    def test_sleep(self, rid: int, seconds: float = 10.0, cooperative: bool = True) -> dict[str, Any]:
        """Sleep, reporting progress; honours stop when ``cooperative``."""
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < seconds:
            time.sleep(0.05)
            n += 1
            if n % 4 == 0:
                self.progress(rid, done=n, total=int(seconds / 0.05), stage="sleep")
            if cooperative and self._stop.is_set():
                raise Cancelled("sleep stopped")
        return {"slept": time.monotonic() - t0}

    def test_modules(self, rid: int) -> list[str]:
        return sorted(
            m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "napari", "qtpy", "PyQt5")
        )


def _child_main() -> None:
    # keep the protocol on a private copy of stdout; stray prints go to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _Server(proto).serve()


# ---------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------
_ERROR_TYPES = {
    name: getattr(_errors, name)
    for name in dir(_errors)
    if isinstance(getattr(_errors, name), type) and issubclass(getattr(_errors, name), Exception)
}


def _error_from(msg: dict) -> Exception:
    typ = msg.get("type", "")
    text = msg.get("message", "")
    cls = _ERROR_TYPES.get(typ)
    if cls is not None:
        return cls(text)
    if typ in ("ValueError", "TypeError"):
        # user-caused in most cases (a shape, a dtype): an InputError for the GUI
        return InputError(f"{text}")
    err = WorkerError(f"{typ}: {text}")
    err.remote_traceback = msg.get("traceback", "")  # type: ignore[attr-defined]
    return err


class Worker:
    """Client of one engine worker process (started on demand, kept alive).

    Parameters
    ----------
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
        env: dict[str, str] | None = None,
        stop_grace: float = STOP_GRACE,
        start_timeout: float = 120.0,
    ) -> None:
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

    def _tmpdir(self) -> Path:
        if self._tmp is None or not self._tmp.exists():
            self._tmp = Path(tempfile.mkdtemp(prefix="napari-colorize-"))
        return self._tmp

    def start(self) -> None:
        """Start the child if it is not running (waits until it is ready)."""
        with self._lock:
            if self.alive:
                return
            self._cleanup_proc()
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
                [sys.executable, "-m", "napari_colorize.worker"],
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
                target=self._read_stdout, args=(proc, self._events), daemon=True, name="colorize-worker-out"
            ).start()
            threading.Thread(
                target=self._read_stderr, args=(proc,), daemon=True, name="colorize-worker-err"
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
            line = line.strip()
            if not line:
                continue
            try:
                events.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        proc.wait()
        events.put({"id": None, "event": "dead", "returncode": proc.returncode})

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        verbose = os.environ.get("NAPARI_COLORIZE_WORKER_VERBOSE")
        for line in proc.stderr:
            self._stderr_tail.append(line.rstrip("\n"))
            if verbose:
                sys.__stderr__.write(f"[worker] {line}")

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
            proc.stdin.write(json.dumps(msg) + "\n")
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

    def iter_request(self, cmd: str, **args: Any) -> Generator[dict, None, Any]:
        """Send a request; yield its progress events; return its result.

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
            self.start()
            rid = next(self._ids)
            req_dir = Path(tempfile.mkdtemp(prefix=f"req{rid}-", dir=self._tmpdir()))
            payload = _encode(args, req_dir, itertools.count())
            self._current = rid
            self._stop_deadline = None
            events = self._events
            try:
                self._send({"id": rid, "cmd": cmd, "args": payload})
                while True:
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
                        return _decode(msg.get("value"))
                    elif ev == "error":
                        raise _error_from(msg)
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
        return _drive(self.iter_request(cmd, **args), self, progress, should_stop)

    # -- typed helpers -----------------------------------------------------------
    def iter_colorize(
        self, image: Any, model: Any, *, rgb: bool | None = None, **options: Any
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize in the worker; yields progress; returns L, ab, rgb arrays and the plan.

        ``image`` is a numpy array (..., H, W); dask arrays are computed plane
        by plane (see :func:`iter_colorize_planes`).
        """
        if hasattr(image, "dask") and np.prod(image.shape[: -2 if not rgb else -3]) > 1:
            return (yield from self.iter_colorize_planes(image, model, rgb=rgb, **options))
        image = np.asarray(image.compute() if hasattr(image, "compute") else image)
        model = str(model) if isinstance(model, Path) else model
        out_dir = Path(tempfile.mkdtemp(prefix="out-", dir=self._tmpdir()))
        try:
            res = yield from self.iter_request(
                "colorize",
                image=image,
                model=model,
                out_dir=str(out_dir),
                options=_clean_options(options),
                rgb=rgb,
            )
            return res
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def iter_colorize_planes(
        self, image: Any, model: Any, *, rgb: bool | None = None, **options: Any
    ) -> Generator[dict, None, dict[str, Any]]:
        """Colorize a stack plane by plane, never holding more than one input plane.

        Outputs are written into ``.npy`` memory maps in the worker's temporary
        folder, so a large stack is not held in RAM either.
        """
        spatial = image.shape[-3:-1] if rgb else image.shape[-2:]
        lead = image.shape[:-3] if rgb else image.shape[:-2]
        n = int(np.prod(lead))
        store = Path(tempfile.mkdtemp(prefix="stack-", dir=self._tmpdir()))
        mm = {
            "L": np.lib.format.open_memmap(store / "L.npy", "w+", np.float32, lead + spatial),
            "ab": np.lib.format.open_memmap(store / "ab.npy", "w+", np.float32, lead + spatial + (2,)),
            "rgb": np.lib.format.open_memmap(store / "rgb.npy", "w+", np.float32, lead + spatial + (3,)),
        }
        res: dict[str, Any] = {}
        for i, idx in enumerate(np.ndindex(*lead)):
            plane = image[idx]
            plane = np.asarray(plane.compute() if hasattr(plane, "compute") else plane)
            gen = self.iter_colorize(plane, model, rgb=rgb, **options)
            try:
                while True:
                    ev = next(gen)
                    yield {**ev, "plane": i, "planes": n}
            except StopIteration as s:
                res = s.value
            for k in mm:
                mm[k][idx] = res[k]
            yield {"event": "progress", "stage": "planes", "done": i + 1, "total": n}
        for k in mm:
            mm[k].flush()
        return {**res, **mm}

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
        return _drive(self.iter_colorize(image, model, rgb=rgb, **options), self, progress, should_stop)

    def iter_train(
        self,
        method: str,
        images: Any,
        *,
        out: str | os.PathLike | None = None,
        config: dict[str, Any] | None = None,
        box: Sequence[int] | None = None,
        init: str | os.PathLike | None = None,
    ) -> Generator[dict, None, dict[str, Any]]:
        """Train in the worker; yields progress (batch/epoch, loss); returns path and history."""
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

    def describe(self, model: Any) -> dict[str, Any]:
        """Block size, receptive field, default tiling and config of a model (loads it in the child)."""
        return self.request("describe", model=str(model) if isinstance(model, Path) else model)


def _clean_options(options: dict[str, Any]) -> dict[str, Any]:
    allowed = {"tile", "overlap", "blend", "global_anchor", "batch_size"}
    unknown = set(options) - allowed
    if unknown:
        raise InputError(
            f"unknown colorize option(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(allowed))}"
        )
    return {k: v for k, v in options.items() if v is not None or k in ("tile",)}


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


_WORKER: Worker | None = None
_WORKER_LOCK = threading.Lock()


def get_worker() -> Worker:
    """The process-wide engine worker (created on first use; started lazily)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = Worker()
        return _WORKER


def shutdown_worker() -> None:
    """Stop the process-wide worker, if any (also runs at interpreter exit)."""
    w = _WORKER
    if w is not None:
        w.shutdown()


atexit.register(shutdown_worker)


if __name__ == "__main__":
    _child_main()
