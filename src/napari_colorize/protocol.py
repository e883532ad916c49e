"""The wire protocol between a client and the engine-process server.

One JSON object per line.  The client writes requests to the server's stdin::

    {"id": 3, "cmd": "colorize", "args": {...}}
    {"id": 3, "cmd": "stop"}          # cooperative stop of request 3

and the server answers on its (private copy of) stdout with events::

    {"id": 3, "event": "progress", "stage": "tiles", "done": 2, "total": 9}
    {"id": 3, "event": "result", "value": {...}}
    {"id": 3, "event": "error", "type": "InputError", "message": "..."}

Arrays never travel inside the JSON: they are written as ``.npy`` files and
referenced as ``{"__npy__": "/tmp/.../x.npy"}`` (:func:`encode_arrays`,
:func:`decode_arrays`).

A colorize request travels as :meth:`ColorizeRequest.to_dict
<napari_colorize.request.ColorizeRequest.to_dict>` (``"request"``), with hints it cannot carry
(dense ones, one plane's points) beside it in :func:`encode_hints`'s form (``"hints"``).

Progress events are defined once here (:func:`progress_event`,
:func:`progress_fraction`, :func:`progress_message`); the server makes them and every consumer (the
client, the napari widgets) reads them through these functions.

This module imports neither napari, Qt nor TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import errors as _errors
from .errors import ColorizeError, InputError
from .io import jsonable

if TYPE_CHECKING:
    from .hints import Hints, PointTable

__all__ = [
    "WorkerError",
    "WorkerCrashed",
    "STOP_GRACE",
    "TRAIN_STOP_GRACE",
    "STAGES",
    "encode_arrays",
    "decode_arrays",
    "dumps",
    "loads",
    "progress_event",
    "progress_fraction",
    "progress_message",
    "error_message",
    "error_from_message",
    "encode_hints",
    "hints_plane",
    "decode_hints",
]

#: seconds a cooperative stop may take before the server process is terminated
STOP_GRACE = 10.0
#: the same for training (a batch plus the epoch's validation must finish)
TRAIN_STOP_GRACE = 60.0

#: the progress stages: the engine process starting (sent by the client), a model loading, tiles of a
#: colorization, planes of a stack (added by the client), training begin/batch/epoch, a saved
#: model folder, and a pretrained model's download (bytes) and conversion
STAGES = (
    "starting",
    "loading",
    "tiles",
    "planes",
    "train_begin",
    "batch",
    "epoch",
    "saved",
    "download",
    "converting",
    "band",
)


class WorkerError(ColorizeError):
    """An unexpected error inside the engine process."""


class WorkerCrashed(WorkerError):
    """The engine process died (segfault, out of memory, killed)."""


# ---------------------------------------------------------------------------
# arrays
# ---------------------------------------------------------------------------
def _is_array(obj: Any) -> bool:
    return (
        isinstance(obj, np.ndarray)
        or hasattr(obj, "dask")
        or (hasattr(obj, "__array__") and hasattr(obj, "shape") and not np.isscalar(obj))
    )


def encode_arrays(obj: Any, folder: Path, counter: Iterator[int]) -> Any:
    """Replace the arrays in ``obj`` by ``{"__npy__": path}`` files written in ``folder``.

    Parameters
    ----------
    obj : nested dicts, lists and tuples of JSON values and arrays
    folder : Path
        Where the ``.npy`` files go.
    counter : iterator of int
        Numbers the files (``itertools.count()``).
    """
    if _is_array(obj):
        path = folder / f"a{next(counter)}.npy"
        np.save(path, np.asarray(obj))
        return {"__npy__": str(path)}
    if isinstance(obj, dict):
        return {k: encode_arrays(v, folder, counter) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_arrays(v, folder, counter) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def decode_arrays(obj: Any, *, mmap: bool = False) -> Any:
    """Inverse of :func:`encode_arrays`: load ``{"__npy__": path}`` entries (memory-mapped if ``mmap``)."""
    if isinstance(obj, dict):
        if set(obj) == {"__npy__"}:
            return np.load(obj["__npy__"], mmap_mode="r" if mmap else None, allow_pickle=False)
        return {k: decode_arrays(v, mmap=mmap) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_arrays(v, mmap=mmap) for v in obj]
    return obj


def dumps(msg: dict[str, Any]) -> str:
    """One protocol line: strict JSON without a newline (NaN and inf travel as null)."""
    return json.dumps(jsonable(msg))


def loads(line: str) -> dict[str, Any] | None:
    """The message of one protocol line, or None for a blank or garbled line."""
    line = line.strip()
    if not line:
        return None
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
def progress_event(rid: int | None, stage: str, **fields: Any) -> dict[str, Any]:
    """A progress event of request ``rid``.

    Parameters
    ----------
    rid : int or None
        The request id.
    stage : str
        One of :data:`STAGES`.
    **fields
        ``done`` and ``total`` (tiles, planes), or ``epoch``, ``epochs``,
        ``batch``, ``steps``, ``loss``, ``logs`` (training), ``path`` (saved),
        ``model`` (loading: the model's folder name), ``message`` (any stage: what a
        person should read).  None values are left out.
    """
    return {
        "id": rid,
        "event": "progress",
        "stage": stage,
        **{k: v for k, v in fields.items() if v is not None},
    }


def progress_fraction(ev: dict[str, Any]) -> tuple[int, int] | None:
    """``(done, total)`` of a progress event, in the unit a progress bar should count, or None.

    A plane-by-plane stack counts planes; training counts batches over all
    epochs; everything else counts its own ``done``/``total``.
    """
    if ev.get("planes"):
        return int(ev.get("plane", 0)), int(ev["planes"])
    stage = ev.get("stage")
    epochs, steps = ev.get("epochs"), ev.get("steps")
    if stage in ("train_begin", "batch", "epoch"):
        if not epochs:
            return None
        steps = int(steps or 1)
        total = int(epochs) * steps
        if stage == "train_begin":
            return 0, total
        if stage == "batch":
            return min(int(ev.get("epoch", 0)) * steps + int(ev.get("batch", 0)), total), total
        return min(int(ev.get("epoch", 0)) * steps, total), total
    units = ev.get("total")
    if units:
        return min(int(ev.get("done") or 0), int(units)), int(units)
    return None


def progress_message(ev: dict[str, Any]) -> str | None:
    """What a progress event says to a person (a status line), or None.

    ``"starting the engine…"``, ``"loading the model default…"``, ``"tile 3/9"``,
    ``"plane 2/5: tile 3/9"``, ``"epoch 2/10"``, ``"downloading eccv16-authors: 3.1/129.0 MB"``; an
    event's own ``message`` wins.
    """
    if ev.get("message"):
        return str(ev["message"])
    stage = ev.get("stage")
    text = None
    if stage == "starting":
        text = "starting the engine…"
    elif stage == "loading":
        text = f"loading the model {ev['model']}…" if ev.get("model") else "loading the model…"
    elif stage in ("tiles", "planes") and ev.get("total"):
        unit = "tile" if stage == "tiles" else "plane"
        text = f"{unit} {min(int(ev.get('done') or 0), int(ev['total']))}/{int(ev['total'])}"
    elif stage in ("train_begin", "batch", "epoch") and ev.get("epochs"):
        text = f"epoch {int(ev.get('epoch', 0)) + (stage != 'epoch')}/{int(ev['epochs'])}"
    elif stage == "saved":
        text = "saved"
    elif stage == "download" and ev.get("total"):
        what = f" {ev['model']}" if ev.get("model") else ""
        text = f"downloading{what}: {int(ev.get('done') or 0) / 1e6:.1f}/{int(ev['total']) / 1e6:.1f} MB"
    elif stage == "converting":
        text = f"converting {ev['model']}…" if ev.get("model") else "converting…"
    if text is not None and ev.get("planes") and stage != "planes":
        text = f"plane {int(ev.get('plane', 0)) + 1}/{int(ev['planes'])}: {text}"
    return text


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
_ERROR_TYPES = {
    name: obj for name, obj in vars(_errors).items() if isinstance(obj, type) and issubclass(obj, Exception)
}


def error_message(rid: int | None, exc: BaseException, tb: str = "") -> dict[str, Any]:
    """The error event for an exception raised while serving request ``rid``."""
    return {
        "id": rid,
        "event": "error",
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "traceback": tb,
    }


def error_from_message(msg: dict[str, Any]) -> Exception:
    """The exception to raise in the client for an error event (the package's types keep their type)."""
    typ = msg.get("type", "")
    text = msg.get("message", "")
    cls = _ERROR_TYPES.get(typ)
    if cls is not None:
        return cls(text)
    if typ in ("ValueError", "TypeError"):
        # user-caused in most cases (a shape, a dtype): an InputError for the GUI
        return InputError(text)
    err = WorkerError(f"{typ}: {text}")
    err.remote_traceback = msg.get("traceback", "")  # type: ignore[attr-defined]
    return err


# ---------------------------------------------------------------------------
# hints
# ---------------------------------------------------------------------------
#: the keys of hints that travel as their pixels (:func:`encode_hints`)
_PIXELS = ("shape", "coords", "ab", "mask")


def encode_hints(hints: Hints | PointTable | str | Path | dict[str, Any] | None) -> dict[str, Any] | None:
    """The hints of a colorize request, in a form the protocol carries.

    Parameters
    ----------
    hints : Hints, array (N, 5|6|7), path, or None
        A :class:`~napari_colorize.hints.Hints` travels as its hinted pixels (``shape``,
        ``coords`` (N, len(shape)), ``ab`` (N, 2), ``mask`` (N,)), which stay small; anything
        else with ``ab`` and ``mask`` travels dense; a table of points (rows
        ``[plane,] y, x, r, g, b[, radius]``, see ``Hints.from_points``) travels as it is; a
        path names a CSV file.

    Returns
    -------
    dict or None
        ``{"shape": ..., "coords": ..., "ab": ..., "mask": ...}``, ``{"ab": ..., "mask": ...}``,
        ``{"points": ...}`` or ``{"csv": path}``; None for no hints (also an empty table of
        points).
    """
    from .hints import Hints

    if hints is None:
        return None
    if isinstance(hints, dict) and set(hints) in (set(_PIXELS), {"ab", "mask"}, {"points"}, {"csv"}):
        return hints
    if isinstance(hints, Hints):
        return {
            "shape": list(hints.shape),
            "coords": hints.coords,
            "ab": hints.pixel_ab,
            "mask": hints.pixel_mask,
        }
    if hasattr(hints, "ab") and hasattr(hints, "mask"):
        return {"ab": np.asarray(hints.ab, np.float32), "mask": np.asarray(hints.mask, np.float32)}
    if isinstance(hints, (str, Path)):
        return {"csv": str(hints)}
    from .request import _request_hints

    points = _request_hints(hints)  # the one check of a table of points
    return None if points is None else {"points": np.asarray(points, dtype=np.float64)}


def hints_plane(hints: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    """The hints of plane ``index`` of a (T, H, W) stack, from :func:`encode_hints`'s form.

    A table of points keeps the rows of that plane without their plane column, hinted pixels
    those of that plane without their plane index; dense hints keep their plane.  A CSV path
    is read for the whole stack by the server, so it cannot be split here.
    """
    if hints is None:
        return None
    if "points" in hints:
        pts = np.asarray(hints["points"])
        keep = np.rint(pts[:, 0]).astype(np.int64) == int(index) if len(pts) else np.zeros(0, bool)
        return {"points": pts[keep][:, 1:]}
    if "coords" in hints:
        c = np.asarray(hints["coords"]).reshape(-1, len(hints["shape"]))
        keep = c[:, 0] == int(index)
        pick = {k: np.asarray(hints[k])[keep] for k in ("ab", "mask")}
        return {"shape": list(hints["shape"])[1:], "coords": c[keep][:, 1:], **pick}
    if "ab" in hints:
        return {"ab": np.asarray(hints["ab"])[index], "mask": np.asarray(hints["mask"])[index]}
    raise InputError("hints from a CSV file cannot be split plane by plane; load them with Hints.from_csv")


def decode_hints(hints: dict[str, Any] | None, shape: tuple[int, ...]) -> Hints | np.ndarray | str | None:
    """The ``hints=`` argument of :func:`napari_colorize.api.colorize` for an image of ``shape``.

    ``shape`` is the gray image's (H, W) or (T, H, W).  A table of points stays a table (the
    API paints it over the image's L), a CSV path stays a path; hinted pixels become a
    :class:`~napari_colorize.hints.Hints` as they are (no dense array is made), dense hints
    one of their pixels.
    """
    if not hints:
        return None
    if "csv" in hints:
        return hints["csv"]
    from .hints import Hints

    if "points" in hints:
        pts = np.asarray(hints["points"], dtype=np.float64)
        if len(shape) > 3:
            raise InputError(
                f"hints on an image of shape {tuple(shape)} need a single stack axis: (T, H, W) at most"
            )
        return pts  # painted by api.colorize over the image's L (a wide hint stops at edges)
    if "coords" in hints:
        return Hints.from_pixels(
            [int(s) for s in hints["shape"]],
            np.asarray(hints["coords"], np.int64),
            hints["ab"],
            hints["mask"],
        )
    return Hints(np.asarray(hints["ab"], np.float32), np.asarray(hints["mask"], np.float32))
