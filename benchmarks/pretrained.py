"""CPU speed of the catalogue's pretrained models, through the real fetch path, without internet.

Full-width random-weight files in the authors' layouts (the PyTorch reference networks of
``tests/engine/test_eccv16.py`` and ``test_siggraph17.py``, as in the tests) are served from a
mirror folder (``$NAPARI_COLORIZE_MIRROR``) under a catalogue whose SHA-256 are theirs, installed
with ``napari_colorize.fetch``, and timed with ``napari_colorize.colorize`` on a ``--side`` x
``--side`` gray photo: median of ``--repeat`` runs after a warm-up, in one process, with the
built-in ``default`` as the baseline (ratio = the model's time / default's).  Random weights: the
speed is the network's, the colors mean nothing.  Needs torch (the converters read .pth files).

``ddcolor-paper-tiny`` is timed too (a random DDColor-T from ``tests/pretrained_files.py``, at the
catalogue's input size 512) when ``spandrel-extra-arches`` is installed; ``ddcolor-modelscope``
(DDColor-L, a 0.9 GB file) is not: see ``benchmarks/ddcolor.py`` for the large network.

Examples
--------
::

    python benchmarks/pretrained.py --side 512 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import common  # noqa: E402
from common import Column, log  # noqa: E402

COLUMNS = [
    Column("model", "model", "{}", "<"),
    Column("method", "method", "{}", "<"),
    Column("size", "download", "{}"),
    Column("seconds", "s per image", "{:.2f}"),
    Column("mps", "MP/s", "{:.3f}"),
    Column("ratio", "time / default's", "{:.1f}"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)

    import numpy as np
    from pretrained_files import DDCOLOR, make_ddcolor_file, make_files, write_catalogue
    from skimage import color, data, transform

    import napari_colorize as nc
    from napari_colorize import pretrained

    desc = common.machine_description()
    gray = transform.resize(color.rgb2gray(data.astronaut()), (args.side, args.side), anti_aliasing=True)
    gray = gray.astype(np.float32)
    mp = args.side * args.side / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log("writing full-width random-weight files in the authors' layouts…")
        files = make_files(tmp / "mirror", width=1.0)
        try:
            files[DDCOLOR[0]] = {**make_ddcolor_file(tmp / "mirror"), "input_size": 512}
        except BaseException as e:  # noqa: BLE001 - pytest's skip without the reference network
            log(f"no DDColor row: {type(e).__name__}: {e}")
        os.environ["NAPARI_COLORIZE_MODELS"] = str(tmp / "models")
        os.environ[pretrained.CATALOGUE_ENV] = str(
            write_catalogue(tmp / "catalogue.json", files, "http://127.0.0.1:9/")
        )
        os.environ[pretrained.MIRROR_ENV] = str(tmp / "mirror")
        base, _ = common.timeit(lambda: nc.colorize(gray, "default"), repeat=args.repeat)
        rows = [{"model": "default (built-in)", "method": "siggraph17", "size": "8.9 MB", "seconds": base}]
        for name, entry in pretrained.pretrained_models().items():
            if name not in files:  # no local file for it (ddcolor-modelscope): never downloaded here
                continue
            log(f"installing {name}…")
            nc.fetch(name)
            t, _ = common.timeit(lambda name=name: nc.colorize(gray, name), repeat=args.repeat)
            size = (
                entry.size_text if entry.sha256 is not None else f"{files[name]['size'] / 1e6:.0f} MB (here)"
            )
            rows.append({"model": name, "method": entry.method, "size": size, "seconds": t})
    for r in rows:
        r["mps"] = mp / r["seconds"]
        r["ratio"] = r["seconds"] / base
    print(f"{args.side}x{args.side} gray, untiled, median of {args.repeat} after a warm-up; random weights")
    print(common.format_table(rows, COLUMNS, markdown=args.markdown))
    print(common.machine_markdown(desc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
