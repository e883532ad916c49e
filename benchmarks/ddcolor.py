"""DDColor inference speed and memory: our Keras port against the authors' PyTorch network.

For each encoder (``tiny``, ``large``) and each side (256, 512), in one process on the same
CPU: the authors' generator (``spandrel-extra-arches``, rebuilt in ``tests/engine/test_ddcolor.py``)
with random weights, and the same weights imported into the Keras port
(:func:`napari_colorize.methods.ddcolor.import_torch_weights`).  Each is timed on the same gray
RGB batch of one image, numpy in and numpy out, network only (the resize to ``input_size`` and
back is the same for both and is left out): Keras through the method's compiled inference
function, PyTorch under ``torch.inference_mode``.  Median of ``--repeat`` runs after a warm-up,
Keras and PyTorch alternating; ratio > 1: Keras faster.

Peak memory (max RSS of a fresh child process: framework, weights and one pass) at 512², for
each framework, and for a whole 4096² L through the engine (``ddcolor``'s untiled pass: the
image resized to ``input_size``, ab resized back), with random weights.

Examples
--------
::

    python benchmarks/ddcolor.py --encoders tiny --sides 256 512 --repeat 3 --markdown out.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
from common import Column, log  # noqa: E402

COLUMNS = [
    Column("encoder", "encoder", "{}", "<"),
    Column("side", "side", "{:d}"),
    Column("params", "parameters (M)", "{:.1f}"),
    Column("keras_s", "Keras s", "{:.3f}"),
    Column("torch_s", "PyTorch s", "{:.3f}"),
    Column("ratio", "Keras / PyTorch speed", "{:.2f}"),
]
MEM_COLUMNS = [
    Column("what", "run", "{}", "<"),
    Column("peak_mib", "peak RSS (MiB)", "{:.0f}"),
    Column("wall_s", "wall s", "{:.2f}"),
]


def _test_module():
    spec = importlib.util.spec_from_file_location("t_ddc", ROOT / "tests" / "engine" / "test_ddcolor.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _gray(side: int) -> np.ndarray:
    from napari_colorize.methods.ddcolor import gray_rgb

    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    L = 50 + 40 * np.sin(x / 17.0) * np.cos(y / 23.0)
    return gray_rgb(L[None])


def _child(what: str, encoder: str, side: int) -> dict:
    """One pass in this (fresh) process; its peak RSS."""
    t0 = time.perf_counter()
    if what == "torch":
        import torch

        net = _test_module()._torch_ddcolor(torch, encoder, side, warmup=0)
        x = torch.from_numpy(_gray(side).transpose(0, 3, 1, 2).copy())
        with torch.inference_mode():
            net(x).numpy()
    elif what == "keras":
        from napari_colorize.methods.ddcolor import DDColorColorizer

        model = DDColorColorizer(encoder=encoder, input_size=side)
        model._get_predictor()(_gray(side))
    else:  # engine: a whole 4096^2 L, the untiled downsampled pass, or tiled with the global anchor
        from napari_colorize.engine import colorize
        from napari_colorize.methods.ddcolor import DDColorColorizer

        model = DDColorColorizer(encoder=encoder, input_size=512)
        L = np.random.default_rng(0).uniform(0, 100, (side, side)).astype(np.float32)
        if what == "tiled":
            colorize(L, model, tile="auto", global_anchor=True)
        else:
            colorize(L, model)
    wall = time.perf_counter() - t0
    return {"what": what, "encoder": encoder, "side": side, "peak_mib": common.peak_rss_mib(), "wall_s": wall}


def _run_child(what: str, encoder: str, side: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, __file__, "--child", what, "--encoders", encoder, "--sides", str(side)]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode:
        raise RuntimeError(f"child {what} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoders", nargs="+", default=["tiny"], choices=["tiny", "large"])
    p.add_argument("--sides", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--memory", action="store_true", help="also the peak-memory runs (child processes)")
    p.add_argument("--no-speed", action="store_true", help="skip the speed runs")
    p.add_argument("--child", choices=["keras", "torch", "engine", "tiled"], help=argparse.SUPPRESS)
    p.add_argument("--markdown")
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(_child(a.child, a.encoders[0], a.sides[0])))
        return 0

    import torch

    from napari_colorize.methods.ddcolor import import_torch_weights

    t = _test_module()
    rows = []
    for enc in [] if a.no_speed else a.encoders:
        for side in a.sides:
            net = t._torch_ddcolor(torch, enc, side, warmup=2)
            model = import_torch_weights(t._state(net), input_size=side)
            pred = model._get_predictor()
            x = _gray(side)
            xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

            def run_torch(net=net, xt=xt) -> np.ndarray:
                with torch.inference_mode():
                    return net(xt).numpy()

            ours, theirs = np.asarray(pred(x)), run_torch()  # warm-up (tracing)
            err = float(np.abs(ours - theirs.transpose(0, 2, 3, 1)).max() / np.ptp(theirs))
            tk, tt = [], []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                np.asarray(pred(x))
                tk.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                run_torch()
                tt.append(time.perf_counter() - t0)
            k, r = statistics.median(tk), statistics.median(tt)
            params = model.keras_model.count_params() / 1e6
            rows.append(
                {"encoder": enc, "side": side, "params": params, "keras_s": k, "torch_s": r, "ratio": r / k}
            )
            log(f"{enc} {side}: Keras {k:.3f} s, PyTorch {r:.3f} s, ratio {r / k:.2f}, rel. diff {err:.1e}")
            del net, model, pred
            common.free_memory()
    title = f"ddcolor inference (network only, batch of 1, random weights), median of {a.repeat}"
    if rows:
        print(title)
        print(common.format_table(rows, COLUMNS))
    mem = []
    if a.memory:
        for enc in a.encoders:
            for what, side in (("keras", 512), ("torch", 512), ("engine", 4096), ("tiled", 4096)):
                res = _run_child(what, enc, side)
                label = {
                    "keras": "Keras port",
                    "torch": "PyTorch (authors')",
                    "engine": "engine, whole L",
                    "tiled": "engine, tile auto (2048) + global anchor",
                }
                mem.append({**res, "what": f"{enc}: {label[what]}, {side}²"})
                log(f"{mem[-1]['what']}: {res['peak_mib']:.0f} MiB")
        print(common.format_table(mem, MEM_COLUMNS))
    if a.markdown:
        text = f"{title}\n\n{common.format_table(rows, COLUMNS, markdown=True)}\n\n" if rows else ""
        if mem:
            text += f"Peak memory\n\n{common.format_table(mem, MEM_COLUMNS, markdown=True)}\n\n"
        text += f"Command: `{common.command_line()}`\n\n{common.machine_markdown()}\n"
        common.write_text(a.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
