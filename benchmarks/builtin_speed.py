"""Inference speed of built-in models or model folders, against the first one, in one process.

For each model, the median wall time of ``model.predict_ab`` (no hints) on
random L images of each ``--sizes`` side (a new image per run, after a warm-up run), as megapixels
per second, and its ratio to the first model's at the same size.  The model
folder's size on disk is listed too.

Example
-------
::

    python benchmarks/builtin_speed.py default build/imagenet --sizes 512 2048 --markdown out.md
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, log  # noqa: E402

from napari_colorize.api import resolve_model  # noqa: E402
from napari_colorize.catalogue import resolve_model_path  # noqa: E402

COLUMNS = [
    Column("model", "model", "{}", "<"),
    Column("side", "size", "{}²"),
    Column("seconds", "s (median)", "{:.2f}"),
    Column("mp_s", "MP/s", "{:.3f}"),
    Column("ratio", "MP/s / first model's", "{:.2f}"),
    Column("mb", "folder MB", "{:.1f}"),
]


def folder_mb(name: str) -> float:
    """Size on disk of a model folder (built-in name or path), in MB."""
    path = Path(resolve_model_path(name))
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="built-in names or model folders (the first is the reference)")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--markdown", help="also write the table to this markdown file")
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {m: resolve_model(m) for m in a.models}
    for side in a.sizes:
        # a new image per run: models that keep their last automatic pass (siggraph17) must not reuse it
        images = [rng.uniform(0, 100, (side, side)).astype(np.float32) for _ in range(a.repeat + 1)]
        first = None
        for name, model in models.items():
            it = iter(images)
            sec, _ = common.timeit(
                lambda model=model, it=it: model.predict_ab(next(it)), repeat=a.repeat, warmup=1
            )
            mp_s = side * side / 1e6 / sec
            first = first or mp_s
            rows.append(
                {
                    "model": name,
                    "side": side,
                    "seconds": sec,
                    "mp_s": mp_s,
                    "ratio": mp_s / first,
                    "mb": folder_mb(name),
                }
            )
            log(f"{name} {side}²: {sec:.2f} s, {mp_s:.3f} MP/s")
    print(common.format_table(rows, COLUMNS))
    if a.markdown:
        text = common.format_table(rows, COLUMNS, markdown=True)
        text += f"\n\nCommand: `{common.command_line()}`\n\n{common.machine_markdown()}\n"
        common.write_text(a.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
