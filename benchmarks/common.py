"""Shared helpers of the benchmark scripts (quality.py, speed.py).

- the bundled color photos (``skimage.data`` and scikit-learn's sample
  images, all offline), resized to 768 px on their longest side;
- the half split, the gray (ab = 0) baseline, colorizing a truth's gray version;
- which methods can be imported right now, and filtering benchmark recipes
  against a method's config fields;
- timing with medians, plain-text and markdown tables, a machine description.

Only the public API of :mod:`napari_colorize` is used.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.metadata
import importlib.util
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the tables
warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed.*")

ROOT = Path(__file__).resolve().parent.parent
if (
    str(ROOT / "src") not in sys.path and importlib.util.find_spec("napari_colorize") is None
):  # pragma: no cover
    sys.path.insert(0, str(ROOT / "src"))

import napari_colorize as nc  # noqa: E402
from napari_colorize.color import GrayWarning, L2gray, rgb2L, to_float01  # noqa: E402

#: Longest side of the benchmark photos, px.
SIZE = 768


def _sk(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


def _motorcycle() -> np.ndarray:
    from skimage import data

    return data.stereo_motorcycle()[0]


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


#: Bundled color photos, name -> loader.  Everyday photographs first, so that
#: ``--images N`` with a small N picks those; then the scientific images.
#: (motorcycle_right is left out: it nearly duplicates motorcycle_left, which
#: would leak between leave-one-out folds.)
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _sk("astronaut"),
    "chelsea": _sk("chelsea"),
    "coffee": _sk("coffee"),
    "rocket": _sk("rocket"),
    "motorcycle_left": _motorcycle,
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "hubble_deep_field": _sk("hubble_deep_field"),
    "immunohistochemistry": _sk("immunohistochemistry"),
    "retina": _sk("retina"),
}


def resize_longest(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Resize an RGB image so that its longest side is ``size`` px (float32 0..1)."""
    from skimage.transform import resize

    rgb = to_float01(np.asarray(rgb)[..., :3])
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    if shape == (h, w):
        return rgb
    out = resize(rgb, shape + (3,), order=1, anti_aliasing=scale < 1, preserve_range=True)
    return np.clip(out, 0, 1).astype(np.float32)


def load_photos(
    names: Sequence[str] | None = None, *, n: int | None = None, size: int = SIZE
) -> list[tuple[str, np.ndarray]]:
    """The bundled photos as ``(name, float32 RGB (H, W, 3) in 0..1)``, longest side ``size``."""
    names = list(PHOTOS) if names is None else list(names)
    unknown = [x for x in names if x not in PHOTOS]
    if unknown:
        raise SystemExit(f"unknown photo(s) {unknown}; choose from {', '.join(PHOTOS)}")
    if n is not None:
        names = names[: max(1, int(n))]
    return [(name, resize_longest(PHOTOS[name](), size)) for name in names]


def half_split(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right halves of an image (the right one gets the odd column)."""
    w = rgb.shape[1] // 2
    return rgb[:, :w], rgb[:, w:]


def gray_baseline(truth_rgb: np.ndarray) -> np.ndarray:
    """The truth's own L with ab = 0, as RGB: what a colorizer must beat."""
    return np.repeat(L2gray(rgb2L(truth_rgb))[..., None], 3, axis=-1)


def colorize_truth(truth_rgb: np.ndarray, model: Any, **kwargs: Any) -> tuple[np.ndarray, float]:
    """Colorize the gray version of a color truth; returns (RGB, seconds).

    The color truth is passed with ``rgb=True``: the package reduces it to
    its Lab lightness, so the prediction keeps the truth's exact L and the
    metrics judge the chroma only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GrayWarning)
        t0 = time.perf_counter()
        res = nc.colorize(truth_rgb, model, rgb=True, **kwargs)
        rgb = np.asarray(res.rgb)
        dt = time.perf_counter() - t0
    return rgb, dt


# ------------------------------------------------------------------ methods


def method_status(method: str) -> str | None:
    """None when the method can be imported now, else why not (one line)."""
    from napari_colorize.methods import get_method

    try:
        get_method(method)
    except Exception as e:  # noqa: BLE001 - a module being written may fail in any way
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
    return None


def config_field_names(method: str) -> set[str]:
    from napari_colorize.methods import get_config_class

    return {f.name for f in dataclasses.fields(get_config_class(method))}


def filter_config(method: str, config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep the recipe keys the method's config has; return (config, dropped keys)."""
    names = config_field_names(method)
    kept = {k: v for k, v in config.items() if k in names}
    return kept, sorted(set(config) - set(kept))


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: ``VmHWM`` from ``/proc/self/status``.

    Not ``ru_maxrss``: on Linux a child started by fork + exec keeps its parent's peak there, so a
    benchmark's child would report the parent's memory too.  Falls back to ``ru_maxrss`` where
    ``/proc`` is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_memory() -> None:
    """Drop Keras' global state between trainings (when Keras is loaded)."""
    gc.collect()
    if "keras" in sys.modules:
        try:
            sys.modules["keras"].backend.clear_session()
        except Exception:  # noqa: BLE001
            pass
    gc.collect()


# ------------------------------------------------------------------ timing


def timeit(
    fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, max_seconds: float | None = None
) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs.

    ``max_seconds`` stops repeating early (after at least 3 runs, or 1 when a
    single run already takes longer than it).
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if (
            max_seconds is not None
            and time.perf_counter() - start > max_seconds
            and (len(times) >= 3 or times[0] > max_seconds)
        ):
            break
    return statistics.median(times), times


# ------------------------------------------------------------------ tables


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: str = "{:.2f}"
    align: str = ">"


def _cell(row: dict[str, Any], col: Column) -> str:
    v = row.get(col.key)
    if v is None:
        return "-"
    if isinstance(v, float) and not np.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        return col.fmt.format(v)
    return str(v)


def format_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, markdown: bool = False, cpu: bool = False
) -> str:
    """A plain-text (aligned) or GitHub markdown table.

    ``cpu``: a line under the table names the machine (:func:`cpu_line`): every
    speed table says which CPU and instruction sets its figures come from.
    """
    cells = [[_cell(r, c) for c in columns] for r in rows]
    headers = [c.header for c in columns]
    below = f"\n\n{cpu_line()}" if cpu else ""
    if markdown:
        sep = ["---:" if c.align == ">" else ":---" for c in columns]
        lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines) + below
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(vals: list[str]) -> str:
        return "  ".join(f"{v:{c.align}{w}}" for v, c, w in zip(vals, columns, widths))

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out) + below


# ------------------------------------------------------------------ machine


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


#: the instruction sets that matter to numpy and TensorFlow kernels, as /proc/cpuinfo names them
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "neon",
    "asimd",
)


def cpu_instruction_sets() -> list[str]:
    """The vector instruction sets of :data:`ISA_FLAGS` that this CPU has (Linux; else empty)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ISA_FLAGS if f in have]
    except OSError:
        pass
    return []


#: the matrix/vector instruction sets that decide a network's speed, as people name them
MATRIX_ISA = (
    ("avx2", "AVX2"),
    ("avx512f", "AVX-512"),
    ("avx512_vnni", "AVX512-VNNI"),
    ("avx512_bf16", "AVX512-BF16"),
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("asimd", "NEON"),
)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what :mod:`platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matrix_instruction_sets() -> list[str]:
    """The instruction sets of :data:`MATRIX_ISA` this CPU has, by their usual names."""
    have = set(cpu_instruction_sets())
    return [name for flag, name in MATRIX_ISA if flag in have]


def cpu_line() -> str:
    """One line naming the machine of a speed table: CPU model, cores, matrix instruction sets.

    e.g. ``CPU: Intel(R) Xeon(R) Processor, 2 cores; AVX2, AVX-512, AVX512-VNNI, AVX512-BF16,
    AMX-BF16, AMX-INT8; load 3.1``.  Figures from CPUs with other instruction sets (AMX or not,
    AVX-512 or not) are not comparable.
    """
    isa = matrix_instruction_sets()
    load = f"; load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores; {', '.join(isa) or 'no AVX2/AVX-512/AMX'}{load}"


def machine_description() -> dict[str, Any]:
    """CPU model, cores, RAM, OS and library versions of this machine."""
    cpu = cpu_model()
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024**2
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    gpus = None
    if "tensorflow" in sys.modules:
        try:
            gpus = len(sys.modules["tensorflow"].config.list_physical_devices("GPU"))
        except Exception:  # noqa: BLE001
            gpus = None
    versions = {}
    for dist in (
        "napari-colorize",
        "numpy",
        "scikit-image",
        "tensorflow-cpu",
        "tensorflow",
        "keras",
        "torch",
        "dask",
    ):
        v = _version(dist)
        if v:
            versions[dist] = v
    return {
        "cpu": cpu,
        "isa": cpu_instruction_sets(),
        "matrix_isa": matrix_instruction_sets(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": round(ram_gib, 1) if ram_gib else None,
        "gpus": gpus,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def machine_markdown(desc: dict[str, Any] | None = None) -> str:
    d = desc or machine_description()
    vers = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
    lines = [
        f"- CPU: {d['cpu']}, {d['cores']} cores ({d['usable_cores']} usable)"
        + (f"; matrix instruction sets: {', '.join(d['matrix_isa'])}" if d.get("matrix_isa") else "")
        + (f"; instruction sets: {', '.join(d['isa'])}" if d.get("isa") else ""),
        f"- RAM: {d['ram_gib']} GiB; GPUs used: {d['gpus'] if d['gpus'] is not None else 'none'}",
        f"- OS: {d['os']}, Python {d['python']}",
        f"- Versions: {vers}",
        f"- Load average at start (1, 5, 15 min): {d['load_average']}",
        f"- Date: {d['date_utc']}",
    ]
    return "\n".join(lines)


def command_line() -> str:
    """The command that is running, relative to the repository root, for the docs."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(ROOT))
    except ValueError:
        script_s = sys.argv[0]
    return " ".join(["python", script_s] + [shlex.quote(a) for a in sys.argv[1:]])


def write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def set_threads(n: int | None) -> None:
    """Give TensorFlow (intra- and inter-op) and PyTorch ``n`` threads each (None: their defaults).

    Call before either runs anything.  On a machine shared with other jobs, one
    thread each keeps PyTorch's OpenMP threads from waiting on a busy core (it
    slows down several times there while TensorFlow's pool does not), so the
    comparison measures the frameworks rather than the neighbours.
    """
    if n is None:
        return
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(int(n))
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(int(n))


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)
