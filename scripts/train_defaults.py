"""Reproduce the built-in default models shipped in ``src/napari_colorize/models/``.

Usage::

    .venv/bin/python scripts/train_defaults.py [--only window ...] [--out src/napari_colorize/models]

Each model is trained from scratch on the color photos that ship with
scikit-image and scikit-learn (their licences allow it), resized to 512 px on
the longest side.  The whole run takes well under 30 minutes on 2 CPU cores.
Each model's ``config.json`` records, under ``info``, the images, the recipe
and the time it took.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: images the defaults learn from (skimage.data names, then sklearn sample images)
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

#: name -> (method, config); keep them small (< 20 MB in total) and quick
RECIPES: dict[str, tuple[str, dict]] = {
    "window": ("window", {}),
    "eccv16-lite": (
        "eccv16",
        {"width": 0.125, "epochs": 12, "rebalance": False, "crop_size": 128, "input_size": 128},
    ),
}


def bundled_photos(max_side: int = 512) -> dict[str, np.ndarray]:
    """The bundled color photos as float32 RGB, longest side ``max_side``."""
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "src" / "napari_colorize" / "models"))
    p.add_argument("--only", nargs="*", help="recipes to train (default: all)")
    args = p.parse_args(argv)

    import napari_colorize as nc
    from napari_colorize.progress import TqdmHooks, make_callback

    photos = bundled_photos()
    for name, (method, config) in RECIPES.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        cb = make_callback(TqdmHooks, keras=method != "lookup", desc=name)
        model = nc.train(method, list(photos.values()), config=config, callbacks=[cb])
        seconds = time.perf_counter() - t0
        model.info = {
            "trained_on": [
                f"skimage.data.{n}" if n in SKIMAGE_PHOTOS else f"sklearn sample image {n}" for n in photos
            ],
            "recipe": {"method": method, "config": config, "image_max_side": 512},
            "train_seconds": round(seconds, 1),
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
            "script": "scripts/train_defaults.py",
            "history": getattr(model, "info", {}).get("history", {}),
        }
        out = Path(args.out) / name
        model.save(out, optimizer=False)  # shipped for inference: no optimizer state
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
        print(f"{name}: {method} trained in {seconds:.0f} s, {size:.2f} MB -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
