"""The README picture of the built-in ``default``: gray | automatic | 20 hints | truth.

Usage::

    python scripts/default_figure.py [--photo skimage/astronaut] [--out docs/default.jpg]

The photo is one of the corpus' held-out photos (``scripts/corpus.py``), which
the model did not learn from.  The 20 hints are drawn from the truth as in
``benchmarks/heldout.py`` (seed 0); they are drawn as small white-ringed dots
on the hinted panel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo", default="skimage/astronaut", help="a held-out corpus photo name")
    p.add_argument("--model", default="default")
    p.add_argument("--hints", type=int, default=20)
    p.add_argument("--side", type=int, default=320, help="longest side of each panel, px")
    p.add_argument("--out", default=str(ROOT / "docs" / "default.jpg"))
    a = p.parse_args(argv)

    import corpus
    from heldout import random_hints
    from skimage.draw import disk
    from skimage.io import imsave

    from napari_colorize.api import resolve_model
    from napari_colorize.color import Lab2rgb, rgb2lab, to_float01
    from napari_colorize.hints import Hints

    entries = {im["name"]: im for im in corpus.corpus_entries("heldout")}
    if a.photo not in entries:
        raise SystemExit(f"{a.photo!r} is not a held-out photo; those are: {', '.join(entries)}")
    truth = to_float01(corpus.read_rgb(corpus.file_path(entries[a.photo]), max_side=a.side))
    lab = rgb2lab(truth)
    L = lab[..., 0]
    model = resolve_model(a.model)
    ab_h, mask = random_hints(truth, a.hints, seed=0)
    auto = Lab2rgb(L, model.predict_ab(L))
    hinted = Lab2rgb(L, model.predict_ab(L, hints=Hints(ab_h, mask)))
    for y, x in zip(*np.nonzero(mask)):
        rr, cc = disk((y, x), 4, shape=L.shape)
        hinted[rr, cc] = 1.0
        rr, cc = disk((y, x), 3, shape=L.shape)
        hinted[rr, cc] = Lab2rgb(np.array([[L[y, x]]]), ab_h[y, x][None, None])[0, 0]
    gray = Lab2rgb(L, np.zeros_like(lab[..., 1:]))
    gap = np.ones((L.shape[0], 6, 3), np.float32)
    panel = np.concatenate([gray, gap, auto, gap, hinted, gap, truth], axis=1)
    imsave(a.out, (np.clip(panel, 0, 1) * 255).round().astype(np.uint8), quality=85)
    print(f"{a.out}: {Path(a.out).stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
