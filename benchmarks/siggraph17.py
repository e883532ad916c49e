"""SIGGRAPH17 inference speed: our Keras ``siggraph17`` against the same network in PyTorch.

For each width (1.0 = the paper's 34 M parameters, 0.25 = the built-in
``default``) and case (``--sides`` x ``--sides`` L without hints, the
network's automatic pass, fully convolutional; and a ``--side`` x
``--side`` L with 20 hints, where ``predict_ab`` also runs the automatic
pass once and fuses the hints), in one process on the same CPU: megapixels
of input per second (median of ``--repeat`` runs after a warm-up, Keras and
PyTorch alternating) for ``SIGGRAPH17Colorizer.predict_ab`` (numpy in, numpy
out, confidence included) and for the reference PyTorch generator (the
authors' layout, rebuilt in ``tests/engine/test_siggraph17.py``) under
``torch.inference_mode``, and their ratio (> 1: Keras faster).  Weights are
random.

Examples
--------
::

    python benchmarks/siggraph17.py --widths 0.25 1.0 --side 512 --repeat 3
    python benchmarks/siggraph17.py --threads 1 --precision bfloat16
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
from common import Column, log  # noqa: E402

COLUMNS = [
    Column("width", "width", "{:g}", "<"),
    Column("params", "parameters (M)", "{:.1f}"),
    Column("case", "case", "{}", "<"),
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
    p.add_argument("--side", type=int, default=512, help="side of the case with 20 hints")
    p.add_argument(
        "--sides", type=int, nargs="*", default=[256, 1024], help="sides of the cases without hints"
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=90.0, help="stop repeating a case after this long")
    p.add_argument("--threads", type=int, help="threads for TensorFlow and PyTorch each (default: theirs)")
    p.add_argument("--precision", default="float32", help="the Keras model's precision")
    p.add_argument("--markdown")
    a = p.parse_args(argv)
    common.set_threads(a.threads)

    import torch
    from eccv16 import interleaved

    from napari_colorize.hints import Hints
    from napari_colorize.methods.siggraph17 import SIGGRAPH17Colorizer, sample_hints

    ref_cls = _reference()
    rng = np.random.default_rng(0)
    # (label, side, with hints)
    cases = [(f"{s} native", s, False) for s in a.sides] + [(f"{a.side} native, 20 hints", a.side, True)]
    rows = []
    for w in a.widths:
        model = SIGGRAPH17Colorizer(width=w, precision=a.precision)
        net = ref_cls(torch, w).eval()
        params = model.keras_model.count_params() / 1e6
        for label, s, with_hints in cases:
            L = rng.uniform(0, 100, (s, s)).astype(np.float32)
            ab, mask = sample_hints(rng.uniform(-60, 60, (s, s, 2)), rng, n_hints=20 if with_hints else 0)
            hints = Hints(ab, mask) if with_hints else None
            t = torch.from_numpy
            xL, xab, xm = t(L[None, None]), t(ab.transpose(2, 0, 1)[None].copy()), t(mask[None, None])

            def run_keras() -> None:
                if not with_hints:
                    model._auto_cache = None  # the automatic pass is cached per image: time the network
                model.predict_ab(L, hints=hints)

            def run_torch() -> None:
                with torch.inference_mode():
                    net(xL, xab, xm)

            times = interleaved(
                {"keras": run_keras, "torch": run_torch}, repeat=a.repeat, max_seconds=a.max_seconds
            )
            mp = s * s / 1e6
            k, r = mp / times["keras"], mp / times["torch"]
            rows.append({"width": w, "params": params, "case": label, "keras": k, "torch": r, "ratio": k / r})
            log(f"width {w} {label}: Keras {k:.3f} MP/s, PyTorch {r:.3f} MP/s")
        common.free_memory()
    threads = f"{a.threads} thread(s) each" if a.threads else "default threads"
    title = f"siggraph17 inference, Keras {a.precision}, {threads}, median of {a.repeat}"
    print(title)
    print(common.format_table(rows, COLUMNS, cpu=True))
    if a.markdown:
        text = f"{title}\n\n{common.format_table(rows, COLUMNS, markdown=True, cpu=True)}\n\n"
        text += f"Command: `{common.command_line()}`\n\n{common.machine_markdown()}\n"
        common.write_text(a.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
