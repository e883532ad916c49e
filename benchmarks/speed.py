"""Speed table: inference MP/s, training samples/s, tiling overhead, baselines.

Per method variant (a short training on two bundled photos first):

- inference megapixels per second of ``model.predict_ab`` on an L image of
  512x512 and 2048x2048 (and 256x256 for eccv16), medians of several runs;
- training samples per second (Keras methods: ``batch_size`` over the median
  time between batches, measured by a Keras callback; lookup: reference
  pixels per second of ``fit``);
- tiling overhead: ``napari_colorize.colorize`` at 2048x2048 with
  ``tile=512`` over the untiled call (the RGB assembly included in both).

Baselines run in the same process:

- the original lookup project's per-pixel Python loop (a dict lookup of the
  gray value per pixel, then ``split('_')`` and three ``int`` writes, as in
  Grayscale_to_colors), timed on a 128x128 crop and scaled, against
  ``lookup``'s vectorised ``predict_ab`` at 2048x2048;
- the window project's per-pixel loop (a Python loop cuts each pixel's
  11x11 window, then the seed's dense network classifies them), on a
  96x96 crop, against ``window_mlp`` at 2048x2048;
- PyTorch running the full ECCV16 architecture (Zhang et al.'s
  ``eccv16``, random weights) at 256x256, against our Keras ``eccv16`` at
  ``width=1.0`` (untrained: speed does not depend on the weights).

Unless ``--skip-dask``, many-file throughput of ``napari-colorize colorize``'s
engine on a local dask cluster (``colorize_files_distributed``) of 1 and 2
workers, with the built-in ``window`` model, against a serial loop in this
process (model loaded once, not timed).  The cluster start and the first run
(each worker loads the model) are reported apart from the warm runs.

Unless ``--skip-demo``, the wall time of ``napari-colorize demo`` in a fresh
process.  And, unless ``--skip-big``, the peak memory (max RSS of a child process) of
a tiled ``lookup`` colorization of a 100-megapixel dask image written to zarr.

Examples
--------
::

    python benchmarks/speed.py
    python benchmarks/speed.py --methods lookup window_cnn --repeat 3 --skip-big
    python benchmarks/speed.py --markdown docs/performance.md
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, log  # noqa: E402
from quality import VARIANTS  # noqa: E402

import napari_colorize as nc  # noqa: E402
from napari_colorize.color import GrayWarning, gray2L  # noqa: E402

#: Variants timed (rebalancing does not change eccv16's speed) and the
#: short trainings that make a model to time; other keys come from
#: quality.VARIANTS.
SPEED_TRAIN: dict[str, dict[str, Any]] = {
    "lookup": {},
    "window_mlp": {"epochs": 2, "samples_per_epoch": 16384},
    "window_cnn": {"epochs": 2, "samples_per_epoch": 16384},
    "autoencoder": {"epochs": 2},
    "vgg_autoencoder": {"epochs": 2},
    "eccv16": {"epochs": 2, "steps_per_epoch": 8},
}

SIZES = {"default": (512, 2048), "eccv16": (256, 512, 2048)}
TILE = 512
TRAIN_PHOTOS = ("astronaut", "coffee")

UNITS = {
    "lookup": "px",
    "window": "windows",
    "autoencoder": "crops",
    "vgg_autoencoder": "crops",
    "eccv16": "crops",
}


# ------------------------------------------------------------------ inputs


def test_gray(size: int) -> np.ndarray:
    """A real-photo gray image (float32 0..1) of size x size (chelsea, resized)."""
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    g = rgb2gray(data.chelsea())
    return np.clip(resize(g, (size, size), order=1, anti_aliasing=False), 0, 1).astype(np.float32)


# ------------------------------------------------------------------ training speed


def make_batch_timer() -> Any:
    """A Keras callback recording (step index, time) at each batch end."""
    import keras

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.rates: list[float] = []  # batches per second between consecutive batch ends
            self._last: tuple[int, float] | None = None
            self.n_batch_ends = 0
            self.epochs: list[tuple[int, float]] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._last = None  # epoch start-up (and the first trace) is not a training step
            self._epoch_t0 = time.perf_counter()
            self._epoch_n0 = self.n_batch_ends

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            # (batches, seconds) of each epoch after the first: the fallback rate
            if epoch > 0 and self.n_batch_ends > self._epoch_n0:
                self.epochs.append((self.n_batch_ends - self._epoch_n0, time.perf_counter() - self._epoch_t0))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            t = time.perf_counter()
            self.n_batch_ends += 1
            if self._last is not None and batch > self._last[0] and t > self._last[1]:
                self.rates.append((batch - self._last[0]) / (t - self._last[1]))
            self._last = (batch, t)

    return BatchTimer()


def train_for_speed(
    variant: str, method: str, cfg: dict[str, Any], photos: list[np.ndarray], repeat: int
) -> tuple[Any, dict[str, Any]]:
    """Train a model; return it and its training speed."""
    if method == "lookup":
        pixels = sum(p.shape[0] * p.shape[1] for p in photos)
        models: list[Any] = []

        def fit() -> None:
            models.append(nc.train(method, photos, config=cfg))

        med, times = common.timeit(fit, repeat=repeat, warmup=0)
        return models[-1], {"train_rate": pixels / med, "unit": "px", "train_s": med, "runs": len(times)}
    timer = make_batch_timer()
    t0 = time.perf_counter()
    model = nc.train(method, photos, config=cfg, callbacks=[timer])
    total = time.perf_counter() - t0
    bs = getattr(model.config, "batch_size", None)
    out: dict[str, Any] = {"train_s": total, "unit": UNITS.get(method, "samples"), "batch": bs}
    if len(timer.rates) >= 3 and bs:
        out["train_rate"] = bs * statistics.median(timer.rates)
        out["runs"] = len(timer.rates)
    elif timer.epochs and bs:
        out["train_rate"] = bs * sum(n for n, _ in timer.epochs) / sum(t for _, t in timer.epochs)
        out["runs"] = len(timer.epochs)
    else:
        out["note"] = f"{variant}: the callback saw {timer.n_batch_ends} batch ends; no training rate"
    return model, out


# ------------------------------------------------------------------ baselines


def seed_lookup_learn(ref_rgb_u8: np.ndarray, ref_gray_u8: np.ndarray) -> dict[int, str]:
    """The lookup project's per-pixel learning loop ("R_G_B" strings per gray value)."""
    table: dict[int, str] = {}
    h, w = ref_gray_u8.shape
    for i in range(h):
        for j in range(w):
            table[int(ref_gray_u8[i][j])] = (
                str(ref_rgb_u8[i][j][0]) + "_" + str(ref_rgb_u8[i][j][1]) + "_" + str(ref_rgb_u8[i][j][2])
            )
    return table


def seed_lookup_apply(table: dict[int, str], gray_u8: np.ndarray) -> np.ndarray:
    """The lookup project's per-pixel colorizing loop, with a dict instead of a TF lookup layer."""
    h, w = gray_u8.shape
    out = np.zeros((h, w, 3), np.float32)
    for i in range(h):
        for j in range(w):
            temp = table.get(int(gray_u8[i][j]), "0_0_0").split("_")
            out[i][j][0] = int(temp[0])
            out[i][j][1] = int(temp[1])
            out[i][j][2] = int(temp[2])
    return out


def baseline_lookup_loop(repeat: int, crop: int = 128) -> float:
    """Pixels per second of the lookup project's per-pixel loop."""
    from skimage import data
    from skimage.color import rgb2gray

    ref = data.coffee()[:crop, :crop]
    ref_gray = (rgb2gray(ref) * 255).astype(np.uint8)
    table = seed_lookup_learn(ref, ref_gray)
    target = (test_gray(2048)[:crop, :crop] * 255).astype(np.uint8)
    med, _ = common.timeit(lambda: seed_lookup_apply(table, target), repeat=repeat, warmup=1)
    return crop * crop / med


def baseline_window_loop(repeat: int, crop: int = 96, window: int = 11, n_colors: int = 32) -> float:
    """Pixels per second of the window project's per-pixel loop + its dense network."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((window * window,)),
            keras.layers.Dense(200, activation="sigmoid"),
            keras.layers.Dense(100, activation="sigmoid"),
            keras.layers.Dense(50, activation="relu"),
            keras.layers.Dense(n_colors, activation="softmax"),
        ]
    )
    palette = np.random.default_rng(0).uniform(0, 255, (n_colors, 3)).astype(np.float32)
    gray = test_gray(2048)[:crop, :crop]
    r = window // 2
    padded = np.pad(gray, r, mode="reflect")

    def run() -> np.ndarray:
        windows = []
        for i in range(crop):
            for j in range(crop):
                windows.append(padded[i : i + window, j : j + window].flatten())
        probs = model.predict(np.array(windows), batch_size=32, verbose=0)
        colors = palette[np.argmax(probs, axis=1)]
        out = np.zeros((crop, crop, 3), np.float32)
        k = 0
        for i in range(crop):
            for j in range(crop):
                out[i][j] = colors[k]
                k += 1
        return out

    med, _ = common.timeit(run, repeat=repeat, warmup=1)
    return crop * crop / med


def torch_eccv16() -> Any:
    """Zhang et al.'s ECCV16 network in PyTorch (the authors' layout), random weights."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, n: int, *, stride_last: int = 1, dilation: int = 1) -> list[Any]:
        layers: list[Any] = []
        for k in range(n):
            s = stride_last if k == n - 1 else 1
            layers += [
                nn.Conv2d(cin if k == 0 else cout, cout, 3, stride=s, padding=dilation, dilation=dilation),
                nn.ReLU(True),
            ]
        return layers + [nn.BatchNorm2d(cout)]

    class ECCV16(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                *block(1, 64, 2, stride_last=2),
                *block(64, 128, 2, stride_last=2),
                *block(128, 256, 3, stride_last=2),
                *block(256, 512, 3),
                *block(512, 512, 3, dilation=2),
                *block(512, 512, 3, dilation=2),
                *block(512, 512, 3),
                nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1),
                nn.ReLU(True),
                nn.Conv2d(256, 256, 3, padding=1),
                nn.ReLU(True),
                nn.Conv2d(256, 256, 3, padding=1),
                nn.ReLU(True),
                nn.Conv2d(256, 313, 1),
            )
            self.softmax = nn.Softmax(dim=1)
            self.out = nn.Conv2d(313, 2, 1, bias=False)
            self.up = nn.Upsample(scale_factor=4, mode="bilinear")

        def forward(self, L: Any) -> Any:
            x = self.body((L - 50.0) / 100.0)
            return self.up(self.out(self.softmax(x))) * 110.0

    return ECCV16().eval(), torch


def baseline_torch_eccv16(repeat: int, size: int = 256) -> float:
    net, torch = torch_eccv16()
    x = torch.from_numpy(gray2L(test_gray(size))[None, None].copy())

    def run() -> Any:
        with torch.inference_mode():
            return net(x)

    med, _ = common.timeit(run, repeat=repeat, warmup=1, max_seconds=60)
    return size * size / med


# ------------------------------------------------------------------ many files on dask


def bench_dask(
    repeat: int,
    *,
    n_files: int = 8,
    size: int = 1024,
    model: str = "window",
    worker_counts: tuple[int, ...] = (1, 2),
) -> list[dict[str, Any]]:
    """Wall time of colorizing ``n_files`` gray PNGs serially and on local dask clusters."""
    import imageio.v3 as iio

    from napari_colorize.api import resolve_model
    from napari_colorize.distributed import colorize_files_distributed, worker_env
    from napari_colorize.pipeline import colorize_file

    base = (test_gray(size) * 255).astype(np.uint8)
    mp = n_files * size * size / 1e6
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(n_files):
            f = Path(tmp, "in", f"img{i:02d}.png")
            f.parent.mkdir(exist_ok=True)
            iio.imwrite(f, np.roll(base, 37 * i, axis=1))
            files.append(f)
        loaded = resolve_model(model)

        def serial() -> None:
            for f in files:
                colorize_file(f, loaded, Path(tmp, "serial"))

        med, times = common.timeit(serial, repeat=repeat, warmup=1, max_seconds=120)
        rows.append(
            {
                "setup": f"serial loop in one process ({os.cpu_count()} threads), model preloaded",
                "wall_s": med,
                "files_s": n_files / med,
                "mps": mp / med,
                "runs": len(times),
            }
        )
        log(f"  serial: {med:.1f} s for {n_files} files")
        del loaded
        common.free_memory()
        from dask.distributed import LocalCluster

        for w in worker_counts:
            threads = max(1, (os.cpu_count() or 1) // w)
            t0 = time.perf_counter()
            cluster = LocalCluster(
                n_workers=w,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
                env=worker_env(threads),
            )
            start_s = time.perf_counter() - t0
            try:
                addr = cluster.scheduler_address

                def run(out: Path = Path(tmp, f"dask{w}")) -> None:
                    colorize_files_distributed(files, model, out, scheduler=addr)

                t0 = time.perf_counter()
                run()  # cold: every worker loads the model
                cold_s = time.perf_counter() - t0
                med, times = common.timeit(run, repeat=repeat, warmup=0, max_seconds=120)
            finally:
                cluster.close()
            rows.append(
                {
                    "setup": f"dask local cluster, {w} worker{'s' if w > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}",
                    "workers": w,
                    "start_s": start_s,
                    "cold_s": cold_s,
                    "wall_s": med,
                    "files_s": n_files / med,
                    "mps": mp / med,
                    "runs": len(times),
                }
            )
            log(
                f"  dask {w} worker(s): start {start_s:.1f} s, first run {cold_s:.1f} s, then {med:.1f} s for {n_files} files"
            )
    one = next((r for r in rows if r.get("workers") == 1), None)
    for r in rows:
        r["vs_serial"] = rows[0]["wall_s"] / r["wall_s"]
        r["vs_1_worker"] = (one["wall_s"] / r["wall_s"]) if one else None
    return rows


# ------------------------------------------------------------------ demo


def bench_demo(repeat: int) -> dict[str, Any]:
    """Wall time of ``napari-colorize demo`` in a fresh process (imports and model loading included)."""
    exe = Path(sys.executable).with_name("napari-colorize")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "napari_colorize.cli"]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(max(1, repeat)):
            t0 = time.perf_counter()
            proc = subprocess.run(
                cmd + ["demo", "--out", os.path.join(tmp, f"d{i}")],
                capture_output=True,
                text=True,
                timeout=900,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise RuntimeError(
                    proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
                )
    return {"median_s": statistics.median(times), "times": times}


# ------------------------------------------------------------------ 100 MP run


def big_child(method: str, mp: float, tile: int) -> None:
    """(Child process) tiled colorization of a ``mp``-megapixel dask image to zarr; prints JSON."""
    import dask.array as da

    side = int(round((mp * 1e6) ** 0.5))
    photo = common.load_photos(["coffee"])[0][1]
    model = nc.train(method, [photo])
    base = (test_gray(2048) * 255).astype(np.uint8)
    reps = -(-side // 2048)
    gray = da.tile(da.from_array(base, chunks=2048), (reps, reps))[:side, :side].rechunk(2048)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GrayWarning)
        res = nc.colorize(gray, model, tile=tile)
    rgb = res.rgb
    with tempfile.TemporaryDirectory() as tmp:
        try:
            import zarr  # noqa: F401

            da.to_zarr(rgb.astype(np.float32), os.path.join(tmp, "rgb.zarr"))
            sink = "zarr"
        except ImportError:
            float(rgb.mean().compute())
            sink = "mean (zarr not installed)"
    wall = time.perf_counter() - t0
    rss_mib = common.peak_rss_mib()
    print(
        json.dumps(
            {
                "method": method,
                "side": side,
                "mp": side * side / 1e6,
                "tile": tile,
                "wall_s": wall,
                "peak_rss_mib": rss_mib,
                "sink": sink,
                "dask": True,
            }
        )
    )


def run_big(method: str, mp: float, tile: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_big-child", method, str(mp), str(tile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(
            proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ main

INFER_COLUMNS_BASE = [Column("variant", "method", "{}", "<")]


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--_big-child":
        big_child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(SPEED_TRAIN),
        metavar="VARIANT",
        help=f"variants (default all): {', '.join(SPEED_TRAIN)}; a method name selects its variants",
    )
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median); default 5")
    p.add_argument(
        "--skip-baselines", action="store_true", help="skip the per-pixel loop and PyTorch baselines"
    )
    p.add_argument("--skip-big", action="store_true", help="skip the 100-megapixel peak-memory run")
    p.add_argument("--skip-dask", action="store_true", help="skip the many-files dask cluster throughput")
    p.add_argument("--skip-demo", action="store_true", help="skip timing `napari-colorize demo`")
    p.add_argument("--dask-files", type=int, default=8, metavar="N", help="files in the dask run (default 8)")
    p.add_argument(
        "--dask-size", type=int, default=1024, metavar="PX", help="side of each file (default 1024)"
    )
    p.add_argument("--big-mp", type=float, default=100.0, help="megapixels of the big run (default 100)")
    p.add_argument(
        "--max-size",
        type=int,
        default=2048,
        help="leave out image sizes above this (default 2048); "
        "the tiling overhead is measured at min(2048, max-size)",
    )
    p.add_argument(
        "--markdown", metavar="FILE", help="write the tables as markdown (e.g. docs/performance.md)"
    )
    p.add_argument("--json", metavar="FILE", help="write the raw numbers as JSON")
    args = p.parse_args(argv)

    chosen: list[str] = []
    for m in args.methods:
        matches = [v for v in SPEED_TRAIN if v == m or VARIANTS[v]["method"] == m]
        if not matches:
            p.error(f"unknown method or variant {m!r}; choose from {', '.join(SPEED_TRAIN)}")
        chosen += [v for v in matches if v not in chosen]

    desc = common.machine_description()
    notes: list[str] = []
    photos = [rgb for _, rgb in common.load_photos(list(TRAIN_PHOTOS))]
    tsize = min(2048, args.max_size)
    tile = min(TILE, max(64, tsize // 2))
    grays = {s: test_gray(s) for s in {256, 512, 2048, tsize} if s <= args.max_size}
    Ls = {s: gray2L(g) for s, g in grays.items()}
    Ls.setdefault(256, gray2L(test_gray(256)))  # the PyTorch comparison
    rows: list[dict[str, Any]] = []
    models_for_baseline: dict[str, float] = {}
    t_start = time.perf_counter()

    for v in chosen:
        recipe = copy.deepcopy(VARIANTS[v])
        method = recipe["method"]
        why = common.method_status(method)
        if why:
            notes.append(f"{v}: skipped, method {method!r} is not importable ({why})")
            log("SKIP " + notes[-1])
            continue
        cfg, dropped = common.filter_config(method, {**recipe["config"], **SPEED_TRAIN[v]})
        if dropped:
            notes.append(f"{v}: recipe keys not in the {method} config, dropped: {', '.join(dropped)}")
        log(f"== {v}: training {cfg}")
        row: dict[str, Any] = {"variant": v, "config": cfg}
        try:
            model, tr = train_for_speed(v, method, cfg, photos, args.repeat)
            row.update(tr)
            if "note" in tr:
                notes.append(tr["note"])
            for s in [s for s in SIZES.get(method, SIZES["default"]) if s <= args.max_size]:
                med, times = common.timeit(
                    lambda s=s: model.predict_ab(Ls[s]), repeat=args.repeat, warmup=1, max_seconds=60
                )
                row[f"mps_{s}"] = s * s / 1e6 / med
                row[f"s_{s}"] = med
                log(f"  predict_ab {s}x{s}: {med:.3f} s median of {len(times)} -> {row[f'mps_{s}']:.2f} MP/s")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GrayWarning)
                g = grays[tsize]
                untiled, _ = common.timeit(
                    lambda: nc.colorize(g, model), repeat=args.repeat, warmup=1, max_seconds=60
                )
                tiled, _ = common.timeit(
                    lambda: nc.colorize(g, model, tile=tile), repeat=args.repeat, warmup=1, max_seconds=60
                )
            row["tiling_overhead"] = tiled / untiled
            log(f"  colorize {tsize}x{tsize}: untiled {untiled:.3f} s, tile={tile} {tiled:.3f} s")
            models_for_baseline[v] = row.get("mps_2048", float("nan"))
            del model
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001
            notes.append(f"{v}: FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(notes[-1])
            traceback.print_exc(file=sys.stderr)
        rows.append(row)
        common.free_memory()

    baselines: list[dict[str, Any]] = []
    if not args.skip_baselines:
        log("== baselines")
        try:
            px = baseline_lookup_loop(args.repeat)
            ours = models_for_baseline.get("lookup")
            baselines.append(
                {
                    "baseline": "lookup project: per-pixel Python loop (dict), 128x128 crop",
                    "ref_mps": px / 1e6,
                    "ours": "lookup predict_ab @2048",
                    "ours_mps": ours,
                    "speedup": (ours / (px / 1e6)) if ours else None,
                }
            )
        except Exception as e:  # noqa: BLE001
            notes.append(f"lookup loop baseline FAILED: {type(e).__name__}: {e}")
        try:
            px = baseline_window_loop(max(3, args.repeat // 2))
            ours = models_for_baseline.get("window_mlp")
            baselines.append(
                {
                    "baseline": "window project: per-pixel window loop + dense net, 96x96 crop",
                    "ref_mps": px / 1e6,
                    "ours": "window_mlp predict_ab @2048",
                    "ours_mps": ours,
                    "speedup": (ours / (px / 1e6)) if ours else None,
                }
            )
        except Exception as e:  # noqa: BLE001
            notes.append(f"window loop baseline FAILED: {type(e).__name__}: {e}")
        try:
            px = baseline_torch_eccv16(args.repeat)
            ours = None
            if common.method_status("eccv16") is None:
                full = nc.make_model("eccv16", {"width": 1.0})
                L = Ls[256]
                med, _ = common.timeit(
                    lambda: full.predict_ab(L), repeat=args.repeat, warmup=1, max_seconds=60
                )
                ours = 256 * 256 / 1e6 / med
                del full
                common.free_memory()
            import torch

            baselines.append(
                {
                    "baseline": f"PyTorch {torch.__version__} ECCV16 (full width, 32 M params, "
                    f"{torch.get_num_threads()} threads) @256",
                    "ref_mps": px / 1e6,
                    "ours": "Keras eccv16 width=1.0 predict_ab @256",
                    "ours_mps": ours,
                    "speedup": (ours / (px / 1e6)) if ours else None,
                }
            )
        except Exception as e:  # noqa: BLE001
            notes.append(f"PyTorch ECCV16 baseline FAILED: {type(e).__name__}: {e}")

    dask_rows: list[dict[str, Any]] = []
    if not args.skip_dask:
        log(f"== {args.dask_files} files of {args.dask_size}² on dask")
        try:
            dask_rows = bench_dask(args.repeat, n_files=args.dask_files, size=args.dask_size)
        except Exception as e:  # noqa: BLE001
            notes.append(f"dask run FAILED: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)

    demo: dict[str, Any] | None = None
    if not args.skip_demo:
        log("== napari-colorize demo (fresh processes)")
        try:
            demo = bench_demo(min(args.repeat, 3))
            log(f"  demo: {demo['median_s']:.1f} s median of {len(demo['times'])}")
        except Exception as e:  # noqa: BLE001
            notes.append(f"demo run FAILED: {type(e).__name__}: {e}")

    big: dict[str, Any] | None = None
    if not args.skip_big:
        log(f"== {args.big_mp:g} MP tiled run (child process)")
        try:
            big = run_big("lookup", args.big_mp, 1024)
        except Exception as e:  # noqa: BLE001
            notes.append(f"big run FAILED: {type(e).__name__}: {e}")

    total_s = time.perf_counter() - t_start
    infer_cols = [
        Column("variant", "method", "{}", "<"),
        Column("mps_256", "MP/s 256²", "{:.3f}"),
        Column("mps_512", "MP/s 512²", "{:.3f}"),
        Column("mps_2048", "MP/s 2048²", "{:.3f}"),
        Column("tiling_overhead", f"tiled/untiled ({tsize}², tile {tile})", "{:.2f}"),
        Column("train_rate", "train samples/s", "{:,.0f}"),
        Column("unit", "sample", "{}", "<"),
        Column("train_s", "train s", "{:.1f}"),
    ]
    base_cols = [
        Column("baseline", "baseline", "{}", "<"),
        Column("ref_mps", "baseline MP/s", "{:.5f}"),
        Column("ours", "ours", "{}", "<"),
        Column("ours_mps", "ours MP/s", "{:.3f}"),
        Column("speedup", "speed-up", "{:,.1f}x"),
    ]
    print("\nInference and training speed")
    print(common.format_table(rows, infer_cols, cpu=True))
    if baselines:
        print("\nBaselines (same process)")
        print(common.format_table(baselines, base_cols, cpu=True))
    dask_cols = [
        Column("setup", "setup", "{}", "<"),
        Column("start_s", "cluster start s", "{:.1f}"),
        Column("cold_s", "first run s", "{:.1f}"),
        Column("wall_s", "wall s (warm)", "{:.1f}"),
        Column("files_s", "files/s", "{:.3f}"),
        Column("mps", "MP/s", "{:.3f}"),
        Column("vs_1_worker", "vs 1 worker", "{:.2f}x"),
        Column("vs_serial", "vs serial", "{:.2f}x"),
    ]
    if dask_rows:
        print(f"\nMany files ({args.dask_files} x {args.dask_size}², built-in window model)")
        print(common.format_table(dask_rows, dask_cols, cpu=True))
    if demo:
        print(
            f"\n`napari-colorize demo`: {demo['median_s']:.1f} s (median of {len(demo['times'])} fresh processes)"
        )
    if big:
        print(
            f"\n{big['mp']:.0f} MP tiled {big['method']} run: {big['wall_s']:.1f} s, peak RSS {big['peak_rss_mib']:.0f} MiB"
        )
    if notes:
        print("\nNotes:")
        for n in notes:
            print(f"- {n}")
    print(f"\ntotal time {total_s / 60:.1f} min")

    if args.json:
        common.write_text(
            args.json,
            json.dumps(
                {
                    "machine": desc,
                    "rows": rows,
                    "baselines": baselines,
                    "dask": dask_rows,
                    "demo": demo,
                    "big": big,
                    "notes": notes,
                },
                indent=1,
                default=str,
            ),
        )
    if args.markdown:
        lines = [
            "# Performance",
            "",
            "Made by `benchmarks/speed.py` on the machine below; rerun it with:",
            "",
            "```",
            common.command_line(),
            "```",
            "",
            common.machine_markdown(desc),
            f"- Total run time: {total_s / 60:.1f} min; every time is the median of up to {args.repeat} runs "
            "after a warm-up run (fewer when one run takes over a minute).",
            "",
            "## Inference and training",
            "",
            f"Each model first trains briefly on {', '.join(TRAIN_PHOTOS)} (768 px); its config is listed below. "
            "MP/s is megapixels per second of `model.predict_ab(L)` on a real photo's L resized to the size given. "
            f"`tiled/untiled` is `napari_colorize.colorize` of a {tsize}² gray image with `tile={tile}` over the same "
            "call untiled (RGB assembly included in both). Training samples/s: Keras methods, `batch_size` over "
            "the median time between batches (a Keras callback; the first batch of each epoch left out); "
            "`lookup`, reference pixels per second of `fit`.",
            "",
            common.format_table(rows, infer_cols, markdown=True, cpu=True),
            "",
            "| method | training config |",
            "| :--- | :--- |",
        ]
        lines += [f"| {r['variant']} | `{json.dumps(r.get('config', {}))}` |" for r in rows]
        if baselines:
            lines += [
                "",
                "## Baselines (same process)",
                "",
                "The original projects' per-pixel Python loops, timed on a small crop and scaled to MP/s, "
                "and PyTorch running the same ECCV16 architecture (random weights).",
                "",
                common.format_table(baselines, base_cols, markdown=True, cpu=True),
            ]
        if dask_rows:
            lines += [
                "",
                "## Many files on a dask cluster",
                "",
                f"{args.dask_files} gray PNGs of {args.dask_size}x{args.dask_size} colorized with the built-in "
                "`window` model, as `napari-colorize colorize --workers N` does it "
                "(`napari_colorize.distributed.colorize_files_distributed`; each worker loads the model once "
                "and gets the CPU cores divided by the worker count as its threads). `cluster start` is "
                "`LocalCluster(...)`; `first run` colorizes all files on the new cluster, each worker loading "
                "the model; `wall s (warm)` is the median of later runs on the same workers (the model "
                "cached), and files/s, MP/s and the ratios use it. The serial loop's model is loaded before "
                "timing.",
                "",
                common.format_table(dask_rows, dask_cols, markdown=True, cpu=True),
            ]
        if demo:
            lines += [
                "",
                "## Demo",
                "",
                f"`napari-colorize demo` (built-in models, no training; colorizes the bundled samples and "
                f"writes images and metrics) in a fresh process: {demo['median_s']:.1f} s, median of "
                f"{len(demo['times'])} runs ({', '.join(f'{t:.1f}' for t in demo['times'])} s).",
            ]
        if big:
            lines += [
                "",
                f"## {big['mp']:.0f}-megapixel tiled run",
                "",
                f"`lookup` over a {big['side']}x{big['side']} dask gray image, `tile={big['tile']}`, the RGB "
                f"result written to {big['sink']}: {big['wall_s']:.1f} s, peak memory (max RSS of the "
                f"process) {big['peak_rss_mib']:.0f} MiB.",
            ]
        if notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
        common.write_text(args.markdown, "\n".join(lines) + "\n")
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
