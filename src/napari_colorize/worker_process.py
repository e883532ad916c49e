"""The engine worker process: start, watch, stop and restart one ``python -m napari_colorize.server``.

TensorFlow and napari cannot share a process on Mesa OpenGL (see docs/architecture.md:
clashing LLVM symbols segfault), so the engine runs in a child process,
:mod:`napari_colorize.server`, started as ``python -m napari_colorize.server``
(not ``multiprocessing`` spawn, which re-runs an unguarded ``__main__`` script).
A :class:`WorkerProcess` owns one such process, keeps it warm between requests, restarts it
after a crash, and runs one request at a time (:meth:`WorkerProcess.iter_request`): the JSON
lines of :mod:`napari_colorize.protocol`, with arrays as ``.npy`` files in its scratch folder.
The typed requests (colorize, train, ...) are :class:`napari_colorize.client.Worker`'s.

This module imports neither napari, Qt nor TensorFlow.
"""

from __future__ import annotations

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
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from .errors import Cancelled
from .protocol import (
    STOP_GRACE,
    WorkerCrashed,
    decode_arrays,
    dumps,
    encode_arrays,
    error_from_message,
    loads,
    progress_event,
)

__all__ = ["WorkerProcess", "ROLES", "SERVER_MODULE", "clean_dead_scratch", "drive"]

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


class WorkerProcess:
    """One engine worker process (started on demand, kept alive) and its requests.

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
        with proc.stdout:  # closed when the child is gone (no unclosed pipe left to the collector)
            for line in proc.stdout:
                msg = loads(line)
                if msg is not None:
                    events.put(msg)
        proc.wait()
        events.put({"id": None, "event": "dead", "returncode": proc.returncode})

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        verbose = os.environ.get("NAPARI_COLORIZE_WORKER_VERBOSE")
        with proc.stderr:
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
        return drive(self.iter_request(cmd, should_stop=should_stop, **args), self, progress, should_stop)


def drive(
    gen: Generator,
    worker: WorkerProcess,
    progress: Callable[[dict], None] | None,
    should_stop: Callable[[], bool] | None,
    grace: float | None = None,
) -> Any:
    """Run the request generator ``gen`` to its end: ``progress(event)`` gets each event, and
    ``should_stop()`` (polled after each) stops ``worker`` (with ``grace``); returns the result."""
    try:
        while True:
            ev = next(gen)
            if progress is not None:
                progress(ev)
            if should_stop is not None and should_stop():
                worker.stop(grace)
    except StopIteration as s:
        return s.value
