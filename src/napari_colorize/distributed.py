"""Colorize many files on a dask distributed cluster.

``napari-colorize colorize --workers N`` starts a local cluster of N worker
processes (:func:`start_local_cluster`), closed to other users of the machine: its
scheduler and workers speak TLS with credentials made for this run only
(``distributed.security.Security.temporary()``), and no dashboard or other HTTP
server listens.  ``--scheduler ADDRESS`` uses an existing cluster, with the
security the user's dask configuration gives (``distributed.comm.tls.*`` in a dask
config file or ``DASK_DISTRIBUTED__COMM__TLS__...`` variables).  Each worker
process loads the model once (the engine's per-process cache,
:func:`napari_colorize.engine.cached_model`) and colorizes the files it is
given with :func:`napari_colorize.pipeline.colorize_file`.

One big dask array on a cluster needs nothing from here: ``nc.colorize(dask_array,
model, tile=512)`` under an active ``distributed.Client`` builds a graph that the
workers run themselves (see :mod:`napari_colorize.engine`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ColorizeError, ConfigError

__all__ = ["colorize_files_distributed", "worker_env", "start_local_cluster"]

# per worker process: model spec -> loaded model, and how many loads happened
_MODELS: dict[str, Any] = {}
_LOADS: dict[str, int] = {}


def _worker_model(spec: str) -> Any:
    if spec not in _MODELS:
        from .api import resolve_model

        _MODELS[spec] = resolve_model(spec)
        _LOADS[spec] = _LOADS.get(spec, 0) + 1
    return _MODELS[spec]


#: the keywords of :func:`colorize_files_distributed` that are about the files, not the request
_FILE_OPTIONS = ("save_lab", "save_confidence", "big_pixels")


def _colorize_one(
    path: str, request: dict[str, Any], out_dir: str, hints: Any, opts: dict[str, Any]
) -> dict[str, Any]:
    from .pipeline import colorize_file
    from .request import ColorizeRequest

    req = ColorizeRequest.from_dict(request)
    spec = str(req.model)
    model = _worker_model(spec)
    written = colorize_file(path, model, out_dir, request=req, hints=hints, **opts)
    return {
        "written": [str(p) for p in written],
        "pid": os.getpid(),
        "loads": _LOADS[spec],
        "threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
    }


def worker_env(threads: int) -> dict[str, str]:
    """Environment variables that cap one worker process's compute threads (TensorFlow, BLAS).

    Pass them as ``env=`` to a ``LocalCluster`` or ``Nanny``, or export them where you start
    ``dask worker`` processes yourself.
    """
    n = str(int(threads))
    return {
        "TF_NUM_INTRAOP_THREADS": n,
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
    }


#: dask config of the local cluster: no HTTP routes on the scheduler or the workers
_NO_HTTP = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}


def _stop_scheduler_http(dask_scheduler: Any) -> None:
    dask_scheduler.http_server.stop()


def _stop_worker_http(dask_worker: Any) -> None:
    dask_worker.http_server.stop()


def start_local_cluster(workers: int, *, threads: int | None = None) -> tuple[Any, Any]:
    """Start a local cluster of ``workers`` processes closed to other local users; returns (cluster, client).

    The scheduler and the workers listen on 127.0.0.1 over TLS and accept only peers with this
    run's temporary credentials (``Security.temporary()``, kept in memory), so another user of the
    machine cannot connect and run code.  No dashboard runs: the HTTP servers that dask starts
    anyway serve no routes and are closed once the cluster is up.

    Raises
    ------
    ConfigError
        The ``cryptography`` package (needed for the credentials) is missing.
    """
    import dask
    from dask.distributed import Client, LocalCluster
    from distributed.security import Security

    try:
        security = Security.temporary()
    except ImportError:
        raise ConfigError(
            "--workers needs the 'cryptography' package for the cluster's private TLS credentials "
            "(pip install cryptography)"
        ) from None
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    with dask.config.set(_NO_HTTP):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls://",
            security=security,
            dashboard_address=None,
            silence_logs=40,
            env=worker_env(threads),
        )
    try:
        client = Client(cluster, security=security)
        client.run_on_scheduler(_stop_scheduler_http)
        client.run(_stop_worker_http)  # a worker a nanny restarts serves no routes (_NO_HTTP)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


def colorize_files_distributed(
    files: Sequence[str | os.PathLike],
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    return_info: bool = False,
    on_error: Callable[[Path, BaseException], None] | None = None,
    request: Any = None,
    hints: Any = None,
    **opts: Any,
) -> list[Any]:
    """Colorize ``files`` on a dask cluster; returns the written paths per file.

    Parameters
    ----------
    files : list of paths
    model : str or path
        A model folder or a built-in model name (workers load it themselves).
    out_dir : path
    workers : int, optional
        Start a local cluster with this many worker processes (one task at a time each).
    scheduler : str, optional
        Address of an existing dask scheduler (``tcp://host:8786``).
    threads : int, optional
        Compute threads (TensorFlow intra-op, BLAS) per local worker; default: the CPU cores
        divided among the workers, so that N workers do not oversubscribe the machine.
        Ignored with ``scheduler`` (configure those workers where they start).
    return_info : bool
        Also return, per file, the worker pid, that worker's model load count and its thread cap.
    on_error : callable(path, exception), optional
        Called for a file that cannot be colorized (a :class:`~napari_colorize.errors.ColorizeError`:
        unreadable, damaged, ...); the other files go on and that file's entry is empty.  Without
        it the first such error is raised (after the other files are done).
    request : ColorizeRequest, optional
        What to colorize with; without it, ``**opts`` other than the file options build it
        (:meth:`ColorizeRequest.build <napari_colorize.request.ColorizeRequest.build>`:
        ``options``, ``normalize``, ``percentiles``, ``limits``, ``saturation``, ...).  Its
        ``model`` is ``model``.  It travels to the workers as its dict.
    hints : Hints, optional
        Hints beside the request (see :func:`~napari_colorize.pipeline.colorize_file`).
    **opts
        ``save_lab``, ``save_confidence`` and ``big_pixels`` for
        :func:`~napari_colorize.pipeline.colorize_file`; the rest build the request.
    """
    if not isinstance(model, (str, os.PathLike)):
        raise ConfigError(
            "distributed colorization needs a model folder or built-in model name, not a loaded model"
        )
    if (workers is None) == (scheduler is None):
        raise ConfigError("give exactly one of workers or scheduler")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    from dask.distributed import Client, as_completed

    from .request import ColorizeRequest, split_hints

    spec = str(Path(model).resolve()) if Path(model).exists() else str(model)
    file_opts = {k: opts.pop(k) for k in _FILE_OPTIONS if k in opts}
    in_request, beside = split_hints(hints)
    if request is None:
        request = ColorizeRequest.build(model=spec, hints=in_request, **opts)
    elif opts or in_request is not None:
        raise ConfigError("give colorize_files_distributed a request or its keywords, not both")
    request = request.replace(model=spec)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    cluster = None
    if workers is not None:
        cluster, client = start_local_cluster(workers, threads=threads)
    else:
        client = Client(scheduler)
    try:
        from tqdm.auto import tqdm

        req = request.to_dict()
        futures = [
            client.submit(_colorize_one, str(f), req, str(out_dir), beside, file_opts, pure=False)
            for f in files
        ]
        index = {fut.key: i for i, fut in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        with tqdm(total=len(futures), desc="colorizing", unit="file") as bar:
            first: BaseException | None = None
            for fut in as_completed(futures):
                i = index[fut.key]
                try:
                    results[i] = fut.result()
                except ColorizeError as e:
                    results[i] = {"written": []}
                    if on_error is not None:
                        on_error(Path(files[i]), e)
                    elif first is None:
                        first = e
                bar.update(1)
            if first is not None:
                raise first
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if return_info:
        return results
    return [[Path(p) for p in r["written"]] for r in results]
