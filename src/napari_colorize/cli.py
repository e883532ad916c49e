"""The ``napari-colorize`` command.

Sub-commands: ``demo``, ``methods``, ``train``, ``colorize``, ``evaluate``
and ``import-weights``.  Errors a user can cause end with a one-line
message on stderr and exit status 2 (1 for other failures), never a
traceback; set ``NAPARI_COLORIZE_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ColorizeError, ConfigError, InputError

__all__ = ["main", "build_parser"]

BLENDS = ("gaussian", "hann", "average", "max", "crop")
DEMO_SAMPLES = ("coffee", "chelsea", "astronaut")


def _parse_config(items: Sequence[str] | None) -> dict[str, Any]:
    from .config import parse_value

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--config expects key=value, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def _tile_arg(text: str) -> int | str | None:
    if text.lower() in ("none", "off", "0"):
        return None
    if text.lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must be an integer, 'auto' or 'none', got {text!r}") from None


def _overlap_arg(text: str) -> int | float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"overlap must be a number of pixels or a fraction, got {text!r}"
        ) from None
    return int(v) if v >= 1 and v == int(v) else v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="napari-colorize",
        description="Colorize grayscale images (lookup, window classifier, autoencoders, Zhang et al. ECCV16).",
    )
    p.add_argument("--version", action="version", version=f"napari-colorize {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="colorize built-in sample images and write results + metrics")
    d.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    d.add_argument("--samples", nargs="+", default=list(DEMO_SAMPLES), help="skimage.data sample names")

    m = sub.add_parser("methods", help="list methods and their config options")
    m.add_argument("--json", action="store_true", help="print JSON")

    t = sub.add_parser("train", help="train a method on color images and save a model folder")
    t.add_argument("--method", required=True)
    t.add_argument("--images", nargs="+", required=True, help="image files or folders")
    t.add_argument("--out", required=True, help="model folder to write")
    t.add_argument("--config", nargs="*", metavar="KEY=VALUE", help="config values")
    t.add_argument("--init", help="start from this model folder's weights (fine-tuning)")
    t.add_argument("--resume", action="store_true", help="continue training the model at --out")
    t.add_argument(
        "--box", nargs=4, type=int, metavar=("Y0", "X0", "Y1", "X1"), help="train only on this region"
    )

    c = sub.add_parser("colorize", help="colorize grayscale images with a model")
    c.add_argument("inputs", nargs="+", help="image files or folders")
    c.add_argument("--model", required=True, help="model folder or built-in model name")
    c.add_argument("--out-dir", required=True)
    c.add_argument("--save-lab", action="store_true", help="also write <stem>_L.tif and <stem>_ab.tif")
    c.add_argument(
        "--tile", type=_tile_arg, default=None, help="tile size in px, 'auto', or 'none' (default)"
    )
    c.add_argument(
        "--overlap", type=_overlap_arg, default=None, help="tile overlap: px, or a fraction of the tile"
    )
    c.add_argument("--blend", choices=BLENDS, default="gaussian")
    c.add_argument(
        "--global-anchor", action="store_true", help="anchor tiles' low-frequency color to a whole-image pass"
    )
    c.add_argument("--tiles-json", help="write the tile rectangles to this JSON file")
    c.add_argument("--workers", type=int, default=None, help="run on a local dask cluster with N workers")
    c.add_argument("--scheduler", default=None, help="run on the dask distributed scheduler at ADDRESS")
    c.add_argument(
        "--threads-per-worker",
        type=int,
        default=None,
        metavar="N",
        help="compute threads per local worker (default: the CPU cores shared out among the workers)",
    )

    e = sub.add_parser("evaluate", help="compare colorized images with their ground truth")
    e.add_argument("--pred", nargs="+", required=True, help="colorized files or a folder")
    e.add_argument("--truth", nargs="+", required=True, help="ground-truth files or a folder")
    e.add_argument("--json", help="write per-image and mean metrics to this JSON file")

    i = sub.add_parser("import-weights", help="convert released weights into a model folder")
    i.add_argument("method", choices=["eccv16"])
    i.add_argument("path", help="the weights file (e.g. colorization_release_v2-9b330a0b.pth)")
    i.add_argument("--out", required=True, help="model folder to write")
    return p


# -- sub-commands -------------------------------------------------------------


def cmd_methods(args: argparse.Namespace) -> int:
    from .methods import list_methods

    methods = list_methods()
    if args.json:
        print(json.dumps(methods, indent=2, default=str))
        return 0
    for name, fields in methods.items():
        print(name)
        for f in fields:
            choices = f" {{{', '.join(map(str, f['choices']))}}}" if f["choices"] else ""
            print(f"  {f['name']:<18} {f['type']:<10} default={f['default']!r}{choices}  {f['help']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .api import train
    from .progress import TqdmHooks, make_callback

    config = _parse_config(args.config)
    cb = make_callback(TqdmHooks, keras=args.method != "lookup", desc=args.method)
    t0 = time.perf_counter()
    model = train(
        args.method,
        args.images,
        out=args.out,
        config=config,
        init=args.init,
        resume=args.resume,
        callbacks=[cb],
        box=args.box,
    )
    hist = getattr(model, "history", {}) or {}
    last = {k: v[-1] for k, v in hist.items() if v}
    msg = ", ".join(f"{k}={v:.4g}" for k, v in last.items())
    print(
        f"saved {args.method} model to {args.out} in {time.perf_counter() - t0:.1f} s"
        + (f" ({msg})" if msg else "")
    )
    return 0


def _tqdm_progress(desc: str):  # noqa: ANN202
    from tqdm.auto import tqdm

    state: dict[str, Any] = {"bar": None}

    def progress(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = tqdm(total=total, desc=desc, unit="tile", leave=False)
        state["bar"].total = total
        state["bar"].n = done
        state["bar"].refresh()
        if done >= total:
            state["bar"].close()
            state["bar"] = None

    return progress


def cmd_colorize(args: argparse.Namespace) -> int:
    from .io import list_images
    from .pipeline import colorize_file

    files = list_images(args.inputs)
    opts = dict(
        save_lab=args.save_lab,
        tile=args.tile,
        overlap=args.overlap,
        blend=args.blend,
        global_anchor=args.global_anchor,
    )
    if args.workers is not None or args.scheduler:
        from .distributed import colorize_files_distributed

        if args.tiles_json:
            raise ConfigError("--tiles-json cannot be combined with --workers/--scheduler")
        written = colorize_files_distributed(
            files,
            args.model,
            args.out_dir,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads_per_worker,
            **opts,
        )
        for paths in written:
            print(paths[0])
        return 0
    from .api import resolve_model

    model = resolve_model(args.model)
    if args.tiles_json and len(files) > 1:
        raise ConfigError("--tiles-json needs a single input file")
    for f in files:
        out = colorize_file(
            f, model, args.out_dir, tiles_json=args.tiles_json, progress=_tqdm_progress(f.name), **opts
        )
        print(out[0])
    return 0


def _pair_files(pred: Sequence[str], truth: Sequence[str]) -> list[tuple[Path, Path]]:
    from .io import list_images

    pf, tf = list_images(pred), list_images(truth)
    if len(pf) == 1 and len(tf) == 1:
        return [(pf[0], tf[0])]

    def key(p: Path) -> str:
        s = p.stem
        return s[: -len("_rgb")] if s.endswith("_rgb") else s

    truth_by = {key(t): t for t in tf}
    pairs = [(p, truth_by[key(p)]) for p in pf if key(p) in truth_by]
    if not pairs:
        raise InputError("no prediction file matches a truth file by name (stems, ignoring a _rgb suffix)")
    return pairs


def _format_table(rows: list[tuple[str, dict[str, float]]]) -> str:
    keys = ["psnr", "ssim", "delta_e2000", "colorfulness", "delta_colorfulness", "auc"]
    heads = ["image", "PSNR", "SSIM", "CIEDE2000", "colorfulness", "dCF", "AuC"]
    width = max([len(heads[0])] + [len(n) for n, _ in rows])
    lines = [f"{heads[0]:<{width}}  " + "  ".join(f"{h:>12}" for h in heads[1:])]
    for name, m in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{m[k]:>12.4f}" for k in keys))
    return "\n".join(lines)


def _mean_metrics(per: dict[str, dict[str, float]]) -> dict[str, float]:
    import numpy as np

    keys = next(iter(per.values())).keys()
    return {k: float(np.mean([m[k] for m in per.values()])) for k in keys}


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .io import read_image
    from .metrics import evaluate_pair

    per: dict[str, dict[str, float]] = {}
    for p, t in _pair_files(args.pred, args.truth):
        per[p.name] = evaluate_pair(read_image(p), read_image(t))
    mean = _mean_metrics(per)
    print(_format_table(list(per.items()) + [("mean", mean)]))
    if args.json:
        from .io import atomic_write

        with atomic_write(args.json, "w") as f:
            json.dump({**per, "mean": mean}, f, indent=2)
    return 0


def cmd_import_weights(args: argparse.Namespace) -> int:
    from .methods.eccv16 import import_torch_weights

    out = import_torch_weights(args.path, args.out)
    print(f"wrote {args.method} model folder {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, samples=args.samples)
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "methods": cmd_methods,
    "train": cmd_train,
    "colorize": cmd_colorize,
    "evaluate": cmd_evaluate,
    "import-weights": cmd_import_weights,
}


def _one_line(e: BaseException) -> str:
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(os.environ.get("NAPARI_COLORIZE_DEBUG"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("default", category=UserWarning, module="napari_colorize")
            return COMMANDS[args.command](args)
    except ColorizeError as e:
        if debug:
            raise
        print(f"napari-colorize {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-colorize {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError, ValueError) as e:
        if debug:
            raise
        print(f"napari-colorize {args.command}: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
