"""The command line's arguments: one sub-parser per command, errors as one-line :class:`UsageError`."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .. import backends
from ..catalogue import DEFAULT_MODEL
from ..color import DEFAULT_PERCENTILES, NORMALIZE
from ..demo import DEMO_HINTS, DEMO_SAMPLES
from ..errors import ColorizeError
from ..pretrained import CONVERTERS
from ..tiling import BLENDS

__all__ = ["build_parser", "UsageError"]


class UsageError(ColorizeError):
    """A bad command line (argparse's error, made a one-line message)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


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
    p = _Parser(
        prog="napari-colorize",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version on one line
        description="Colorize grayscale images, automatically or guided by color hints (the built-in "
        f"{DEFAULT_MODEL!r} model, propagate, or models you train).",
    )
    p.add_argument("--version", action="version", version=backends.version_report())
    backends.add_backend_argument(p)
    verbose_help = "show TensorFlow's own log messages"
    p.add_argument("--verbose", "-v", action="store_true", help=verbose_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --verbose also after the command; SUPPRESS keeps the top-level value when it is not given
    common = _Parser(add_help=False)
    common.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=verbose_help)
    backends.add_backend_argument(common, default=argparse.SUPPRESS)

    d = sub.add_parser(
        "demo",
        parents=[common],
        help="colorize photos the default model never saw, without and with hints, and score them",
    )
    d.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    d.add_argument(
        "--samples",
        nargs="+",
        default=list(DEMO_SAMPLES),
        help=f"skimage.data sample names (default: {' '.join(DEMO_SAMPLES)}, held out from training)",
    )
    d.add_argument("--model", default=None, help=f"model folder or name (default: {DEFAULT_MODEL})")
    d.add_argument(
        "--hints",
        type=int,
        default=DEMO_HINTS,
        metavar="N",
        help=f"hints drawn from the true colors for the guided result (default {DEMO_HINTS})",
    )

    sub.add_parser(
        "devices", parents=[common], help="the Keras backend, its devices, and whether a GPU computes"
    )
    m = sub.add_parser("methods", parents=[common], help="list methods and their config options")
    m.add_argument("--json", action="store_true", help="print JSON")

    t = sub.add_parser(
        "train", parents=[common], help="train a method on color images and save a model folder"
    )
    t.add_argument("--method", required=True)
    t.add_argument("--images", nargs="+", required=True, help="image files or folders")
    t.add_argument(
        "--out",
        required=True,
        help="model folder to write: a new or empty folder (an existing model folder with --overwrite)",
    )
    t.add_argument(
        "--overwrite", action="store_true", help="replace the model folder at --out if there is one"
    )
    t.add_argument("--config", nargs="*", metavar="KEY=VALUE", help="config values")
    t.add_argument("--init", help="start from this model folder's weights (fine-tuning)")
    t.add_argument(
        "--resume", action="store_true", help="continue training the model at --out (and save it there)"
    )
    t.add_argument(
        "--box", nargs=4, type=int, metavar=("Y0", "X0", "Y1", "X1"), help="train only on this region"
    )

    c = sub.add_parser("colorize", parents=[common], help="colorize grayscale images with a model")
    c.add_argument("inputs", nargs="+", help="image files or folders")
    c.add_argument(
        "--model",
        default=None,
        help="model folder or model name (default: the best pretrained model you fetched, else the "
        f"built-in {DEFAULT_MODEL!r})",
    )
    c.add_argument("--out-dir", required=True)
    c.add_argument("--save-lab", action="store_true", help="also write <stem>_L.tif and <stem>_ab.tif")
    c.add_argument(
        "--save-confidence",
        action="store_true",
        help="also write the model's confidence: <stem>_confidence.tif (float32 0..1) for TIFF input, "
        "<stem>_confidence.png (0..255) otherwise; models with a confidence only (default)",
    )
    c.add_argument(
        "--saturation",
        type=float,
        default=1.0,
        metavar="S",
        help="multiply the predicted colors: 0 gray, 1 the model's (default), more than 1 more colorful",
    )
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
    c.add_argument(
        "--normalize",
        choices=NORMALIZE,
        default="auto",
        help="gray intensities to lightness: 'auto' (default) keeps uint8 and stretches other "
        "integers and floats between percentiles; 'dtype', 'percentile' or 'none' (values in 0..1)",
    )
    c.add_argument(
        "--percentiles",
        nargs=2,
        type=float,
        default=list(DEFAULT_PERCENTILES),
        metavar=("LO", "HI"),
        help=f"percentiles for --normalize percentile/auto (default {DEFAULT_PERCENTILES[0]:g} "
        f"{DEFAULT_PERCENTILES[1]:g})",
    )
    hints = c.add_mutually_exclusive_group()
    hints.add_argument(
        "--hints",
        metavar="FILE.csv",
        help="color hints: a CSV file with the header y,x,r,g,b (optional radius, plane); "
        "pixel coordinates, r, g, b in 0..255",
    )
    hints.add_argument(
        "--hints-image",
        metavar="MARKED",
        help="color hints as a marked image: a color copy of the gray input with some pixels painted",
    )
    c.add_argument(
        "--stack-smoothing",
        type=float,
        default=0.0,
        metavar="W",
        help="smooth colors along a stack where the gray does not change (0: none, default)",
    )
    c.add_argument("--tiles-json", help="write the tile rectangles to this JSON file")
    c.add_argument(
        "--workers",
        type=int,
        default=None,
        help="run on a local dask cluster with N workers (TLS with this run's own credentials, no dashboard)",
    )
    c.add_argument(
        "--scheduler",
        default=None,
        help="run on the dask distributed scheduler at ADDRESS, with the security your dask config sets "
        "(distributed.comm.tls.* in ~/.config/dask/*.yaml or DASK_DISTRIBUTED__COMM__TLS__* variables)",
    )
    c.add_argument(
        "--threads-per-worker",
        type=int,
        default=None,
        metavar="N",
        help="compute threads per local worker (default: the CPU cores shared out among the workers)",
    )

    e = sub.add_parser("evaluate", parents=[common], help="compare colorized images with their ground truth")
    e.add_argument("--pred", nargs="+", required=True, help="colorized files or a folder")
    e.add_argument("--truth", nargs="+", required=True, help="ground-truth files or a folder")
    e.add_argument("--json", help="write per-image and mean metrics to this JSON file")

    i = sub.add_parser(
        "import-weights", parents=[common], help="convert released weights into a model folder"
    )
    i.add_argument("method", choices=list(CONVERTERS))
    i.add_argument("path", help="the weights file (e.g. colorization_release_v2-9b330a0b.pth)")
    i.add_argument("--out", required=True, help="model folder to write (a new or empty folder)")
    i.add_argument(
        "--overwrite", action="store_true", help="replace the model folder at --out if there is one"
    )
    i.add_argument(
        "--config",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config values of the imported model (ddcolor: e.g. input_size=512)",
    )

    f = sub.add_parser(
        "fetch",
        parents=[common],
        help="download one of the authors' pretrained models (checked by SHA-256) and install it by name",
    )
    f.add_argument("name", nargs="?", help="the model's name (fetch --list shows them)")
    f.add_argument("--list", action="store_true", help="list the pretrained models: size, licence, installed")
    f.add_argument("--overwrite", action="store_true", help="download and install it again")
    return p


# -- sub-commands -------------------------------------------------------------
