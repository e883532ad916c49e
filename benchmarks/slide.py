"""Whole-slide benchmark: a synthetic multiscale gray image colorized into an OME-Zarr RGB pyramid.

The slide is a dask pyramid made on the fly from a bundled photo's texture (skimage's camera,
512 x 512, flipped from tile to tile so that neighbouring tiles differ): every chunk of every
level is computed from the photo when it is read, so the slide is never stored whole, at any size.
Levels halve until the longest side is at most 1024 px.

Each (size, model) runs in a fresh child process, as the engine worker would, and measures:

- **time to preview**: a coarse level of at most 2 MP (the finest such level; block means onto a
  grid of about 2 MP when the coarsest is larger) colorized untiled, as the napari plugin shows it
  first (``napari_colorize.preview.preview_request``);
- **total time**: the preview, then ``nc.colorize(levels, model)`` (level 0 tiled and lazy) and
  :func:`napari_colorize.multiscale.write_rgb_store` (every level written chunk by chunk);
- **peak memory**: the child's own peak RSS (``VmHWM``, :func:`common.peak_rss_mib`), the whole run;
- the output's level count and size on disk.

Models: ``lookup`` (trained for a second on the coffee photo in the parent) and ``propagate``
with ``--hints`` points (default 200, radius 8, colors from the coffee photo, fixed seed).

Examples
--------
    .venv/bin/python benchmarks/slide.py --sizes 10000 --markdown
    .venv/bin/python benchmarks/slide.py --sizes 2000 --models lookup      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Column,
    format_table,
    log,
    machine_description,
    machine_markdown,
    peak_rss_mib,
)

#: a preview has at most this many pixels (the napari plugin's default)
PREVIEW_PIXELS = 2_000_000


def _texture_block(size: int, factor: int, block_info: Any = None) -> np.ndarray:
    """A block of level ``factor`` (1, 2, 4, ...) of the synthetic slide: the photo, tiled and flipped."""
    from skimage import data

    cam = _texture_block.cam if hasattr(_texture_block, "cam") else data.camera()
    _texture_block.cam = cam  # type: ignore[attr-defined]
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    ys = np.arange(y0, y1) * factor
    xs = np.arange(x0, x1) * factor
    ty, tx = ys // 512, xs // 512
    iy = np.where(ty % 2 == 1, 511 - ys % 512, ys % 512)
    ix = np.where(tx % 2 == 1, 511 - xs % 512, xs % 512)
    return cam[iy[:, None], ix[None, :]]


def synthetic_slide(size: int, *, chunk: int = 2048, smallest: int = 1024) -> list[Any]:
    """The levels (dask uint8) of a ``size`` x ``size`` slide made from the photo's texture, lazily."""
    import dask.array as da

    levels = []
    f = 1
    while True:
        n = -(-size // f)
        chunks = tuple(min(chunk, n - i) for i in range(0, n, chunk))
        levels.append(
            da.map_blocks(
                _texture_block,
                size,
                f,
                chunks=(chunks, chunks),
                dtype=np.uint8,
                meta=np.empty((0, 0), np.uint8),
            )
        )
        if n <= smallest:
            return levels
        f *= 2


def _hint_points(n: int, size: int, seed: int = 0) -> np.ndarray:
    from skimage import data

    rng = np.random.default_rng(seed)
    coffee = data.coffee()
    ys, xs = rng.integers(0, size, n), rng.integers(0, size, n)
    cols = coffee[rng.integers(0, coffee.shape[0], n), rng.integers(0, coffee.shape[1], n)]
    return np.column_stack([ys, xs, cols, np.full(n, 8.0)]).astype(np.float64)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run (in its own process)."""
    import dask

    import napari_colorize as nc
    from napari_colorize.color import intensity_limits
    from napari_colorize.multiscale import write_rgb_store
    from napari_colorize.preview import preview_request, preview_shape

    dask.config.set(scheduler="threads")
    if spec.get("tune_allocator", True):
        from napari_colorize.memory import tune_allocator

        tune_allocator()  # as the engine worker and the CLI do
    size, model = spec["size"], spec["model"]
    levels = synthetic_slide(size)
    hints = _hint_points(spec["hints"], size) if spec["hints"] else None
    t0 = time.perf_counter()
    # the preview: the finest level of at most PREVIEW_PIXELS, block means onto ~2 MP
    k = next((i for i, a in enumerate(levels) if a.shape[0] * a.shape[1] <= PREVIEW_PIXELS), len(levels) - 1)
    coarse = levels[k]
    h, w = coarse.shape
    grid = preview_shape((h, w), int(np.sqrt(PREVIEW_PIXELS))) or (h, w)
    lims = intensity_limits(levels[-1])
    pts = None
    if hints is not None:
        pts = hints.copy()
        pts[:, :2] *= h / size
        pts[:, 5] *= h / size
    small, small_hints, _ = preview_request(coarse, grid, hints=pts, normalize="none", limits=lims)
    pre = nc.colorize(small, spec["model_path"], hints=small_hints, limits=lims)
    np.asarray(pre.rgb)
    t_preview = time.perf_counter() - t0
    res = nc.colorize(levels, spec["model_path"], hints=hints, limits=lims, tile=spec["tile"])
    out = Path(spec["out"])
    write_rgb_store(out, res.L, res.ab[0])
    total = time.perf_counter() - t0
    peak = peak_rss_mib()
    disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    import zarr

    g = zarr.open_group(str(out), mode="r")
    attrs = dict(g.attrs)
    n_levels = len(attrs.get("ome", attrs)["multiscales"][0]["datasets"])
    return {
        "size": f"{size}x{size}",
        "model": model + (f" + {spec['hints']} hints" if spec["hints"] else ""),
        "mp": size * size / 1e6,
        "input_levels": len(levels),
        "preview": f"level {k} -> {small.shape[0]}x{small.shape[1]}",
        "preview_s": t_preview,
        "total_s": total,
        "mp_per_s": size * size / 1e6 / total,
        "peak_gib": peak / 1024,
        "levels": n_levels,
        "disk_mib": disk / 2**20,
        "tiles": len(res.plan) if res.plan is not None else 1,
    }


COLUMNS = [
    Column("size", "size", "{}", "<"),
    Column("model", "model", "{}", "<"),
    Column("preview", "preview (level -> grid)", "{}", "<"),
    Column("preview_s", "time to preview s", "{:.1f}"),
    Column("total_s", "total s", "{:.0f}"),
    Column("mp_per_s", "MP/s", "{:.2f}"),
    Column("peak_gib", "peak memory GiB", "{:.2f}"),
    Column("levels", "output levels", "{}"),
    Column("disk_mib", "store MiB", "{:.0f}"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--models", nargs="+", default=["lookup", "propagate"])
    ap.add_argument("--hints", type=int, default=200, help="points for propagate")
    ap.add_argument("--tile", default="auto")
    ap.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="leave the C allocator as it is (the child tunes it as the engine worker does: "
        "napari_colorize.memory.tune_allocator)",
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    from skimage import data

    import napari_colorize as nc

    tmp = Path(tempfile.mkdtemp(prefix="slide-bench-"))
    rows = []
    try:
        lookup = tmp / "lookup"
        nc.train("lookup", [data.coffee()], out=lookup)
        for size in args.sizes:
            for model in args.models:
                spec = {
                    "size": size,
                    "model": model,
                    "model_path": str(lookup) if model == "lookup" else model,
                    "hints": args.hints if model == "propagate" else 0,
                    "tile": args.tile,
                    "tune_allocator": not args.glibc_defaults,
                    "out": str(tmp / f"slide{size}_{model}_rgb.zarr"),
                }
                log(f"slide {size}x{size} with {spec['model']} ...")
                env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
                r = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                if r.returncode != 0:
                    log(
                        f"  failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
                    )
                    continue
                row = json.loads(r.stdout.strip().splitlines()[-1])
                log(f"  {row}")
                rows.append(row)
                shutil.rmtree(spec["out"], ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = machine_description()
    print(machine_markdown(machine))
    print()
    print(format_table(rows, COLUMNS, markdown=args.markdown))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
