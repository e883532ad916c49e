"""bfloat16 inference (``precision="bfloat16"``) against float32: quality cost and speed.

**Quality**, on the bundled photos (``common.PHOTOS``, longest side ``--size``):
each model colorizes the photo's L in float32 and in bfloat16 (the same
weights; the network in bfloat16, the decoding in float32) and the table gives

- ``mean |Δab|``: mean Euclidean ab distance between the two predictions, Lab units
  (and its 99th percentile);
- ``ΔE00 bf16 vs f32``: mean CIEDE2000 between the two colorizations as RGB;
- ``Δ CIEDE2000 to truth``: the change of the mean CIEDE2000 to the true photo
  (bfloat16 minus float32; the target is <= 0.3 in absolute value).

Models: the built-in ``default`` (``siggraph17``, trained), the ``eccv16``
lite model in ``tests/engine/data/legacy`` (trained), and the full-width
networks with random weights (their colours mean nothing; they are there for
the speed table and to show the arithmetic's error on the paper's network).

**Speed**: ``predict_ab`` in float32 and in bfloat16, alternating in one
process (medians of ``--repeat``), full width: ``eccv16`` at 1024 resize and
256 resize, ``siggraph17`` at 256 and 512 (fully convolutional, no hints).

Examples
--------
::

    python benchmarks/bfloat16.py --markdown bf16.md
    python benchmarks/bfloat16.py --no-speed --images 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

QUALITY_COLUMNS = [
    Column("model", "model", "{}", "<"),
    Column("photos", "photos", "{:d}"),
    Column("dab", "mean abs Δab", "{:.3f}"),
    Column("dab99", "Δab 99th pct", "{:.3f}"),
    Column("de_pair", "ΔE00 bf16 vs f32", "{:.3f}"),
    Column("de32", "CIEDE2000 f32", "{:.3f}"),
    Column("de16", "CIEDE2000 bf16", "{:.3f}"),
    Column("dde", "Δ CIEDE2000", "{:+.3f}"),
    Column("verdict", "within 0.3", "{}", "<"),
]
SPEED_COLUMNS = [
    Column("model", "model", "{}", "<"),
    Column("case", "case", "{}", "<"),
    Column("f32", "float32 MP/s", "{:.3f}"),
    Column("bf16", "bfloat16 MP/s", "{:.3f}"),
    Column("ratio", "bfloat16 / float32", "{:.2f}"),
]


def quality_models() -> list[tuple[str, Any]]:
    """(label, model) of the models whose quality cost is measured."""
    from napari_colorize.methods import load_model, make_model

    out = []
    pkg = ROOT / "src" / "napari_colorize" / "models" / "default"
    if pkg.is_dir():
        out.append(("default (siggraph17 0.25, trained)", load_model(pkg)))
    lite = ROOT / "tests" / "engine" / "data" / "legacy" / "eccv16-lite"
    if lite.is_dir():
        out.append(("eccv16 0.125 (trained, tests' legacy)", load_model(lite)))
    out.append(("eccv16 1.0 (random weights)", make_model("eccv16", width=1.0)))
    out.append(("siggraph17 1.0 (random weights)", make_model("siggraph17", width=1.0)))
    return out


def pair(model: Any) -> tuple[Any, Any]:
    """The model in float32 and a copy sharing its weights in bfloat16."""
    m32 = model
    m32.config = m32.config.replace(precision="float32")
    m16 = type(model)(model.config.replace(precision="bfloat16"))
    m32._ensure_net()
    m16._adopt_net(m32)
    m16.trained, m16.info = m32.trained, dict(m32.info)
    for attr in ("_bins", "_prior"):  # eccv16's bin table belongs to the model
        if hasattr(m32, attr):
            setattr(m16, attr, getattr(m32, attr))
    return m32, m16


def quality(photos: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    from napari_colorize.color import Lab2rgb, rgb2L
    from napari_colorize.metrics import delta_e2000

    rows = []
    for label, model in quality_models():
        m32, m16 = pair(model)
        dab, d99, de_pair, de32, de16 = [], [], [], [], []
        for name, rgb in photos:
            L = rgb2L(rgb)
            ab32, ab16 = m32.predict_ab(L), m16.predict_ab(L)
            d = np.linalg.norm(ab16.astype(np.float64) - ab32, axis=-1)
            dab.append(float(d.mean()))
            d99.append(float(np.percentile(d, 99)))
            rgb32, rgb16 = Lab2rgb(L, ab32), Lab2rgb(L, ab16)
            de_pair.append(delta_e2000(rgb16, rgb32))
            de32.append(delta_e2000(rgb32, rgb))
            de16.append(delta_e2000(rgb16, rgb))
            log(f"{label} {name}: mean |Δab| {dab[-1]:.3f}, ΔE00 pair {de_pair[-1]:.3f}")
        dde = float(np.mean(de16) - np.mean(de32))
        rows.append(
            {
                "model": label,
                "photos": len(photos),
                "dab": float(np.mean(dab)),
                "dab99": float(np.mean(d99)),
                "de_pair": float(np.mean(de_pair)),
                "de32": float(np.mean(de32)),
                "de16": float(np.mean(de16)),
                "dde": dde,
                "verdict": "yes" if abs(dde) <= 0.3 and float(np.mean(de_pair)) <= 0.3 else "no",
            }
        )
        common.free_memory()
    return rows


def speed(repeat: int) -> list[dict[str, Any]]:
    from napari_colorize.methods import make_model

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from eccv16 import interleaved, test_L

    cases = [
        ("eccv16", {"inference": "resize"}, "1024 resize", 1024),
        ("eccv16", {"inference": "resize"}, "256 resize", 256),
        ("siggraph17", {}, "256 native", 256),
        ("siggraph17", {}, "512 native", 512),
    ]
    rows = []
    models: dict[str, tuple[Any, Any]] = {}
    for method, cfg, label, size in cases:
        if method not in models:
            models[method] = pair(make_model(method, width=1.0))
        m32, m16 = models[method]
        m32.config = m32.config.replace(**cfg, precision="float32")
        m16.config = m16.config.replace(**cfg, precision="bfloat16")
        L = test_L(size)

        def run(m: Any) -> Any:
            if hasattr(m, "_auto_cache"):
                m._auto_cache = None  # siggraph17 keeps the last automatic pass: time the network
            return m.predict_ab(L)

        t = interleaved({"f32": lambda: run(m32), "bf16": lambda: run(m16)}, repeat=repeat, max_seconds=90)
        mp = size * size / 1e6
        rows.append(
            {
                "model": f"{method} 1.0",
                "case": label,
                "f32": mp / t["f32"],
                "bf16": mp / t["bf16"],
                "ratio": t["f32"] / t["bf16"],
            }
        )
        log(f"{method} {label}: float32 {t['f32']:.3f} s, bfloat16 {t['bf16']:.3f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=6, help="the first N bundled photos")
    p.add_argument("--size", type=int, default=512, help="longest side of the photos, px")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--no-quality", action="store_true")
    p.add_argument("--markdown", type=Path, help="also write the tables here")
    a = p.parse_args(argv)
    from napari_colorize.backends import native_bfloat16

    if not native_bfloat16():
        log("this CPU has neither AMX-BF16 nor AVX512-BF16: bfloat16 is emulated (slow) here")
    text = [common.machine_markdown(), ""]
    if not a.no_quality:
        photos = common.load_photos(n=a.images, size=a.size)
        q = quality(photos)
        title = f"bfloat16 against float32, {len(photos)} photos ({', '.join(n for n, _ in photos)}), {a.size} px"
        print(title)
        print(common.format_table(q, QUALITY_COLUMNS, cpu=True))
        text += [title, "", common.format_table(q, QUALITY_COLUMNS, markdown=True, cpu=True), ""]
    if not a.no_speed:
        s = speed(a.repeat)
        title = f"predict_ab, float32 and bfloat16 alternating, median of {a.repeat}"
        print(title)
        print(common.format_table(s, SPEED_COLUMNS, cpu=True))
        text += [title, "", common.format_table(s, SPEED_COLUMNS, markdown=True, cpu=True), ""]
    text.append(f"Command: `{common.command_line()}`")
    if a.markdown:
        common.write_text(a.markdown, "\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
