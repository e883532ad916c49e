"""``napari-colorize demo``: colorize built-in sample photos and measure the result.

For each sample (from :mod:`skimage.data`), the demo writes the gray input,
L, ab, the colorized RGB, a side-by-side picture (gray | colorized | truth)
and a metrics table against the true colors, with the gray (ab = 0)
baseline for comparison.

The model is the first built-in default model shipped in the package (see
:func:`napari_colorize.api.builtin_models`).  Without one, a ``lookup``
model is learned in seconds from the *other* samples (leave-one-out), so
no sample is colorized by a model that saw it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["run_demo", "load_sample", "DEFAULT_MODEL_ORDER"]

#: built-in models the demo prefers, best first
DEFAULT_MODEL_ORDER = ("window", "eccv16-lite", "autoencoder", "lookup")


def load_sample(name: str, *, max_side: int = 512) -> np.ndarray:
    """A color sample from skimage.data as float32 RGB, longest side at most ``max_side``."""
    from skimage import data
    from skimage.transform import resize

    fn = getattr(data, name, None)
    if fn is None:
        raise InputError(f"unknown skimage.data sample {name!r}")
    img = np.asarray(fn())
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise InputError(f"skimage.data.{name} is not a color image")
    img = img[..., :3]
    h, w = img.shape[:2]
    s = min(1.0, max_side / max(h, w))
    out = resize(img, (round(h * s), round(w * s)), anti_aliasing=s < 1, preserve_range=True) / 255.0
    return out.astype(np.float32)


def _pick_model(samples: dict[str, np.ndarray], name: str) -> tuple[Any, str]:
    from .api import builtin_models, resolve_model, train

    builtins = builtin_models()
    for key in DEFAULT_MODEL_ORDER:
        if key in builtins:
            return resolve_model(builtins[key]), f"built-in {key}"
    if builtins:
        key = next(iter(builtins))
        return resolve_model(builtins[key]), f"built-in {key}"
    others = [img for n, img in samples.items() if n != name] or [
        samples[name][:, : samples[name].shape[1] // 2]
    ]
    return train("lookup", others), "lookup learned from the other samples"


def run_demo(
    out: str | Path = "demo-out", *, samples: Sequence[str] = ("coffee", "chelsea", "astronaut")
) -> dict[str, Any]:
    """Run the demo; returns the metrics per sample and their mean."""
    from .api import colorize
    from .color import L2gray, rgb2L
    from .io import atomic_write, jsonable, to_uint8, write_image
    from .metrics import METRIC_LABELS, METRICS, evaluate_pair, mean_metrics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = {n: load_sample(n) for n in samples}
    results: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    for name, truth in images.items():
        t0 = time.perf_counter()
        if "builtin" in cache:
            model, how = cache["builtin"]
        else:
            model, how = _pick_model(images, name)
            if how.startswith("built-in"):
                cache["builtin"] = (model, how)
        gray = to_uint8(L2gray(rgb2L(truth)))
        res = colorize(gray, model, tile="auto")
        seconds = time.perf_counter() - t0
        rgb = np.asarray(res.rgb)
        write_image(out / f"{name}_gray.png", gray)
        write_image(out / f"{name}_L.tif", np.asarray(res.L, np.float32))
        write_image(out / f"{name}_ab.tif", np.asarray(res.ab, np.float32))
        write_image(out / f"{name}_rgb.png", rgb)
        write_image(out / f"{name}_truth.png", truth)
        sep = np.ones((rgb.shape[0], 8, 3), np.float32)
        gray3 = np.repeat((gray.astype(np.float32) / 255)[..., None], 3, axis=-1)
        write_image(out / f"{name}_side_by_side.png", np.concatenate([gray3, sep, rgb, sep, truth], axis=1))
        metrics = evaluate_pair(rgb, truth)
        metrics.update(model=how, seconds=round(seconds, 3))
        results[name] = metrics
        baseline[name] = evaluate_pair(gray3, truth)
        print(
            f"{name}: {how}; CIEDE2000 {metrics['delta_e2000']:.2f} "
            f"(gray {baseline[name]['delta_e2000']:.2f}), "
            f"AuC {metrics['auc']:.3f} (gray {baseline[name]['auc']:.3f}), {seconds:.1f} s"
        )
    keys = METRICS
    mean = mean_metrics([{k: r[k] for k in keys} for r in results.values()])
    gmean = mean_metrics([{k: r[k] for k in keys} for r in baseline.values()])
    lines = [
        "| image | model | " + " | ".join(METRIC_LABELS[k] for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for n, r in results.items():
        lines.append(f"| {n} | {r['model']} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    lines.append("| **mean** | | " + " | ".join(f"{mean[k]:.3f}" for k in keys) + " |")
    lines.append("| gray baseline (ab = 0) | | " + " | ".join(f"{gmean[k]:.3f}" for k in keys) + " |")
    table = "\n".join(lines) + "\n"
    with atomic_write(out / "metrics.md", "w") as f:
        f.write(table)
    with atomic_write(out / "metrics.json", "w") as f:
        json.dump(
            jsonable({"per_image": results, "mean": mean, "gray_baseline_mean": gmean}),
            f,
            indent=2,
            allow_nan=False,
        )
    print(table)
    print(f"wrote results to {out}/")
    return {"per_image": results, "mean": mean, "gray_baseline_mean": gmean}
