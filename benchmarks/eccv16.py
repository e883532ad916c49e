"""ECCV16 inference speed: our Keras ``eccv16`` against the same network in PyTorch.

For each width (1.0 = the paper's 32 M parameters, 0.25 = the lite model)
and case, in one process on the same CPU:

- ``256 resize``: a 256x256 L (the authors' setting: no resize needed);
- ``1024 resize``: 1024x1024 L resized to 256, ab upsampled back to 1024;
- ``1024 native``: fully convolutional at 1024x1024, ab upsampled x4;

megapixels of input per second (median of ``--repeat`` runs, after a
warm-up; Keras and PyTorch runs alternate), for
``ECCV16Colorizer.predict_ab`` (numpy in, numpy out) and for the reference PyTorch module (``richzhang/colorization``'s
``ECCVGenerator``, rebuilt here with the same width) doing the same work
under ``torch.inference_mode``, and their ratio (> 1: Keras faster).
Weights are random: speed does not depend on them.

Examples
--------
::

    python benchmarks/eccv16.py
    python benchmarks/eccv16.py --widths 0.25 --repeat 3 --markdown eccv16_speed.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, log  # noqa: E402

CASES = [("256 resize", 256, "resize"), ("1024 resize", 1024, "resize"), ("1024 native", 1024, "native")]


def torch_eccv16(width: float, n_bins: int = 313) -> tuple[Any, Any]:
    """The reference ECCV16 network (richzhang/colorization, colorizers/eccv16.py) at a width."""
    import torch
    from torch import nn

    def ch(c: int) -> int:
        return max(1, int(round(c * width)))

    def block(cin: int, cout: int, specs: list[tuple[int, int]], bn: bool = True) -> nn.Sequential:
        mods: list[nn.Module] = []
        for stride, dil in specs:
            mods += [nn.Conv2d(cin, cout, 3, stride=stride, padding=dil, dilation=dil), nn.ReLU(True)]
            cin = cout
        if bn:
            mods.append(nn.BatchNorm2d(cout))
        return nn.Sequential(*mods)

    class ECCV16(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = [ch(v) for v in (64, 128, 256, 512, 512, 512, 512, 256)]
            self.body = nn.Sequential(
                block(1, c[0], [(1, 1), (2, 1)]),
                block(c[0], c[1], [(1, 1), (2, 1)]),
                block(c[1], c[2], [(1, 1), (1, 1), (2, 1)]),
                block(c[2], c[3], [(1, 1)] * 3),
                block(c[3], c[4], [(1, 2)] * 3),
                block(c[4], c[5], [(1, 2)] * 3),
                block(c[5], c[6], [(1, 1)] * 3),
                nn.Sequential(
                    nn.ConvTranspose2d(c[6], c[7], 4, stride=2, padding=1),
                    nn.ReLU(True),
                    nn.Conv2d(c[7], c[7], 3, padding=1),
                    nn.ReLU(True),
                    nn.Conv2d(c[7], c[7], 3, padding=1),
                    nn.ReLU(True),
                    nn.Conv2d(c[7], n_bins, 1),
                ),
            )
            self.model_out = nn.Conv2d(n_bins, 2, 1, bias=False)

        def forward(self, L: Any, size: tuple[int, int], native: bool) -> Any:
            F = nn.functional
            x = (L - 50.0) / 100.0
            if not native and tuple(x.shape[-2:]) != (256, 256):
                x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False, antialias=True)
            ab = self.model_out(torch.softmax(self.body(x) / 0.38, dim=1)) * 110.0
            return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    return ECCV16().eval(), torch


def before_issue_25(model: Any) -> Any:
    """``predict_ab`` as it ran before issue 25, on the same network, for a same-process comparison.

    Then only the network and the annealed mean were compiled: L was normalised
    in numpy, resized by an eager Keras op, and the ab upsampled by another,
    each crossing between numpy and TensorFlow.
    """
    from keras import ops

    from napari_colorize.color import L2norm
    from napari_colorize.methods.colorizer import check_L
    from napari_colorize.methods.eccv16 import network as K
    from napari_colorize.methods.keras_ops import inference_function

    net = model._inference_net()
    decode = K.AnnealedMean(model.bins, model.config.ab_scale, name="annealed_mean_before")
    decode.build((None, None, None, model.n_bins))
    T = float(model.config.T)
    run = inference_function(lambda x: decode(net(x, training=False), temperature=T))

    def predict_ab(L: np.ndarray) -> np.ndarray:
        from napari_colorize.tiling import pad_to_block

        cfg = model.config
        L = check_L(L)[None]
        h, w = L.shape[1:]
        if cfg.inference == "native":
            xp, _ = pad_to_block(L, 8)
            ab = run(L2norm(xp)[..., None])
            ab = ops.convert_to_numpy(ops.image.resize(ab, xp.shape[1:3], interpolation="bilinear"))
            return ab[0, :h, :w]
        xn = L2norm(L)[..., None]
        if (h, w) != (cfg.input_size,) * 2:
            xn = K.resize_L(xn, cfg.input_size)
        ab = run(np.asarray(xn, np.float32))
        return ops.convert_to_numpy(ops.image.resize(ab, (h, w), interpolation="bilinear"))[0]

    return predict_ab


def interleaved(fns: dict[str, Any], *, repeat: int, max_seconds: float) -> dict[str, float]:
    """Median seconds of each function, run alternately (one warm-up each).

    Alternating the frameworks run by run keeps a change in machine load
    from favouring one of them.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    for _ in range(max(1, repeat)):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
        if time.perf_counter() - start > max_seconds and len(times[next(iter(fns))]) >= 3:
            break
    return {k: statistics.median(v) for k, v in times.items()}


def test_L(size: int) -> np.ndarray:
    from skimage import data
    from skimage.color import rgb2lab
    from skimage.transform import resize

    rgb = resize(data.chelsea(), (size, size), anti_aliasing=True)
    return rgb2lab(rgb)[..., 0].astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument(
        "--max-seconds", type=float, default=60.0, help="stop repeating a case after this long (>= 3 runs)"
    )
    p.add_argument("--no-torch", action="store_true", help="time Keras only")
    p.add_argument(
        "--threads", type=int, help="threads for TensorFlow and PyTorch each (default: theirs, all cores)"
    )
    p.add_argument("--precision", default="float32", help="the Keras model's precision (float32, bfloat16...)")
    p.add_argument(
        "--before",
        action="store_true",
        help="also time predict_ab as it ran before issue 25 (only the network compiled), same network",
    )
    p.add_argument("--markdown", type=Path, help="also write a markdown table here")
    args = p.parse_args(argv)
    common.set_threads(args.threads)

    from napari_colorize.methods.eccv16 import ECCV16Colorizer

    have_torch = not args.no_torch
    if have_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            log("torch is not installed: timing Keras only (pip install torch==2.13.0)")
            have_torch = False

    rows = []
    for width in args.widths:
        model = ECCV16Colorizer(width=width, precision=args.precision)
        tnet = torch_mod = None
        if have_torch:
            tnet, torch_mod = torch_eccv16(width, model.n_bins)
        for label, size, mode in CASES:
            L = test_L(size)
            model.config = model.config.replace(inference=mode)
            mp = size * size / 1e6
            fns = {"keras": lambda: model.predict_ab(L)}
            if args.before:
                old = before_issue_25(model)
                fns["before"] = lambda: old(L)
            if tnet is not None:
                x = torch_mod.from_numpy(L[None, None].copy())

                def run_torch() -> np.ndarray:
                    with torch_mod.inference_mode():
                        return tnet(x, (size, size), mode == "native")[0].permute(1, 2, 0).numpy()

                fns["torch"] = run_torch
            t = interleaved(fns, repeat=args.repeat, max_seconds=args.max_seconds)
            row: dict[str, Any] = {
                "width": width,
                "case": label,
                "keras_mps": mp / t["keras"],
                "keras_s": t["keras"],
            }
            if "torch" in t:
                row.update(torch_mps=mp / t["torch"], torch_s=t["torch"], ratio=t["torch"] / t["keras"])
            if "before" in t:
                row.update(before_mps=mp / t["before"], gain=t["before"] / t["keras"])
                if "torch" in t:
                    row["before_ratio"] = t["torch"] / t["before"]
            rows.append(row)
            log(
                f"width {width} {label}: keras {row['keras_s']:.3f} s"
                + (f", torch {row['torch_s']:.3f} s" if "torch_s" in row else "")
            )
        common.free_memory()

    cols = [
        Column("width", "width", "{:.2f}"),
        Column("case", "case", "{}", "<"),
        Column("keras_mps", "Keras MP/s", "{:.3f}"),
        Column("torch_mps", "PyTorch MP/s", "{:.3f}"),
        Column("ratio", "Keras/PyTorch speed", "{:.2f}"),
        Column("keras_s", "Keras s", "{:.3f}"),
        Column("torch_s", "PyTorch s", "{:.3f}"),
    ]
    if args.before:
        cols += [
            Column("before_mps", "Keras before MP/s", "{:.3f}"),
            Column("before_ratio", "before/PyTorch", "{:.2f}"),
            Column("gain", "now/before", "{:.2f}"),
        ]
    desc = common.machine_description()
    threads = f"{args.threads} thread(s) each" if args.threads else "default threads"
    print(common.format_table(rows, cols, cpu=True))
    print(f"\nmedians of up to {args.repeat} runs; Keras {args.precision}; {threads}; {desc}")
    if args.markdown:
        common.write_text(
            args.markdown,
            common.machine_markdown(desc)
            + f"\n\nKeras {args.precision}, {threads}; `{common.command_line()}`\n\n"
            + common.format_table(rows, cols, markdown=True, cpu=True)
            + "\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
