"""Color hints: quality against the number of hints, ``propagate``'s speed, and stack flicker.

- **Quality** (Zhang et al. 2017's protocol): 0, 5, 20, 50 and 200 random hint points drawn from the
  truth, each carrying the true ab averaged over a 3x3 patch, on the bundled photos (768 px); the
  gray input is the truth's own L*.  Mean CIEDE2000 and AuC of ``propagate``, and of ``lookup``
  (learned on the photo's left half, judged on its right half) with and without the hints fused in
  (:func:`napari_colorize.hints.fuse_hints`); gray (ab = 0) is the baseline.
- **Speed**: ``propagate`` with 50 hints on astronaut resized to 1, 4 and 16 MP (median of runs), as
  wall time and as this process's CPU time (the solver is mostly single-threaded, so on a shared,
  busy machine the CPU time is the better estimate of the wall time on an idle one).
- **Flicker**: a synthetic moving sequence (a window sliding over a photo, 8 planes); the mean
  |delta ab| between consecutive planes against the truth's own, for a stack solved at once with
  hints on its first plane only, and for planes solved apart (50 hints each) before and after
  :func:`napari_colorize.hints.smooth_stack`.

Examples
--------
::

    python benchmarks/hints.py
    python benchmarks/hints.py --quick
    python benchmarks/hints.py --images 3 --sizes 1024 2048 --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import common  # puts src on the path when napari_colorize is not installed
import numpy as np
from common import Column, format_table, load_photos, log, machine_description, timeit

from napari_colorize.color import Lab2rgb, rgb2lab
from napari_colorize.hints import Hints, fuse_hints, smooth_stack
from napari_colorize.methods.propagate import PropagateColorizer
from napari_colorize.metrics import auc_ab, delta_e2000_lab

COUNTS = (0, 5, 20, 50, 200)


def random_hints(lab: np.ndarray, n: int, rng: np.random.Generator) -> Hints:
    """``n`` hint pixels at random places, each the 3x3 mean of the true ab (Zhang et al. 2017)."""
    from scipy.ndimage import uniform_filter

    shape = lab.shape[:-1]
    ab = np.zeros(shape + (2,), np.float32)
    mask = np.zeros(shape, np.float32)
    if n:
        mean_ab = uniform_filter(lab[..., 1:], size=(3, 3, 1), mode="nearest")
        ys = rng.integers(1, shape[0] - 1, n)
        xs = rng.integers(1, shape[1] - 1, n)
        ab[ys, xs] = mean_ab[ys, xs]
        mask[ys, xs] = 1
    return Hints(ab, mask)


def scores(L: np.ndarray, ab: np.ndarray, lab_truth: np.ndarray) -> dict[str, float]:
    """Mean CIEDE2000 and AuC of the prediction (L, ab) against the truth (judged in gamut, via RGB)."""
    pred = rgb2lab(Lab2rgb(L, ab))
    truth = rgb2lab(Lab2rgb(lab_truth[..., 0], lab_truth[..., 1:]))
    return {
        "de2000": float(np.mean(delta_e2000_lab(pred, truth))),
        "auc": auc_ab(pred[..., 1:], truth[..., 1:]),
    }


def quality(
    photos: list[tuple[str, np.ndarray]], counts: tuple[int, ...], seed: int, lookup: bool
) -> list[dict]:
    model = PropagateColorizer()
    acc: dict[tuple[str, int], list[dict[str, float]]] = {}
    for name, rgb in photos:
        lab = rgb2lab(rgb)
        L = lab[..., 0]
        w = rgb.shape[1] // 2
        ab_lookup = None
        if lookup:
            import napari_colorize as nc

            lk = nc.train("lookup", rgb[:, :w])
            ab_lookup = lk.predict_ab(L[:, w:])
        for n in counts:
            rng = np.random.default_rng(seed)
            hints = random_hints(lab, n, rng)
            t0 = time.perf_counter()
            ab = model.predict_ab(L, hints=hints)
            dt = time.perf_counter() - t0
            acc.setdefault(("propagate", n), []).append({**scores(L, ab, lab), "seconds": dt})
            if n == counts[0]:  # the same for every count
                acc.setdefault(("gray", 0), []).append(scores(L, np.zeros_like(ab), lab))
            if ab_lookup is not None:
                right = hints.crop(0, L.shape[0], w, L.shape[1])
                fused = fuse_hints(L[:, w:], ab_lookup, right)
                acc.setdefault(("lookup + hints (right half)", n), []).append(
                    scores(L[:, w:], fused, lab[:, w:])
                )
                acc.setdefault(("propagate (right half)", n), []).append(
                    scores(L[:, w:], model.predict_ab(L[:, w:], hints=right), lab[:, w:])
                )
        log(f"quality: {name} done")
    rows = []
    for (method, n), rs in acc.items():
        row: dict[str, Any] = {"method": method, "hints": n}
        for k in rs[0]:
            row[k] = float(np.mean([r[k] for r in rs]))
        rows.append(row)
    order = ["gray", "propagate", "propagate (right half)", "lookup + hints (right half)"]
    rows.sort(key=lambda r: (order.index(r["method"]), r["hints"]))
    return rows


def speed(sizes: list[int], repeat: int) -> list[dict]:
    from skimage import data
    from skimage.transform import resize

    model = PropagateColorizer()
    rows = []
    for side in sizes:
        rgb = resize(data.astronaut(), (side, side), order=1, anti_aliasing=False).astype(np.float32)
        lab = rgb2lab(rgb)
        hints = random_hints(lab, 50, np.random.default_rng(0))
        L = lab[..., 0]
        cpu: list[float] = []

        def run(L: np.ndarray = L, h: Hints = hints, cpu: list[float] = cpu) -> None:
            c0 = time.process_time()
            model.predict_ab(L, hints=h)
            cpu.append(time.process_time() - c0)

        med, times = timeit(run, repeat=repeat, warmup=0)
        row = {
            "size": f"{side}x{side}",
            "mp": side * side / 1e6,
            "seconds": med,
            "cpu": float(np.median(cpu)),
        }
        rows.append({**row, "runs": len(times)})
        log(f"speed: {side} -> {med:.2f} s wall, {row['cpu']:.2f} s CPU")
    return rows


def flicker(
    photo: np.ndarray, *, planes: int = 8, step: int = 6, side: int = 256, seed: int = 0
) -> list[dict]:
    """A window sliding ``step`` px per plane over ``photo``: flicker and quality of stack colorizations."""
    lab = rgb2lab(photo)
    stack = np.stack([lab[:side, t * step : t * step + side] for t in range(planes)])
    L = stack[..., 0]

    def dab(ab: np.ndarray) -> float:
        return float(np.abs(np.diff(ab, axis=0)).mean())

    truth = dab(stack[..., 1:])
    rng = np.random.default_rng(seed)
    first = random_hints(stack[0], 50, rng)
    h_first = Hints(
        np.concatenate([first.ab[None], np.zeros((planes - 1,) + first.ab.shape, np.float32)]),
        np.concatenate([first.mask[None], np.zeros((planes - 1,) + first.mask.shape, np.float32)]),
    )
    every = [random_hints(stack[t], 50, rng) for t in range(planes)]
    h_every = Hints(np.stack([h.ab for h in every]), np.stack([h.mask for h in every]))
    out = []
    cases = [
        ("stack solve, hints on plane 0 only", PropagateColorizer(), h_first, False),
        ("planes apart, 50 hints each", PropagateColorizer(stack_weight=0.0), h_every, False),
        ("planes apart + smooth_stack", PropagateColorizer(stack_weight=0.0), h_every, True),
        ("stack solve, 50 hints each plane", PropagateColorizer(), h_every, False),
    ]
    for label, model, hints, smooth in cases:
        ab = model.predict_ab(L, hints=hints)
        if smooth:
            ab = smooth_stack(L, ab, weight=4.0)
        s_last = scores(L[-1], ab[-1], stack[-1])
        out.append({"case": label, "flicker": dab(ab), "truth": truth, "de_last": s_last["de2000"]})
    return out


def big_child(mp: float, n_hints: int) -> None:
    """(Child process) ``propagate`` with hints over a lazy ``mp``-megapixel image to zarr; prints JSON.

    The gray image is a dask array (astronaut's L tiled over the area), the hints are random points
    (a :class:`napari_colorize.Hints` of their pixels, never a dense array of the image's size), and the
    RGB goes to a zarr store chunk by chunk, so the figure is the engine's own peak memory.
    """
    import os
    import tempfile

    import dask.array as da
    from skimage import data

    import napari_colorize as nc
    from napari_colorize.color import L2gray

    side = int(round((mp * 1e6) ** 0.5))
    lab = rgb2lab(data.astronaut())
    base = (L2gray(lab[..., 0]) * 255).astype(np.uint8)
    reps = -(-side // base.shape[0])
    gray = da.tile(da.from_array(base, chunks=base.shape), (reps, reps))[:side, :side].rechunk(2048)
    rng = np.random.default_rng(0)
    coords = np.stack([rng.integers(0, side, n_hints), rng.integers(0, side, n_hints)], axis=1)
    ab = lab[coords[:, 0] % base.shape[0], coords[:, 1] % base.shape[1], 1:].astype(np.float32)
    pts = nc.Hints.from_pixels((side, side), coords.astype(np.int64), ab)
    t0 = time.perf_counter()
    res = nc.colorize(gray, "propagate", hints=pts, tile="auto")
    with tempfile.TemporaryDirectory() as tmp:
        da.to_zarr((res.rgb * 255).astype(np.uint8), os.path.join(tmp, "rgb.zarr"))
    wall = time.perf_counter() - t0
    rss = common.peak_rss_mib() / 1024
    print(
        json.dumps({"side": side, "mp": side * side / 1e6, "hints": n_hints, "wall_s": wall, "peak_gib": rss})
    )


def big(mp: float, n_hints: int) -> dict[str, Any]:
    """Run :func:`big_child` in a fresh process (so its peak memory is its own)."""
    import subprocess
    from pathlib import Path

    cmd = [sys.executable, str(Path(__file__).resolve()), "--_big-child", str(mp), str(n_hints)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--_big-child":
        big_child(float(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="2 small photos, 1 and 4 MP, 1 repeat (a smoke test)"
    )
    ap.add_argument("--images", type=int, default=6, help="bundled photos for the quality table")
    ap.add_argument("--size", type=int, default=768, help="longest side of the quality photos")
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[1024, 2048, 4096], help="sides for the speed table"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-lookup", action="store_true", help="leave out lookup + hints")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument(
        "--big",
        type=float,
        default=0,
        metavar="MP",
        help="only the large run: propagate with 200 hints over a lazy MP-megapixel image (e.g. 100)",
    )
    args = ap.parse_args(argv)
    if args.big:
        row = big(args.big, 200)
        print(f"\n## propagate, {row['mp']:.0f} MP lazy (dask) image, {row['hints']} hints, tile auto\n")
        print(
            format_table(
                [row],
                [
                    Column("mp", "MP", "{:.0f}"),
                    Column("wall_s", "wall s", "{:.0f}"),
                    Column("peak_gib", "peak memory GiB", "{:.2f}"),
                ],
                markdown=args.markdown,
            )
        )
        return 0
    if args.quick:  # smaller defaults; options given explicitly still win
        ap.set_defaults(images=2, size=256, sizes=[512, 1024], repeat=1)
        args = ap.parse_args(argv)
    photos = load_photos(n=args.images, size=args.size)
    q = quality(photos, COUNTS, args.seed, not args.no_lookup)
    s = speed(args.sizes, args.repeat)
    f = flicker(load_photos(["chelsea"], size=max(512, args.size))[0][1])
    md = args.markdown
    print(f"## Quality vs random hints ({len(photos)} photos, {args.size} px)\n")
    print(
        format_table(
            q,
            [
                Column("method", "method", "{}", "<"),
                Column("hints", "hints", "{:d}"),
                Column("de2000", "CIEDE2000"),
                Column("auc", "AuC", "{:.3f}"),
                Column("seconds", "s/photo"),
            ],
            markdown=md,
        )
    )
    print("\n## propagate speed (50 hints)\n")
    print(
        format_table(
            s,
            [
                Column("size", "size", "{}", "<"),
                Column("mp", "MP", "{:.1f}"),
                Column("seconds", "wall s"),
                Column("cpu", "CPU s"),
            ],
            markdown=md,
        )
    )
    print("\n## Stack flicker (chelsea, 8 planes sliding 6 px; mean |delta ab| between planes)\n")
    print(
        format_table(
            f,
            [
                Column("case", "case", "{}", "<"),
                Column("flicker", "flicker"),
                Column("truth", "truth's"),
                Column("de_last", "CIEDE2000 last plane"),
            ],
            markdown=md,
        )
    )
    desc = machine_description()
    print(
        f"\nmachine: {desc['cpu']}, {desc['usable_cores']} usable cores, load average {desc['load_average']}"
    )
    if args.json:
        common.write_text(args.json, json.dumps({"quality": q, "speed": s, "flicker": f}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
