"""SIGGRAPH17 inference speed: our Keras ``siggraph17`` against the same network in PyTorch.

For each width (1.0 = the paper's 34 M parameters, 0.25 = the built-in
``default``), a ``--side`` x ``--side`` L with 20 hints, in one process on
the same CPU: megapixels of input per second (median of ``--repeat`` runs
after a warm-up, Keras and PyTorch alternating) for
``SIGGRAPH17Colorizer.predict_ab`` (numpy in, numpy out, confidence
included) and for the reference PyTorch generator (the authors' layout,
rebuilt in ``tests/engine/test_siggraph17.py``) under ``torch.inference_mode``,
and their ratio (> 1: Keras faster).  Weights are random.

Examples
--------
::

    python benchmarks/siggraph17.py --widths 0.25 1.0 --side 512 --repeat 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
from common import Column, log  # noqa: E402

COLUMNS = [
    Column("width", "width", "{:g}", "<"),
    Column("params", "parameters (M)", "{:.1f}"),
    Column("keras", "Keras MP/s", "{:.3f}"),
    Column("torch", "PyTorch MP/s", "{:.3f}"),
    Column("ratio", "Keras / PyTorch", "{:.2f}"),
]


def _reference():
    spec = importlib.util.spec_from_file_location("t_sig", ROOT / "tests" / "engine" / "test_siggraph17.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._torch_siggraph17


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="+", default=[0.25, 1.0])
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--markdown")
    a = p.parse_args(argv)

    import torch

    from napari_colorize.hints import Hints
    from napari_colorize.methods.siggraph17 import SIGGRAPH17Colorizer, sample_hints

    ref_cls = _reference()
    rng = np.random.default_rng(0)
    s = a.side
    L = rng.uniform(0, 100, (s, s)).astype(np.float32)
    ab, mask = sample_hints(rng.uniform(-60, 60, (s, s, 2)), rng, n_hints=20, p_uniform=1.0)
    hints = Hints(ab, mask)
    mp = s * s / 1e6
    rows = []
    for w in a.widths:
        model = SIGGRAPH17Colorizer(width=w)
        net = ref_cls(torch, w).eval()
        t = torch.from_numpy
        xL, xab, xm = t(L[None, None]), t(ab.transpose(2, 0, 1)[None]), t(mask[None, None])
        model.predict_ab(L, hints=hints)  # warm-up (tracing)
        with torch.inference_mode():
            net(xL, xab, xm)
        tk, tt = [], []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            model.predict_ab(L, hints=hints)
            tk.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with torch.inference_mode():
                net(xL, xab, xm)
            tt.append(time.perf_counter() - t0)
        k, r = mp / statistics.median(tk), mp / statistics.median(tt)
        params = model.keras_model.count_params() / 1e6
        rows.append({"width": w, "params": params, "keras": k, "torch": r, "ratio": k / r})
        log(f"width {w}: Keras {k:.3f} MP/s, PyTorch {r:.3f} MP/s")
    title = f"siggraph17 inference, {s}x{s} L with 20 hints, median of {a.repeat}"
    print(title)
    print(common.format_table(rows, COLUMNS))
    if a.markdown:
        text = f"{title}\n\n{common.format_table(rows, COLUMNS, markdown=True)}\n\n"
        text += f"Command: `{common.command_line()}`\n\n{common.machine_markdown()}\n"
        common.write_text(a.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
