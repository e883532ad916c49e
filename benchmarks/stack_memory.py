"""Peak memory of colorizing a big TIFF stack from the command line (issue 19).

A compressed TIFF of 40 planes of 4000 x 4000 px (under a megabyte on disk, 640 megapixels)
used to be read whole: 2.4 GiB for its lightness alone, about 15 GB in all, and a MemoryError.
The stack is now read lazily, plane by plane, so the peak memory follows a plane's bands, not
the file.  This script writes such a stack (plane by plane), runs ``napari-colorize colorize``
on it in a child process with a lookup model, and records the child's peak memory (max RSS),
the wall time and what reading the stack whole would ask for.

    python benchmarks/stack_memory.py                      # 40 x 4000², the issue's file
    python benchmarks/stack_memory.py --planes 4 --json out.json

The output TIFF (3 bytes per pixel, 1.9 GB for the full stack) is written to a temporary
folder and removed.

Measured (2026-12-02, Intel Xeon with AVX-512/AMX, 2 cores shared with other jobs, tensorflow-cpu
not loaded by the lookup model): 40 x 4000² (640 MP, 13.8 MiB compressed) colorized in 109 s
with a peak RSS of 867 MiB; reading the stack whole would have asked 2,441 MiB for its L alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_description  # noqa: E402  (benchmarks/common.py puts src on the path)


def instruction_sets() -> list[str]:
    """The vector instruction sets of this CPU that matter for numpy and TensorFlow."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile") if f in flags]


def write_stack(path: Path, planes: int, side: int) -> None:
    """A zlib-compressed uint8 stack of smooth planes, written one plane at a time."""
    import tifffile

    y = np.linspace(0, 1, side, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, side, dtype=np.float32)[None, :]

    with tifffile.TiffWriter(path) as tw:  # no metadata: the uniform pages read as one stack
        for i in range(planes):
            plane = (255 * (0.5 + 0.25 * np.sin(6 * x + i / 7) * np.cos(5 * y))).astype(np.uint8)
            tw.write(plane, compression="zlib", metadata=None)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--planes", type=int, default=40)
    p.add_argument("--side", type=int, default=4000)
    p.add_argument("--json", help="also write the result to this JSON file")
    args = p.parse_args(argv)
    from skimage import data

    import napari_colorize as nc

    with tempfile.TemporaryDirectory(prefix="nc-stack-memory-") as tmp:
        tmp = Path(tmp)
        stack = tmp / "stack.tif"
        write_stack(stack, args.planes, args.side)
        import tifffile

        with tifffile.TiffFile(stack) as tif:
            series = len(tif.series)
        model = tmp / "lookup"
        nc.train("lookup", data.coffee()).save(model)
        cmd = [
            sys.executable,
            "-m",
            "napari_colorize.cli",
            "colorize",
            str(stack),
            "--model",
            str(model),
            "--out-dir",
            str(tmp / "out"),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"colorize failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out = tmp / "out" / "stack_rgb.tif"
        result = {
            "planes": args.planes,
            "series": series,
            "side": args.side,
            "megapixels": args.planes * args.side**2 / 1e6,
            "input_mib": stack.stat().st_size / 2**20,
            "output_mib": out.stat().st_size / 2**20,
            "wall_s": wall,
            "peak_rss_mib": peak_mib,
            "whole_L_float32_mib": args.planes * args.side**2 * 4 / 2**20,
            "model": "lookup (trained on skimage coffee)",
            "machine": machine_description(),
            "instruction_sets": instruction_sets(),
        }
    print(
        f"{args.planes} x {args.side}² stack ({result['megapixels']:.0f} MP, {result['input_mib']:.2f} MiB "
        f"compressed): colorized in {wall:.0f} s, peak RSS {peak_mib:.0f} MiB "
        f"(its L alone, read whole: {result['whole_L_float32_mib']:.0f} MiB); "
        f"CPU: {result['machine'].get('cpu', '?')} ({' '.join(result['instruction_sets'])})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
