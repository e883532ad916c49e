"""Benchmark of the ``window`` method: training and inference speed, and half-split quality.

Speed table (medians), one row per architecture (``mlp``, ``cnn``; other
config values at their defaults):

- ``train win/s``: training windows per second (median over epochs after the
  first, timed by a Keras callback; windows are streamed from a 768-px photo);
- ``MP/s 512`` / ``MP/s 2048``: fully convolutional inference, megapixels per
  second on a 512x512 and a 2048x2048 L image (median over ``--repeat``);
- ``loop px/s``: the original project's inference, one window at a time in a
  Python loop through the same trained window network, timed on a small crop
  (``--loop-crop`` px square) and scaled per pixel;
- ``train CPU us/win`` and ``CPU s/MP 2048``: process CPU time (all
  threads) per training window and per inferred megapixel, which a shared,
  loaded machine distorts less than wall time;
- ``speed-up``: conv inference at 2048x2048 over the loop, per pixel.

Quality table (``--quality``): for each bundled photo (768 px), train the
defaults on the left half and colorize the gray right half; mean CIEDE2000
and AuC (Zhang et al.: fraction of pixels with ab error <= t, averaged over
t = 0..150) against ``lookup`` and the gray (ab = 0) baseline, with the fit
time per photo.

Examples
--------
::

    python benchmarks/window.py                  # speed table
    python benchmarks/window.py --quality        # speed and quality
    python benchmarks/window.py --quick          # smoke run
    python benchmarks/window.py --quality --images 3 --markdown
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, format_table, load_photos, log, timeit  # noqa: E402

from napari_colorize.color import rgb2lab  # noqa: E402
from napari_colorize.metrics import auc_ab, delta_e2000_lab  # noqa: E402


def _epoch_timer() -> Any:
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


_CALLS: list[int] = []


def speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    from napari_colorize.methods.window import WindowColorizer
    from napari_colorize.methods.window import network as wk

    ((_, rgb),) = load_photos(["chelsea"])
    rng = np.random.default_rng(0)
    rows = []
    for arch in ("mlp", "cnn"):
        m = WindowColorizer(arch=arch, **({"samples_per_epoch": 4096} if args.quick else {}))
        epochs = 2 if args.quick else 4
        timer = _epoch_timer()
        c0 = time.process_time()
        m.fit(rgb, epochs=epochs, callbacks=[timer])
        per_epoch = -(-m.config.samples_per_epoch // m.config.batch_size) * m.config.batch_size
        train_rate = per_epoch / statistics.median(timer.times[1:] or timer.times)
        row: dict[str, Any] = {
            "arch": arch,
            "window": m.config.window,
            "n_colors": m.config.n_colors,
            "train": train_rate,
        }
        # CPU time (all threads) per window: less sensitive than wall time to a shared, loaded machine
        row["train_cpu"] = 1e6 * (time.process_time() - c0) / (per_epoch * epochs)
        for side in (512, 2048):
            if args.quick and side > 512:
                continue
            L = (rng.random((side, side), dtype=np.float32) * 100).astype(np.float32)
            c0, n0 = time.process_time(), len(_CALLS)
            t, runs = timeit(
                lambda: (m.predict_ab(L), _CALLS.append(1)), repeat=args.repeat, warmup=1, max_seconds=60
            )
            row[f"mp{side}"] = side * side / t / 1e6
            row[f"cpu{side}"] = (time.process_time() - c0) / (len(_CALLS) - n0) / (side * side / 1e6)
        c = args.loop_crop
        crop = (rng.random((c, c), dtype=np.float32) * 100).astype(np.float32)
        t, _ = timeit(
            lambda: wk.per_pixel_loop(m.window_model(), m.palette, crop, m.config), repeat=1, warmup=0
        )
        row["loop"] = c * c / t
        best = row.get("mp2048", row["mp512"]) * 1e6
        row["speedup"] = best / row["loop"]
        rows.append(row)
        log(f"{arch}: {row}")
        common.free_memory()
    return rows


def quality(args: argparse.Namespace) -> list[dict[str, Any]]:
    from napari_colorize.methods.lookup import LookupColorizer
    from napari_colorize.methods.window import WindowColorizer

    names = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "china", "flower"]
    rows = []
    for name, rgb in load_photos(names[: args.images]):
        left, right = common.half_split(rgb)
        lab = rgb2lab(right)
        L = lab[..., 0]
        row: dict[str, Any] = {"photo": name}
        models = {
            "lookup": LookupColorizer(),
            "window": WindowColorizer(**({"samples_per_epoch": 4096} if args.quick else {})),
        }
        for key, model in models.items():
            t0 = time.perf_counter()
            model.fit(left)
            row[f"fit_{key}"] = time.perf_counter() - t0
            ab = model.predict_ab(L)
            row[f"de_{key}"] = float(delta_e2000_lab(np.concatenate([L[..., None], ab], -1), lab).mean())
            row[f"auc_{key}"] = auc_ab(ab, lab[..., 1:])
        zero = np.zeros_like(lab[..., 1:])
        row["de_gray"] = float(delta_e2000_lab(np.concatenate([L[..., None], zero], -1), lab).mean())
        row["auc_gray"] = auc_ab(zero, lab[..., 1:])
        rows.append(row)
        log(f"{name}: {row}")
        common.free_memory()
    mean = {"photo": "MEAN"}
    for k in rows[0]:
        if k != "photo":
            mean[k] = float(np.mean([r[k] for r in rows]))
    return rows + [mean]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="timing repeats (median)")
    p.add_argument("--loop-crop", type=int, default=24, help="side of the crop timed with the per-pixel loop")
    p.add_argument("--quality", action="store_true", help="also run the half-split quality table")
    p.add_argument("--no-speed", action="store_true", help="skip the speed table")
    p.add_argument("--images", type=int, default=7, help="photos in the quality table")
    p.add_argument("--quick", action="store_true", help="tiny trainings, 512 px only")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(common.machine_markdown() if args.markdown else common.machine_description())
    if not args.no_speed:
        cols = [
            Column("arch", "arch", align="<"),
            Column("window", "window", "{}"),
            Column("n_colors", "colors", "{}"),
            Column("train", "train win/s", "{:.0f}"),
            Column("train_cpu", "train CPU us/win", "{:.0f}"),
            Column("mp512", "MP/s 512"),
            Column("mp2048", "MP/s 2048"),
            Column("cpu2048", "CPU s/MP 2048"),
            Column("loop", "loop px/s", "{:.0f}"),
            Column("speedup", "speed-up", "{:.0f}x"),
        ]
        print("\nwindow: speed (medians)\n")
        print(format_table(speed(args), cols, markdown=args.markdown))
    if args.quality:
        cols = [Column("photo", "photo", align="<")]
        for key in ("window", "lookup", "gray"):
            cols += [Column(f"de_{key}", f"dE00 {key}"), Column(f"auc_{key}", f"AuC {key}", "{:.3f}")]
        cols += [
            Column("fit_window", "fit window s", "{:.1f}"),
            Column("fit_lookup", "fit lookup s", "{:.1f}"),
        ]
        print("\nwindow: half-split quality (train left half, colorize gray right half, 768 px)\n")
        print(format_table(quality(args), cols, markdown=args.markdown))


if __name__ == "__main__":
    main()
