"""Speed of the ``autoencoder`` and ``vgg_autoencoder`` methods on this CPU.

Per method (default config unless overridden), medians of several runs:

- **training samples/s**: crops of ``input_size`` px per second of
  ``fit``, from the time between training batches measured by a Keras
  callback (the first batches, which trace the training function, are
  skipped); also the process CPU seconds per sample, which does not depend
  on how busy a shared machine is;
- **inference MP/s** of ``predict_ab`` on an L image of 512x512 and
  2048x2048, for both ``inference`` modes (``native``: fully convolutional
  at the image's size; ``resize``: the network at ``input_size``, ab
  upsampled).  Speed does not depend on the weights: the models are
  trained only for the timing of ``fit``.

Examples
--------
::

    python benchmarks/autoencoders.py
    python benchmarks/autoencoders.py --methods autoencoder --repeat 3 --markdown /tmp/ae.md
    python benchmarks/autoencoders.py --quick          # a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, log  # noqa: E402

from napari_colorize.methods import get_method  # noqa: E402

SIZES = (512, 2048)

COLUMNS = [
    Column("method", "method", "{}", "<"),
    Column("inference", "inference", "{}", "<"),
    Column("input_size", "input px", "{}"),
    Column("batch_size", "batch", "{}"),
    Column("train_sps", "train samples/s", "{:.2f}"),
    Column("train_cpu_per_sample", "train CPU s/sample", "{:.3f}"),
    Column("mps_512", "MP/s 512²", "{:.3f}"),
    Column("mps_2048", "MP/s 2048²", "{:.3f}"),
]


def time_training(method: str, config: dict[str, Any], *, steps: int, skip: int) -> tuple[float, float]:
    """Median samples/s between training batches, and CPU seconds per sample."""
    import keras
    from skimage import data

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.wall: list[float] = []
            self.cpu: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self._t, self._c = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.wall.append(time.perf_counter() - self._t)
            self.cpu.append(time.process_time() - self._c)

    model = get_method(method)(config, steps_per_epoch=steps + skip, epochs=1, val_split=0.0)
    timer = BatchTimer()
    model.fit(data.coffee(), callbacks=[timer])
    b = model.config.batch_size
    wall = timer.wall[skip:] or timer.wall
    cpu = timer.cpu[skip:] or timer.cpu
    return b / statistics.median(wall), statistics.median(cpu) / b


def time_inference(method: str, config: dict[str, Any], size: int, *, repeat: int) -> float:
    """Median megapixels per second of ``predict_ab`` on a size x size L image."""
    from skimage import data, transform

    from napari_colorize.color import rgb2L

    model = get_method(method)(config)
    L = rgb2L(transform.resize(data.chelsea(), (size, size), anti_aliasing=True).astype(np.float32))
    t, _ = common.timeit(lambda: model.predict_ab(L), repeat=repeat, warmup=1, max_seconds=60)
    return size * size / 1e6 / t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=["autoencoder", "vgg_autoencoder"])
    ap.add_argument("--repeat", type=int, default=3, help="runs per inference timing (median)")
    ap.add_argument("--steps", type=int, default=8, help="timed training batches (after 2 warm-up batches)")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--inference", nargs="+", default=["native", "resize"], choices=["native", "resize"])
    ap.add_argument(
        "--config", action="append", default=[], metavar="K=V", help="config override for every method"
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: few steps, 512 px only, one repeat")
    ap.add_argument("--markdown", help="write the table (and machine) as markdown here")
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeat, args.sizes = 2, 1, [512]
    overrides: dict[str, Any] = {}
    for kv in args.config:
        k, _, v = kv.partition("=")
        from napari_colorize.config import parse_value

        overrides[k] = parse_value(v)

    machine = common.machine_description()
    rows = []
    for method in args.methods:
        cfg = dict(overrides)
        log(f"{method}: training speed ...")
        sps, cpu = time_training(method, cfg, steps=args.steps, skip=2)
        base = get_method(method)(cfg).config
        for inference in args.inference:
            row: dict[str, Any] = {
                "method": method,
                "inference": inference,
                "input_size": base.input_size,
                "batch_size": base.batch_size,
                "train_sps": sps,
                "train_cpu_per_sample": cpu,
            }
            for size in args.sizes:
                log(f"{method} {inference}: inference at {size}x{size} ...")
                row[f"mps_{size}"] = time_inference(
                    method, {**cfg, "inference": inference}, size, repeat=args.repeat
                )
            rows.append(row)
            log(common.format_table([row], COLUMNS))
        common.free_memory()

    table = common.format_table(rows, COLUMNS)
    print(table)
    if args.markdown:
        md = "\n\n".join(
            [
                "# Autoencoder speed",
                f"`{common.command_line()}`",
                common.machine_markdown(machine),
                common.format_table(rows, COLUMNS, markdown=True),
            ]
        )
        common.write_text(args.markdown, md + "\n")
    if args.json:
        common.write_text(args.json, json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
