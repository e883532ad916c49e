"""``napari-colorize demo``: the built-in ``default`` model on photos it never saw.

For each sample photo (bundled with :mod:`skimage.data`, no network), the demo
makes the gray image whose lightness equals the photo's, colorizes it
automatically (no hints) and again with a few hints drawn from the true colors
(:func:`hints_from_truth`: seeded pixels, each the mean true ab of its 3×3
patch), and scores both against the truth with CIEDE2000 and AuC, next to the
gray (ab = 0) baseline.  It writes the gray input, both results, the truth, a
side-by-side picture (gray | automatic | with hints | truth, each captioned, the
hints ringed where they are) and the metrics as Markdown and JSON.  When the
automatic result is nearly gray (:func:`~napari_colorize.api.near_gray_advice`),
the demo says so.

The default samples, ``astronaut`` and ``rocket``, are in the held-out split of
the built-in models' training corpus (``scripts/corpus_manifest.json``:
``"skimage/astronaut"`` and ``"skimage/rocket"`` have ``"split": "heldout"``),
so the scores are what a user gets on a new photo, not a training-set figure.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, NearGrayWarning

__all__ = [
    "run_demo",
    "load_sample",
    "check_samples",
    "hints_from_truth",
    "side_by_side",
    "DEMO_SAMPLES",
    "HELDOUT_SAMPLES",
    "DEMO_HINTS",
]

#: skimage.data photos kept out of the built-in models' training: the corpus's held-out split
#: (scripts/corpus_manifest.json lists skimage/astronaut and skimage/rocket with "split": "heldout")
HELDOUT_SAMPLES = ("astronaut", "rocket")
#: the demo's samples by default
DEMO_SAMPLES = HELDOUT_SAMPLES
#: hints drawn from the truth for the guided result
DEMO_HINTS = 20


def load_sample(name: str, *, max_side: int = 512) -> np.ndarray:
    """A color sample from skimage.data as float32 RGB, longest side at most ``max_side``."""
    from skimage import data
    from skimage.transform import resize

    fn = getattr(data, name, None)
    if fn is None or name.startswith("_"):
        raise InputError(f"unknown skimage.data sample {name!r}")
    img = np.asarray(fn())
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise InputError(f"skimage.data.{name} is not a color image")
    img = img[..., :3]
    h, w = img.shape[:2]
    s = min(1.0, max_side / max(h, w))
    out = resize(img, (round(h * s), round(w * s)), anti_aliasing=s < 1, preserve_range=True) / 255.0
    return out.astype(np.float32)


def check_samples(names: Sequence[str]) -> None:
    """An InputError unless every name is a :mod:`skimage.data` color photo (nothing is loaded)."""
    from skimage import data

    for name in names:
        if name.startswith("_") or not callable(getattr(data, name, None)):
            raise InputError(f"unknown skimage.data sample {name!r}")


def hints_from_truth(
    truth_rgb: np.ndarray, n: int, *, seed: int = 0, patch: int = 3, radius: float = 0
) -> Any:
    """``n`` color hints drawn from a true color image, as a :class:`~napari_colorize.hints.Hints`.

    Each hint sits on a uniformly drawn pixel (``numpy.random.default_rng(seed)``) and
    carries the mean true ab of the ``patch`` × ``patch`` window around it (clipped at the
    border): the protocol of ``benchmarks/heldout.py``.

    Parameters
    ----------
    truth_rgb : ndarray (H, W, 3)
        uint8, uint16 or float in 0..1 (:func:`~napari_colorize.color.to_float01`).
    n : int
        Number of hints (pixels drawn twice count once).
    seed : int
    patch : int
        Side of the averaged window (odd).
    radius : float
        Each hint's radius in pixels, as a person clicks it (0: one pixel); a wide hint is
        painted over the truth's L and stops at its edges (``Hints.from_points(L=...)``).
    """
    from .color import rgb2lab, to_float01
    from .hints import Hints

    truth_rgb = to_float01(np.asarray(truth_rgb))
    ab_true = rgb2lab(truth_rgb)[..., 1:]
    h, w = ab_true.shape[:2]
    rng = np.random.default_rng(seed)
    ab = np.zeros((h, w, 2), np.float32)
    mask = np.zeros((h, w), np.float32)
    r = patch // 2
    for y, x in zip(rng.integers(0, h, n), rng.integers(0, w, n)):
        win = ab_true[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
        ab[y, x] = win.reshape(-1, 2).mean(axis=0)
        mask[y, x] = 1.0
    if radius <= 0:
        return Hints(ab, mask)
    from .hint_painting import _ab2colors

    ys, xs = np.nonzero(mask)
    points = [(y, x, c, radius) for y, x, c in zip(ys, xs, _ab2colors(ab[ys, xs]))]
    L_true = rgb2lab(truth_rgb)[..., 0]
    return Hints.from_points(points, (h, w), L=L_true)


#: height in pixels of the caption strip above the side-by-side panels
CAPTION_HEIGHT = 28
#: white columns between the panels
PANEL_GAP = 8
#: outer radius in pixels of the ring drawn around each hint
HINT_RING = 6


def side_by_side(
    panels: Sequence[tuple[str, np.ndarray]], *, hints_panel: int | None = None, hints_yx: Any = ()
) -> np.ndarray:
    """Panels in a row, each with its caption above it, and the hints ringed on one of them.

    Parameters
    ----------
    panels : sequence of (caption, image)
        RGB images (H, W, 3), float in 0..1 or uint8, all of the same size.
    hints_panel : int, optional
        Index of the panel on which to ring the hints.
    hints_yx : array-like (N, 2)
        Hint pixels (row, column): a black-edged white ring is drawn around each.

    Returns
    -------
    ndarray (CAPTION_HEIGHT + H, n * W + (n - 1) * PANEL_GAP, 3) uint8
    """
    from PIL import Image, ImageDraw, ImageFont

    from .io import to_uint8

    imgs = [to_uint8(np.asarray(img)) for _, img in panels]
    h, w = imgs[0].shape[:2]
    width = len(imgs) * w + (len(imgs) - 1) * PANEL_GAP
    canvas = Image.new("RGB", (width, CAPTION_HEIGHT + h), "white")
    draw = ImageDraw.Draw(canvas)
    try:
        font: Any = ImageFont.load_default(size=16)
    except TypeError:  # Pillow without FreeType: its small bitmap font
        font = ImageFont.load_default()
    for i, ((caption, _), img) in enumerate(zip(panels, imgs)):
        x0 = i * (w + PANEL_GAP)
        canvas.paste(Image.fromarray(img), (x0, CAPTION_HEIGHT))
        left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
        draw.text(
            (x0 + (w - (right - left)) // 2 - left, (CAPTION_HEIGHT - (bottom - top)) // 2 - top),
            caption,
            fill="black",
            font=font,
        )
        if i == hints_panel:
            r = HINT_RING
            for y, x in np.asarray(hints_yx, dtype=int).reshape(-1, 2):
                cx, cy = x0 + x, CAPTION_HEIGHT + y
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline="black", width=1)
                draw.ellipse((cx - r + 1, cy - r + 1, cx + r - 1, cy + r - 1), outline="white", width=2)
    return np.asarray(canvas)


def _seen(name: str, builtin: bool) -> str:
    if name in HELDOUT_SAMPLES:
        return "held out: not seen in training" if builtin else "held out of the built-in models' training"
    return "may have been seen in training"


def run_demo(
    out: str | Path = "demo-out",
    *,
    samples: Sequence[str] = DEMO_SAMPLES,
    model: Any = None,
    n_hints: int = DEMO_HINTS,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the demo; returns the metrics per sample (automatic, with hints, gray) and their means.

    Parameters
    ----------
    out : path
        Output folder (created).
    samples : sequence of str
        :mod:`skimage.data` color photos; by default the held-out :data:`DEMO_SAMPLES`.
    model : model folder, name or Colorizer, optional
        By default the built-in :data:`~napari_colorize.catalogue.DEFAULT_MODEL`.
    n_hints : int
        Hints drawn from the truth (:func:`hints_from_truth`) for the guided result.
    seed : int
        Seed of the hints (each sample adds its index).
    """
    from .api import colorize, resolve_model
    from .catalogue import DEFAULT_MODEL, builtin_models_dir, default_model_path, resolve_model_path
    from .color import L2gray, rgb2L
    from .io import atomic_write, jsonable, to_uint8, write_image
    from .metrics import METRIC_LABELS, METRICS, evaluate_pair, mean_metrics

    out = Path(out)
    images = {n: load_sample(n) for n in samples}  # unknown names fail before any model loads
    label = f"model {model}" if isinstance(model, (str, Path)) else f"model {getattr(model, 'name', model)}"
    if model is None:  # by name only, never a ./default folder of the current directory
        model, label = default_model_path(), f"model {DEFAULT_MODEL}"
    builtin = False
    if isinstance(model, (str, Path)):
        # only the built-in models were trained on the corpus whose held-out split we use
        builtin = builtin_models_dir() in resolve_model_path(model).resolve().parents
    model = resolve_model(model)
    out.mkdir(parents=True, exist_ok=True)
    if builtin and all(n in HELDOUT_SAMPLES for n in images):
        print(
            f"{label} on {', '.join(images)}: photos held out of the built-in models' training corpus, "
            "so the model has never seen them. Automatic colors, then "
            f"{n_hints} hints drawn from the true colors; lower CIEDE2000 is better."
        )
    else:
        print(
            f"{label} on {', '.join(f'{n} ({_seen(n, builtin)})' for n in images)}; "
            "lower CIEDE2000 is better."
        )
    results: dict[str, Any] = {}
    for i, (name, truth) in enumerate(images.items()):
        # the gray image whose lightness is the truth's: only the predicted colors are judged
        gray = L2gray(rgb2L(truth))
        gray3 = np.repeat(gray[..., None], 3, axis=-1)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NearGrayWarning)  # said below, with the scores
            auto_res = colorize(gray, model, normalize="none")
        auto = np.asarray(auto_res.rgb)
        t_auto = time.perf_counter() - t0
        hints = hints_from_truth(truth, n_hints, seed=seed + i)
        t0 = time.perf_counter()
        guided = np.asarray(colorize(gray, model, hints=hints, normalize="none").rgb)
        t_hints = time.perf_counter() - t0
        write_image(out / f"{name}_gray.png", to_uint8(gray))
        write_image(out / f"{name}_auto.png", auto)
        write_image(out / f"{name}_hints.png", guided)
        write_image(out / f"{name}_truth.png", truth)
        row = side_by_side(
            [("gray", gray3), ("automatic", auto), (f"{len(hints)} hints", guided), ("truth", truth)],
            hints_panel=2,
            hints_yx=np.argwhere(np.asarray(hints.mask) > 0),
        )
        write_image(out / f"{name}_side_by_side.png", row)
        r = {
            "seen_in_training": None if not builtin else name not in HELDOUT_SAMPLES,
            "near_gray": auto_res.near_gray,
            "hints": int(len(hints)),
            "automatic": evaluate_pair(auto, truth),
            "with_hints": evaluate_pair(guided, truth),
            "gray": evaluate_pair(gray3, truth),
            "seconds": {"automatic": round(t_auto, 3), "with_hints": round(t_hints, 3)},
        }
        results[name] = r
        de = {k: r[k]["delta_e2000"] for k in ("automatic", "with_hints", "gray")}
        print(
            f"{name} ({_seen(name, builtin)}): CIEDE2000 automatic {de['automatic']:.2f}, "
            f"with {r['hints']} hints {de['with_hints']:.2f}, gray {de['gray']:.2f} "
            f"({t_auto:.1f} s, {t_hints:.1f} s)"
        )
        if auto_res.near_gray:
            print(f"{name}: {auto_res.near_gray}")
    means = {k: mean_metrics([r[k] for r in results.values()]) for k in ("automatic", "with_hints", "gray")}
    keys = METRICS
    lines = [
        f"Demo of {label}: {', '.join(f'{n} ({_seen(n, builtin)})' for n in results)}.",
        "",
        "| image | result | " + " | ".join(METRIC_LABELS[k] for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    rows = (("automatic", "automatic"), ("with_hints", f"{n_hints} hints"), ("gray", "gray (ab = 0)"))
    for n, r in [*results.items(), ("**mean**", means)]:
        for key, title in rows:
            lines.append(f"| {n} | {title} | " + " | ".join(f"{r[key][k]:.3f}" for k in keys) + " |")
    table = "\n".join(lines) + "\n"
    summary = {"model": label, "n_hints": n_hints, "per_image": results, "mean": means}
    with atomic_write(out / "metrics.md", "w") as f:
        f.write(table)
    with atomic_write(out / "metrics.json", "w") as f:
        json.dump(jsonable(summary), f, indent=2, allow_nan=False)
    print(table)
    print(f"wrote results to {out}/")
    return summary
