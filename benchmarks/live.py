"""Live hints at any size: time to the preview and time to the full resolution, through the engine worker.

What the napari plugin does when a hint changes in live mode (``ColorizeWidget.run(live=True)``), without
the Qt event loop:

1. **preview**: :func:`napari_colorize.preview.preview_request` downscales the plane to at most
   :data:`~napari_colorize.preview.PREVIEW_SIZE` px on its longest side (block means, the hints moved
   onto the blocks, the full plane's intensity limits; each preview's time sets the next one's side,
   :func:`~napari_colorize.preview.next_preview_size`, so a slow model previews coarser: ``ADAPT_STEPS``
   untimed previews let it settle, ``--fixed-preview`` keeps every one at 512) and the
   ``"interactive"`` engine worker colorizes it untiled (:meth:`napari_colorize.client.Worker.colorize`);
   the RGB comes back and is converted to uint8 as the output layer takes it.
2. **full resolution**: the worker colorizes the whole plane with the widget's default options
   (``tile="auto"``, gaussian blend), as the Colorize button does; it replaces the preview.

The baseline is the full-resolution round trip alone, which is what live mode did before it had a
preview: ``preview / full`` is the fraction of that wait left before something shows.  ``time to full``
is preview + full resolution, run one after the other as the widget does.

The gray image is astronaut's lightness resized to each size; 50 hints at random places carry the
photo's color there, with the widget's default radius (3 px).  Every time is the median of
``--repeat`` runs after a warm-up run; a full resolution that would take longer than ``--full-cap``
seconds runs once, and is stopped (and reported as not measured) at the cap.

Examples
--------
::

    python benchmarks/live.py --sizes 512 2048 --repeat 3
    python benchmarks/live.py --sizes 8192 --repeat 3 --full-cap 180
    python benchmarks/live.py --markdown
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import common  # puts src on the path when napari_colorize is not installed
import numpy as np
from common import Column, format_table, log, machine_description, machine_markdown

from napari_colorize.catalogue import resolve_model_path
from napari_colorize.client import get_worker
from napari_colorize.errors import Cancelled
from napari_colorize.io import to_uint8
from napari_colorize.preview import (
    PREVIEW_SIZE,
    next_preview_size,
    preview_hints,
    preview_request,
    preview_shape,
)

#: the widget's default hint radius (``napari_colorize._napari._hints.DEFAULT_HINT_RADIUS``; that
#: module's package imports napari, which this benchmark does without)
RADIUS = 3.0
N_HINTS = 50
#: untimed previews before the timed ones, for the adaptive preview size to settle
ADAPT_STEPS = 4
#: what the Colorize widget sends by default (``ColorizeWidget.intensity`` and ``options``)
INTENSITY = {"normalize": "auto", "percentiles": (1.0, 99.8)}
TILING = {"tile": "auto", "overlap": None, "blend": "gaussian", "global_anchor": False}


def scene(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """astronaut's gray (uint8, size x size) and a table of hint points (rows y, x, r, g, b, radius)."""
    from skimage import data
    from skimage.transform import resize

    from napari_colorize.color import L2gray, rgb2L

    rgb = common.resize_longest(data.astronaut(), 512)
    gray = resize(L2gray(rgb2L(rgb)), (size, size), order=1, preserve_range=True, anti_aliasing=False)
    gray = to_uint8(np.clip(gray, 0, 1).astype(np.float32))
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, size, N_HINTS), rng.integers(0, size, N_HINTS)
    colors = rgb[(ys * 512) // size, (xs * 512) // size]
    table = np.column_stack([ys, xs, colors, np.full(N_HINTS, RADIUS)]).astype(np.float64)
    return gray, table


def preview_round_trip(
    worker: Any,
    model: str,
    gray: np.ndarray,
    table: np.ndarray,
    side: int = PREVIEW_SIZE,
    cache: dict[Any, Any] | None = None,
) -> np.ndarray:
    """One preview; with ``cache``, the plane's block means are kept per grid, as the widget keeps them
    while only the hints change (``_napari._api._preview_image``)."""
    grid = preview_shape(gray.shape, side)
    if grid is None:  # small enough: the widget colorizes it at once, as the full resolution
        return full_round_trip(worker, model, gray, table)
    if cache is None or grid not in cache:
        small, _, limits = preview_request(gray, grid, **INTENSITY)
        if cache is not None:
            cache[grid] = small, limits
    else:
        small, limits = cache[grid]
    hints = preview_hints(table, gray.shape, grid)
    res = worker.colorize(small, model, rgb=False, hints=hints, limits=limits, tile=None)
    return to_uint8(np.asarray(res["rgb"]))


def full_round_trip(
    worker: Any, model: str, gray: np.ndarray, table: np.ndarray, *, cap: float | None = None
) -> np.ndarray:
    deadline = None if cap is None else time.monotonic() + cap
    stop = None if deadline is None else (lambda: time.monotonic() > deadline)
    res = worker.colorize(gray, model, rgb=False, hints=table, should_stop=stop, **INTENSITY, **TILING)
    return to_uint8(np.asarray(res["rgb"]))


def timed(fn: Any, repeat: int, *, warmup: bool = True) -> tuple[float, list[float]]:
    if warmup:
        fn()  # the model is loaded, the worker's caches are filled
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def measure(
    model_name: str,
    sizes: list[int],
    repeat: int,
    full_cap: float,
    *,
    preview_only: bool = False,
    adaptive: bool = True,
) -> list[dict[str, Any]]:
    worker = get_worker("interactive")
    model = str(resolve_model_path(model_name))
    rows = []
    for size in sizes:
        gray, table = scene(size)
        log(f"{model_name} {size}²: preview…")
        if adaptive:
            # as the widget does: each preview's time sets the next one's size
            # (preview.next_preview_size); ADAPT_STEPS untimed previews first, then the timed ones
            side, times, cache = PREVIEW_SIZE, [], {}
            for k in range(ADAPT_STEPS + max(1, repeat)):
                t0 = time.perf_counter()
                preview_round_trip(worker, model, gray, table, side, cache)
                seconds = time.perf_counter() - t0
                if k >= ADAPT_STEPS:
                    times.append(seconds)
                grid_used = preview_shape(gray.shape, side)
                side = next_preview_size(min(side, max(gray.shape)), seconds)
            row_preview = statistics.median(times), times
        else:
            grid_used = preview_shape(gray.shape, PREVIEW_SIZE)
            row_preview = timed(lambda g=gray, t=table: preview_round_trip(worker, model, g, t), repeat)
        grid = grid_used
        row: dict[str, Any] = {
            "model": model_name,
            "size": f"{size}x{size}",
            "grid": f"{grid[0]}x{grid[1]}" if grid else "(none: small)",
        }
        row["preview_s"], row["preview_runs"] = row_preview
        log(f"  preview {row['preview_s']:.2f} s; full resolution…")
        if preview_only and grid is not None:
            row["full_note"] = "full resolution not run (--preview-only)"
            row["runs"] = f"{len(row['preview_runs'])} / 0"
            rows.append(row)
            continue
        t0 = time.perf_counter()
        try:
            full_round_trip(worker, model, gray, table, cap=full_cap)  # warm-up, and the cap's test
            first = time.perf_counter() - t0
        except Cancelled:
            first = None
            log(f"  full resolution stopped after {full_cap:g} s: not measured")
        if first is None:
            row["full_note"] = f"not measured (> {full_cap:g} s)"
        elif first > full_cap / 4 or size >= 8192:
            # a long run: the warm-up run is the measurement (1 run)
            row["full_s"], row["full_runs"] = first, [first]
        else:
            row["full_s"], row["full_runs"] = timed(
                lambda g=gray, t=table: full_round_trip(worker, model, g, t), repeat, warmup=False
            )
        if grid is None:
            row["full_s"] = row.get("full_s")
            row["to_full_s"] = row["preview_s"]  # no preview: the first result is the full one
            row["ratio"] = 1.0
        elif row.get("full_s") is not None:
            row["to_full_s"] = row["preview_s"] + row["full_s"]
            row["ratio"] = row["preview_s"] / row["full_s"]
        row["runs"] = f"{len(row['preview_runs'])} / {len(row.get('full_runs', []))}"
        log(f"  full {row.get('full_s')}")
        rows.append(row)
    return rows


def measure_napari(
    model_name: str,
    sizes: list[int],
    repeat: int,
    full_cap: float,
    *,
    preview_only: bool = False,
    adaptive: bool = True,
) -> list[dict[str, Any]]:
    """The same in a napari window: the Colorize widget with ``live`` ticked, a hint added with
    ``Points.add``; times from the click, less the widget's debounce (``LIVE_DELAY_MS``)."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_colorize._napari._widgets import LIVE_DELAY_MS, ColorizeWidget

    viewer = napari.Viewer(show=False)
    app = QApplication.instance()

    def wait(cond: Any, timeout: float) -> bool:
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.001)
            if time.monotonic() - t0 > timeout:
                return False
        return True

    rows = []
    delay = LIVE_DELAY_MS / 1000
    for size in sizes:
        gray, table = scene(size)
        viewer.layers.clear()
        viewer.add_image(gray, name="gray")
        w = ColorizeWidget(viewer)
        w.refresh_models(select=str(resolve_model_path(model_name)))
        w.live.value = True
        points = w.add_hints_layer()
        if not adaptive:
            w.preview_seconds = None  # every preview at preview_size
        warm = ADAPT_STEPS if adaptive else 1
        previews, fulls, note, grid = [], [], None, None
        for k in range(repeat + warm):  # the first ones are the warm-up (and let the size settle)
            points.selected_data = set()
            points.current_face_color = table[k % N_HINTS, 2:5]
            runs, refines = w.live_runs, w.live_refines
            t0 = time.monotonic()
            points.add([table[k % N_HINTS, :2]])
            # the preview is on screen (its refinement has begun), or a small plane is done at once
            wait(
                lambda w=w, r=runs, f=refines: w.live_refines > f
                or (w.live_runs > r and not w.running and not w._refine_next),
                600,
            )
            t = time.monotonic() - t0 - delay
            shown = viewer.layers["gray RGB"].data.shape[:2]
            grid = shown if shown != gray.shape else None
            previewed = w.live_refines > refines  # else the full resolution came at once
            if k >= warm:
                previews.append(t)
                if not previewed:
                    fulls.append(t)
            if not previewed:
                continue
            if preview_only or note or k < warm:  # the refinement is not timed: stop it now
                w.cancel()
                wait(lambda w=w: not w.running, 120)
                continue
            if wait(lambda w=w: not w.running, full_cap):
                fulls.append(time.monotonic() - t0 - delay)
            else:
                note = f"not measured (> {full_cap:g} s)"
                w.cancel()
                wait(lambda w=w: not w.running, 120)
        w.close()
        row: dict[str, Any] = {
            "model": model_name + " (napari)",
            "size": f"{size}x{size}",
            "grid": f"{grid[0]}x{grid[1]}" if grid else "(none: small)",
            "preview_s": statistics.median(previews),
            "preview_runs": previews,
        }
        log(f"{model_name} {size}² in napari: preview {row['preview_s']:.2f} s")
        if fulls:
            row["to_full_s"] = statistics.median(fulls)
            row["full_runs"] = fulls
        if note or (preview_only and grid is not None):
            row["full_note"] = note or "full resolution not run (--preview-only)"
        row["runs"] = f"{len(previews)} / {len(fulls)}"
        rows.append(row)
    viewer.close()
    return rows


COLUMNS = [
    Column("model", "model", align="<"),
    Column("size", "size", align="<"),
    Column("grid", "preview grid", align="<"),
    Column("preview_s", "time to preview s"),
    Column("full_s", "full-res round trip s (live before)"),
    Column("to_full_s", "time to full resolution s"),
    Column("ratio", "preview / full-res", fmt="{:.3f}"),
    Column("runs", "runs (preview / full)", align="<"),
    Column("full_note", "note", align="<"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    p.add_argument("--models", nargs="+", default=["propagate", "default"])
    p.add_argument("--repeat", type=int, default=3, help="runs per median (after a warm-up run)")
    p.add_argument(
        "--full-cap", type=float, default=180.0, help="stop a full-resolution run after this many s"
    )
    p.add_argument("--preview-only", action="store_true", help="time the previews only")
    p.add_argument(
        "--fixed-preview",
        action="store_true",
        help=f"every preview at {PREVIEW_SIZE} px (before: the size adapts to the preview time)",
    )
    p.add_argument(
        "--napari",
        action="store_true",
        help="drive the Colorize widget in a napari window instead (needs a display: xvfb-run)",
    )
    p.add_argument("--markdown", action="store_true", help="print markdown tables")
    p.add_argument("--json", help="also write the rows and the machine to this file")
    args = p.parse_args(argv)
    machine = machine_description()
    rows = []
    for m in args.models:
        fn = measure_napari if args.napari else measure
        rows += fn(
            m,
            args.sizes,
            args.repeat,
            args.full_cap,
            preview_only=args.preview_only,
            adaptive=not args.fixed_preview,
        )
    from napari_colorize.client import shutdown_workers

    shutdown_workers()
    print(machine_markdown(machine) if args.markdown else json.dumps(machine))
    print()
    print(format_table(rows, COLUMNS, markdown=args.markdown))
    if args.json:
        common.write_text(args.json, json.dumps({"machine": machine, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
