"""Quality of models on the held-out corpus photos (``scripts/corpus.py``) against gray.

Each held-out photo (longest side ``--max-side``, 768 px by default) is the
truth; its gray version keeps exactly the truth's L (the truth is passed with
``rgb=True`` and reduced to its Lab lightness), so only the predicted chroma
is judged.  For each model (a built-in name or a model folder) and for the
gray baseline (ab = 0), the script prints the mean CIEDE2000, AuC
(:mod:`napari_colorize.metrics`) and colourfulness ratio (Hasler and
Suesstrunk 2003, prediction over truth, averaged over the photos), with the
number of photos where the model beats gray on CIEDE2000.

``--hints N [N ...]`` gives each model N random hints drawn from the truth
(the mean ab of a 3x3 patch around a uniformly drawn pixel, seeded per
photo), for methods that take hints (``napari_colorize.Hints``); one table
per N.  A model named after a method that needs no training (``propagate``)
is that method, untrained.  When ``napari_colorize.colorize`` takes no hints
(an older version), hinted predictions call ``model.predict_ab(L, hints=...)``
on the truth's L directly.

The corpus must have been fetched first (``python scripts/corpus.py fetch``).

Examples
--------
::

    python benchmarks/heldout.py                       # default and propagate, 0 hints
    python benchmarks/heldout.py default propagate --hints 0 5 10 20 50 200 --markdown out.md
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import common  # noqa: E402
import corpus  # noqa: E402
from common import Column, log  # noqa: E402

import napari_colorize as nc  # noqa: E402
from napari_colorize.api import resolve_model  # noqa: E402
from napari_colorize.color import GrayWarning, rgb2lab, to_float01  # noqa: E402
from napari_colorize.metrics import auc_ab, colorfulness, delta_e2000_lab  # noqa: E402

GRAY = "gray (ab=0)"
DEFAULT_MODELS = ("default", "propagate")

COLUMNS = [
    Column("model", "model", "{}", "<"),
    Column("delta_e2000", "CIEDE2000", "{:.2f}"),
    Column("auc", "AuC", "{:.3f}"),
    Column("cf_ratio", "colourfulness / truth", "{:.2f}"),
    Column("beats_gray", "photos < gray dE", "{}"),
    Column("infer_s", "s/photo", "{:.2f}"),
    Column("n", "n", "{:d}"),
]


def random_hints(
    truth_rgb: np.ndarray, n: int, *, seed: int, patch: int = 3, radius: float = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` hints drawn from the truth: (ab (H, W, 2) float32, mask (H, W) float32).

    The demo's protocol (:func:`napari_colorize.demo.hints_from_truth`): each hint sits on a
    uniformly drawn pixel and carries the mean true ab of the ``patch`` x ``patch`` window.
    """
    from napari_colorize.demo import hints_from_truth

    hints = hints_from_truth(truth_rgb, n, seed=seed, patch=patch, radius=radius)
    return hints.ab, hints.mask


def hints_class() -> Any:
    """``napari_colorize.Hints``, or a clear exit when this version has none."""
    try:
        from napari_colorize.hints import Hints
    except ImportError as e:
        raise SystemExit(
            f"--hints needs napari_colorize.hints.Hints, which cannot be imported here ({e})"
        ) from None
    return Hints


def load(name: str) -> Any:
    """A built-in name or model folder; else a method that needs no training (untrained)."""
    from napari_colorize.methods import METHODS, make_model

    try:
        return resolve_model(name)
    except Exception:
        if name in METHODS and name == "propagate":
            return make_model(name)
        raise


def predict(truth: np.ndarray, model: Any, hints: Any = None) -> tuple[np.ndarray, float]:
    """The model's RGB for the gray of ``truth`` (its exact L), and the seconds it took."""
    if hints is None:
        return common.colorize_truth(truth, model)
    if "hints" in inspect.signature(nc.colorize).parameters:
        return common.colorize_truth(truth, model, hints=hints)
    from napari_colorize.color import Lab2rgb

    L = rgb2lab(truth)[..., 0]
    t0 = time.perf_counter()
    ab = model.predict_ab(L, hints=hints)
    return Lab2rgb(L, ab), time.perf_counter() - t0


def scores(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> dict[str, float]:
    """CIEDE2000, AuC and colourfulness ratio of one prediction."""
    lab_p, lab_t = rgb2lab(pred_rgb), rgb2lab(truth_rgb)
    cf_t = colorfulness(truth_rgb)
    return {
        "delta_e2000": float(np.mean(delta_e2000_lab(lab_p, lab_t))),
        "auc": auc_ab(lab_p[..., 1:], lab_t[..., 1:]),
        "cf_ratio": colorfulness(pred_rgb) / cf_t if cf_t > 0 else float("nan"),
    }


def evaluate(
    models: list[str],
    photos: list[tuple[str, np.ndarray]],
    *,
    n_hints: int = 0,
    seed: int = 0,
    radius: float = 0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-photo rows and the summary rows (gray first, then each model)."""
    Hints = hints_class() if n_hints else None
    loaded = {}
    for m in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded[m] = load(m)
    rows: list[dict[str, Any]] = []
    for i, (name, truth) in enumerate(photos):
        gray_row = {
            "model": GRAY,
            "photo": name,
            **scores(common.gray_baseline(truth), truth),
            "infer_s": 0.0,
        }
        rows.append(gray_row)
        hints = None
        if Hints is not None:
            ab, mask = random_hints(truth, n_hints, seed=seed + i, radius=radius)
            hints = Hints(ab, mask)
        for m, model in loaded.items():
            pred, dt = predict(truth, model, hints)
            row = {"model": m, "photo": name, **scores(pred, truth), "infer_s": dt}
            row["beats_gray"] = row["delta_e2000"] < gray_row["delta_e2000"]
            rows.append(row)
            log(f"{name:60s} {m:16s} dE {row['delta_e2000']:6.2f} (gray {gray_row['delta_e2000']:6.2f})")
    summary = []
    for m in [GRAY, *models]:
        rs = [r for r in rows if r["model"] == m]
        s: dict[str, Any] = {"model": m, "n": len(rs)}
        for k in ("delta_e2000", "auc", "cf_ratio", "infer_s"):
            vals = np.asarray([r[k] for r in rs], dtype=np.float64)
            s[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        s["beats_gray"] = None if m == GRAY else f"{sum(r['beats_gray'] for r in rs)}/{len(rs)}"
        summary.append(s)
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", default=list(DEFAULT_MODELS), help="built-in names or model folders")
    p.add_argument("--split", choices=corpus.SPLITS, default="heldout")
    p.add_argument(
        "--packages",
        nargs="+",
        metavar="PKG",
        help="only the photos of these packages (e.g. leave out skimage and sklearn, which the "
        "first built-ins trained on)",
    )
    p.add_argument("--max-side", type=int, default=768)
    p.add_argument("--cache", default=str(corpus.DEFAULT_CACHE))
    p.add_argument(
        "--hints", type=int, nargs="+", default=[0], metavar="N", help="N random hints from the truth"
    )
    p.add_argument(
        "--radius",
        type=float,
        nargs="+",
        default=[0.0],
        metavar="R",
        help="hint radius in px, as clicked in napari (0: one pixel; the widget's default is 3)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", help="also write the summary table to this markdown file")
    p.add_argument("--json", help="also write every per-photo row to this JSON file")
    a = p.parse_args(argv)
    if min(a.hints) < 0:
        raise SystemExit(f"--hints must be >= 0, got {a.hints}")
    if max(a.hints):
        hints_class()  # fail before loading anything

    t0 = time.perf_counter()
    manifest = corpus.read_manifest()
    if a.packages:
        unknown = sorted(set(a.packages) - set(manifest["packages"]))
        if unknown:
            raise SystemExit(
                f"unknown package(s) {unknown}; the manifest has {', '.join(manifest['packages'])}"
            )
        manifest = {**manifest, "images": [im for im in manifest["images"] if im["package"] in a.packages]}
    photos = [
        (name, to_float01(rgb))
        for name, rgb in corpus.load_corpus(
            a.split, cache=Path(a.cache).expanduser(), max_side=a.max_side, manifest=manifest, with_names=True
        )
    ]
    if not photos:
        raise SystemExit(f"no {a.split} photos to evaluate")
    log(f"{len(photos)} {a.split} photos, longest side {a.max_side} px")
    which = f"{a.split} corpus photos" + (f" of {', '.join(a.packages)}" if a.packages else "")
    text, all_rows = "", {}
    for n_hints in a.hints:
        for radius in a.radius if n_hints else [0.0]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GrayWarning)
                rows, summary = evaluate(list(a.models), photos, n_hints=n_hints, seed=a.seed, radius=radius)
            title = f"{which} (n = {len(photos)}, {a.max_side} px), {n_hints} hints"
            title += f", radius {radius:g}" if n_hints else ""
            print(title)
            print(common.format_table(summary, COLUMNS))
            text += f"{title}\n\n{common.format_table(summary, COLUMNS, markdown=True)}\n\n"
            key = f"{n_hints}" if not radius else f"{n_hints}@r{radius:g}"
            all_rows[key] = {"summary": summary, "rows": rows}
    log(f"took {time.perf_counter() - t0:.0f} s")
    if a.markdown:
        text += f"Command: `{common.command_line()}`\n\n{common.machine_markdown()}\n"
        common.write_text(a.markdown, text)
    if a.json:
        common.write_text(a.json, json.dumps(all_rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
