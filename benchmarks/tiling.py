"""Tiling benchmark: overhead, seams and drift with/without the global anchor, big files.

Three tables (medians over ``--repeat`` runs):

1. **Overhead** at 2048x2048: ``engine.colorize`` tiled (``tile="auto"``,
   per blend) over untiled, for ``lookup`` and, when it imports, the
   convolutional ``autoencoder`` (a short training first).
2. **Seams and drift** on a 2048x2048 mosaic of four bundled photos, blend
   ``gaussian`` and ``crop``, ``global_anchor`` off and on:
   - ``seam``: :func:`napari_colorize.engine.tile_plan.seam_measure` (the ab jump
     across tile borders over the mean jump; the untiled result's own value
     on the same borders is shown as ``seam untiled``);
   - ``drift``: the spread (std over tiles) of each tile's mean ab
     difference from the untiled result, Lab units;
   - ``dE00``: mean CIEDE2000 against the true colors.
   Models: ``tile-mean`` (a synthetic model whose color depends on the tile
   it sees, i.e. drifts: the case the anchor is for), ``lookup`` (pointwise)
   and ``autoencoder`` with ``inference="resize"`` (sees each tile resized:
   drifts like the original project's tiles).
3. **Big files through the CLI**: ``napari-colorize colorize big.tif
   --tile auto`` on a 10,000 x 10,000 uint8 TIFF with ``lookup`` and on a
   5,000 x 5,000 one with ``autoencoder``; wall time, MP/s, and peak memory
   summed over the process tree (psutil, sampled every 50 ms).

Examples
--------
    .venv/bin/python benchmarks/tiling.py                 # everything (~15 min on 2 cores)
    .venv/bin/python benchmarks/tiling.py --quick         # small sizes, 1 repeat
    .venv/bin/python benchmarks/tiling.py --skip-big --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Column, format_table, load_photos, log, machine_description, timeit  # noqa: E402

from napari_colorize import engine  # noqa: E402
from napari_colorize.color import GrayWarning, Lab2rgb, rgb2lab  # noqa: E402
from napari_colorize.engine.tile_plan import seam_measure  # noqa: E402


class TileMean:
    """Synthetic drifting model: a pointwise color plus an offset from the mean L it sees."""

    block_size = 1
    receptive_field = 0
    default_tile = 512
    default_overlap = 64

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        L = np.asarray(L, np.float32)
        m = float(L.mean())
        a = 8 * np.sin(L / 9) + 0.8 * (m - 50)
        b = 0.1 * L - 5 + (30 - 0.6 * m)
        return np.stack([a, b], -1).astype(np.float32)


# ---------------------------------------------------------------------------- models


def train_lookup() -> Any:
    from napari_colorize.methods.lookup import LookupColorizer

    m = LookupColorizer()
    m.fit([rgb for _, rgb in load_photos(["coffee", "chelsea", "astronaut", "rocket"], size=512)])
    return m


def train_autoencoder(inference: str, steps: int, cache: Path | None = None) -> Any | None:
    if cache is not None and (cache / "config.json").is_file():
        from napari_colorize.methods import load_model

        return load_model(cache)
    try:
        from napari_colorize.methods.autoencoder import AutoencoderColorizer
    except Exception as e:  # noqa: BLE001
        log(f"autoencoder unavailable: {e}")
        return None
    # a short training: speed and memory do not depend on it; seams and drift need only a plausible model
    m = AutoencoderColorizer(inference=inference, epochs=1, steps_per_epoch=steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit([rgb for _, rgb in load_photos(["coffee", "chelsea", "astronaut", "rocket"], size=512)])
    if cache is not None:
        m.save(cache, overwrite=True)
    return m


def mosaic(size: int) -> np.ndarray:
    """A size x size RGB mosaic of four bundled photos (float32 0..1)."""
    half = size // 2
    from skimage.transform import resize

    photos = [rgb for _, rgb in load_photos(["astronaut", "coffee", "chelsea", "rocket"], size=half)]
    tiles = [resize(p, (half, half), anti_aliasing=True).astype(np.float32) for p in photos]
    return np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)


# ---------------------------------------------------------------------------- tables


def overhead_rows(models: dict[str, Any], size: int, repeat: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    L = np.clip(gaussian_filter(rng.uniform(0, 100, (size, size)), 3) * 3 - 100, 0, 100).astype(np.float32)
    rows = []
    for name, m in models.items():
        t_un, _ = timeit(lambda: engine.colorize(L, m), repeat=repeat, warmup=1)
        for blend in ("gaussian", "crop"):
            res = engine.colorize(L, m, tile="auto", blend=blend)
            t_ti, _ = timeit(lambda: engine.colorize(L, m, tile="auto", blend=blend), repeat=repeat, warmup=0)
            rows.append(
                dict(
                    model=name,
                    size=f"{size}x{size}",
                    tile=f"{res.plan.tile[0]}/{res.plan.overlap}/{res.plan.halo}",
                    tiles=len(res.plan),
                    blend=blend,
                    untiled=t_un,
                    tiled=t_ti,
                    ratio=t_ti / t_un,
                )
            )
            log(rows[-1])
    return rows


def seam_rows(models: dict[str, Any], size: int, tile: int) -> list[dict[str, Any]]:
    from skimage.color import deltaE_ciede2000

    truth = mosaic(size)
    lab = rgb2lab(truth)
    L = lab[..., 0]
    rows = []
    for name, m in models.items():
        untiled = engine.colorize(L, m).ab
        for anchor in (False, True):
            for blend in ("gaussian", "crop"):
                t0 = time.perf_counter()
                res = engine.colorize(L, m, tile=tile, blend=blend, global_anchor=anchor)
                dt = time.perf_counter() - t0
                plan = res.plan
                means = [
                    np.mean(
                        res.ab[t.core[0] : t.core[2], t.core[1] : t.core[3]]
                        - untiled[t.core[0] : t.core[2], t.core[1] : t.core[3]],
                        axis=(0, 1),
                    )
                    for t in plan
                ]
                drift = float(np.linalg.norm(np.std(means, axis=0)))
                pred = rgb2lab(Lab2rgb(L, res.ab))
                de = float(np.mean(deltaE_ciede2000(lab, pred)))
                rows.append(
                    dict(
                        model=name,
                        blend=blend,
                        anchor="on" if anchor else "off",
                        seam=seam_measure(res.ab, plan),
                        seam_untiled=seam_measure(untiled, plan),
                        drift=drift,
                        de00=de,
                        seconds=dt,
                    )
                )
                log(rows[-1])
        pred = rgb2lab(Lab2rgb(L, untiled))
        rows.append(
            dict(
                model=name,
                blend="untiled",
                anchor="-",
                seam=None,
                seam_untiled=None,
                drift=0.0,
                de00=float(np.mean(deltaE_ciede2000(lab, pred))),
                seconds=None,
            )
        )
    return rows


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int, str]:
    """Run a command; return (seconds, peak RSS summed over its process tree, returncode, stderr tail)."""
    import psutil

    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    ps = psutil.Process(p.pid)
    peak = 0
    err_chunks: list[bytes] = []
    import threading

    def read_err() -> None:
        assert p.stderr is not None
        for chunk in iter(lambda: p.stderr.read(4096), b""):
            err_chunks.append(chunk)

    th = threading.Thread(target=read_err, daemon=True)
    th.start()
    while p.poll() is None:
        peak = max(peak, _tree_rss(ps))
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    th.join(timeout=5)
    return dt, peak, p.returncode, b"".join(err_chunks).decode(errors="replace")[-2000:]


def big_rows(models: dict[str, tuple[Any, int]], repeat: int, workdir: Path) -> list[dict[str, Any]]:
    import tifffile
    from skimage import data

    rows = []
    exe = Path(sys.executable).parent / "napari-colorize"
    for name, (model, side) in models.items():
        mdir = workdir / f"model_{name}"
        if not mdir.exists():
            model.save(mdir)
        src = workdir / f"big_{side}.tif"
        if not src.exists():
            cam = data.camera()
            y = np.arange(side)[:, None]
            x = np.arange(side)[None, :]
            img = cam[(y * 7 // 5) % 512, x % 512] // 2 + ((x + y) * 127 // (2 * side)).astype(np.uint8)
            tifffile.imwrite(src, img.astype(np.uint8), rowsperstrip=256)
            del img
        out = workdir / f"out_{name}"
        if exe.exists():
            cmd = [
                str(exe),
                "colorize",
                str(src),
                "--model",
                str(mdir),
                "--out-dir",
                str(out),
                "--tile",
                "auto",
            ]
        else:
            code = (
                "import sys; from napari_colorize.pipeline import colorize_file; "
                "colorize_file(sys.argv[1], sys.argv[2], sys.argv[3], tile='auto')"
            )
            cmd = [sys.executable, "-c", code, str(src), str(mdir), str(out)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        times, peaks = [], []
        for _ in range(repeat):
            shutil.rmtree(out, ignore_errors=True)
            dt, peak, rc, err = run_measured(cmd, env)
            if rc != 0:
                raise SystemExit(f"{' '.join(cmd)} failed ({rc}):\n{err}")
            times.append(dt)
            peaks.append(peak)
        with tifffile.TiffFile(out / f"{src.stem}_rgb.tif") as t:
            ok = t.pages[0].shape == (side, side, 3)
            tiled = t.pages[0].is_tiled
        mp = side * side / 1e6
        t_med = statistics.median(times)
        rows.append(
            dict(
                model=name,
                image=f"{side}x{side} uint8 TIFF",
                mp=mp,
                seconds=t_med,
                mps=mp / t_med,
                peak_gb=statistics.median(peaks) / 1e9,
                max_peak_gb=max(peaks) / 1e9,
                runs=repeat,
                output=("tiled TIFF (lazy path)" if tiled else "TIFF (in memory)") if ok else "WRONG SHAPE",
            )
        )
        log(rows[-1])
        shutil.rmtree(out, ignore_errors=True)
    return rows


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and 1 repeat (a smoke test)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (median reported)")
    ap.add_argument("--big-repeat", type=int, default=1, help="runs per big-file CLI measurement")
    ap.add_argument("--size", type=int, default=2048, help="side of the overhead and seam images")
    ap.add_argument("--tile", type=int, default=512, help="tile of the seam table")
    ap.add_argument("--big-side", type=int, default=10000, help="side of the lookup big TIFF")
    ap.add_argument("--conv-side", type=int, default=5000, help="side of the autoencoder big TIFF")
    ap.add_argument("--ae-steps", type=int, default=10, help="training steps of the autoencoders")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument(
        "--only",
        choices=["overhead", "seams", "big", "big-conv"],
        default=None,
        help="run one table only (big-conv: the autoencoder big-file row only)",
    )
    ap.add_argument("--skip-conv", action="store_true", help="leave out the autoencoder (no TensorFlow)")
    ap.add_argument("--workdir", default=None, help="folder for the big TIFFs (default: a temporary one)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.size, args.tile, args.big_side, args.conv_side, args.ae_steps = (
            1,
            512,
            128,
            2000,
            1000,
            3,
        )
    warnings.simplefilter("ignore", GrayWarning)

    log("training lookup ...")
    lookup = train_lookup()
    conv = conv_resize = None
    if not args.skip_conv:
        log("training autoencoder (native and resize inference) ...")
        cache = Path(args.workdir) if args.workdir else None
        conv = train_autoencoder("native", args.ae_steps, cache / "ae_native" if cache else None)
        conv_resize = train_autoencoder("resize", args.ae_steps, cache / "ae_resize" if cache else None)

    out: dict[str, Any] = {"machine": machine_description()}
    models = {"lookup": lookup}
    if conv is not None:
        models["autoencoder"] = conv
    run = {"overhead", "seams", "big"} if args.only is None else {args.only.split("-")[0]}
    over = overhead_rows(models, args.size, args.repeat) if "overhead" in run else []
    out["overhead"] = over
    if over:
        print(f"\n## Tiling overhead (tiled / untiled time, median of {args.repeat}, engine only)\n")
        print(
            format_table(
                over,
                [
                    Column("model", "model", align="<"),
                    Column("size", "image", align="<"),
                    Column("tile", "tile/overlap/halo", align="<"),
                    Column("tiles", "tiles", "{:d}"),
                    Column("blend", "blend", align="<"),
                    Column("untiled", "untiled s", "{:.3f}"),
                    Column("tiled", "tiled s", "{:.3f}"),
                    Column("ratio", "ratio", "{:.2f}"),
                ],
                markdown=args.markdown,
            )
        )

    smodels: dict[str, Any] = {"tile-mean": TileMean(), "lookup": lookup}
    if conv_resize is not None:
        smodels["autoencoder(resize)"] = conv_resize
    seams = seam_rows(smodels, args.size, args.tile) if "seams" in run else []
    out["seams"] = seams
    if seams:
        print(f"\n## Seams and drift, {args.size}x{args.size} mosaic of 4 photos, tile {args.tile}\n")
        print(
            format_table(
                seams,
                [
                    Column("model", "model", align="<"),
                    Column("blend", "blend", align="<"),
                    Column("anchor", "anchor", align="<"),
                    Column("seam", "seam"),
                    Column("seam_untiled", "seam untiled"),
                    Column("drift", "drift (Lab)"),
                    Column("de00", "dE00 vs truth"),
                    Column("seconds", "s"),
                ],
                markdown=args.markdown,
            )
        )

    if not args.skip_big and "big" in run:
        workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="nc_tiling_"))
        workdir.mkdir(parents=True, exist_ok=True)
        bmodels: dict[str, tuple[Any, int]] = (
            {} if args.only == "big-conv" else {"lookup": (lookup, args.big_side)}
        )
        if conv is not None:
            bmodels["autoencoder"] = (conv, args.conv_side)
        try:
            big = big_rows(bmodels, args.big_repeat, workdir)
        finally:
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        out["big"] = big
        print("\n## Big TIFFs through the CLI (`napari-colorize colorize --tile auto`)\n")
        print(
            format_table(
                big,
                [
                    Column("model", "model", align="<"),
                    Column("image", "image", align="<"),
                    Column("seconds", "wall s", "{:.1f}"),
                    Column("mps", "MP/s", "{:.2f}"),
                    Column("peak_gb", "peak GB (tree)", "{:.2f}"),
                    Column("runs", "runs", "{:d}"),
                    Column("output", "output", align="<"),
                ],
                markdown=args.markdown,
            )
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
