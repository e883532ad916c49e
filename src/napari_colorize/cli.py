"""The ``napari-colorize`` command.

Sub-commands: ``demo``, ``methods``, ``train``, ``colorize``, ``evaluate``,
``import-weights`` and ``fetch``.  Errors a user can cause (bad arguments included) end
with a one-line message on stderr and exit status 2 (1 for other failures),
never a traceback; set ``NAPARI_COLORIZE_DEBUG=1`` to see the traceback.

The command is quiet and checks before it loads: TensorFlow's C++ logging is
silenced before TensorFlow can be imported (``--verbose`` brings it back), and
arguments, config keys, tiling options and input files are checked before
anything imports TensorFlow.  ``--version``, ``methods`` and ``fetch --list`` never import it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import backends
from .catalogue import DEFAULT_MODEL
from .color import DEFAULT_PERCENTILES, NORMALIZE, check_percentiles
from .demo import DEMO_HINTS, DEMO_SAMPLES
from .errors import ColorizeError, ConfigError, InputError, ModelFolderError
from .pretrained import CONVERTERS
from .tiling import BLENDS, TilingOptions

__all__ = ["main", "build_parser"]


class UsageError(ColorizeError):
    """A bad command line (argparse's error, made a one-line message)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def quiet_tensorflow(*, verbose: bool = False) -> None:
    """Set TensorFlow's C++ log level before it is imported: errors only, or everything if ``verbose``.

    A level the user exported in ``TF_CPP_MIN_LOG_LEVEL`` is kept unless ``verbose``.
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


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
    from .api import check_start_method
    from .catalogue import check_model_out, is_model_folder
    from .io import check_writable_folder, dir_lock
    from .methods import get_config_class

    # checked before anything imports TensorFlow
    config = _parse_config(args.config)
    get_config_class(args.method).from_dict(config)
    _readable_images(args.images)
    if args.resume and args.init is not None:
        raise ConfigError("give --init or --resume, not both")
    if args.init is not None:
        _check_model_folder(args.init)
    if args.resume and not is_model_folder(args.out):
        raise ConfigError(f"--resume needs an existing model folder at --out ({args.out})")
    check_model_out(args.out, overwrite=args.overwrite, resume=args.resume)
    check_writable_folder(Path(args.out).expanduser().absolute().parent, what="folder of --out")
    if args.init is not None or args.resume:
        check_start_method(args.out if args.resume else args.init, args.method)
    with dir_lock(args.out):  # a second training into --out fails here, before TensorFlow loads
        return _train(args, config)


def _train(args: argparse.Namespace, config: dict[str, Any]) -> int:

    from .api import train
    from .progress import TqdmHooks, make_callback

    cb = make_callback(TqdmHooks, keras=args.method != "lookup", desc=args.method)
    t0 = time.perf_counter()
    model = train(
        args.method,
        args.images,
        out=args.out,
        config=config,
        init=args.init,
        resume=args.resume,
        overwrite=args.overwrite,
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


def _readable_images(paths: Sequence[str]) -> list[Path]:
    """The image files under ``paths``, each checked readable (a one-line error before any model loads)."""
    from .io import check_image, list_images

    files = list_images(paths)
    for f in files:
        check_image(f)
    return files


def _split_readable(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """The readable image files under ``paths``, and the unreadable ones, each reported in one line.

    A single unreadable input is the command's one-line error (raised); in a batch each bad file
    is reported and the others go on (the exit status says so at the end).
    """
    from .io import check_image, list_images

    files = list_images(paths)
    if len(files) == 1:
        check_image(files[0])
        return files, []
    good, bad = [], []
    for f in files:
        try:
            check_image(f)
        except InputError as e:
            bad.append(_report_bad_file(f, e))
        else:
            good.append(f)
    return good, bad


def _check_model_folder(path: str) -> None:
    """A one-line error unless ``path`` is a sound model folder (its config.json, read without TensorFlow)."""
    from .methods import get_config_class
    from .methods.base import read_model_info

    if not (Path(path) / "config.json").is_file():
        raise ModelFolderError(f"{path} is not a model folder (no config.json)")
    info = read_model_info(path)
    try:
        get_config_class(info["method"]).from_dict(info["config"])
    except ConfigError as e:
        raise ModelFolderError(f"{Path(path) / 'config.json'}: invalid config: {e}") from None


def _check_model_spec(spec: str | None) -> str:
    """The model to use: ``spec``, or when None the best installed pretrained model, else the
    folder of :data:`DEFAULT_MODEL` (:func:`~napari_colorize.catalogue.preferred_model_path`).

    A one-line error unless it names a model folder (the catalogue's rule, no TensorFlow).
    """
    from .catalogue import preferred_model_path, resolve_model_path

    if spec is None:  # by name only: a ./default folder in the current directory is not it
        try:
            path = preferred_model_path()
        except ModelFolderError as e:
            raise ModelFolderError(
                f"no --model given and the built-in model {DEFAULT_MODEL!r} is not installed; "
                f"pass --model ({e})"
            ) from None
        _check_model_folder(os.fspath(path))
        return os.fspath(path.resolve())
    _check_model_folder(os.fspath(resolve_model_path(spec)))
    return spec


def cmd_colorize(args: argparse.Namespace) -> int:
    from .pipeline import colorize_file
    from .progress import tqdm_progress

    # checked before anything imports TensorFlow
    files, unreadable = _split_readable(args.inputs)
    total = len(files) + len(unreadable)
    if not files:  # nothing to colorize: each bad file was reported
        return _batch_status(unreadable, total)
    options = TilingOptions(
        tile=args.tile, overlap=args.overlap, blend=args.blend, global_anchor=args.global_anchor
    )
    percentiles = check_percentiles(args.percentiles, what="--percentiles")
    model_spec = _check_model_spec(args.model)
    distributed = args.workers is not None or args.scheduler
    if args.tiles_json and distributed:
        raise ConfigError("--tiles-json cannot be combined with --workers/--scheduler")
    if args.tiles_json and len(files) > 1:
        raise ConfigError("--tiles-json needs a single input file")
    from .color import check_saturation
    from .io import check_writable_folder
    from .pipeline import check_output_names, tiff_series

    check_output_names(files, save_lab=args.save_lab, save_confidence=args.save_confidence)
    check_writable_folder(args.out_dir, what="--out-dir folder")
    if args.tiles_json:
        check_writable_folder(Path(args.tiles_json).parent or ".", what="--tiles-json folder")

    opts: dict[str, Any] = dict(
        save_lab=args.save_lab,
        save_confidence=args.save_confidence,
        saturation=check_saturation(args.saturation),
        options=options,
        normalize=args.normalize,
        percentiles=percentiles,
    )
    if args.stack_smoothing:
        from .engine import check_stack_smoothing

        opts["stack_smoothing"] = check_stack_smoothing(args.stack_smoothing)
    if args.hints is not None or args.hints_image is not None:
        from .engine import HintPoints
        from .pipeline import hints_for_file

        flag = "--hints" if args.hints is not None else "--hints-image"
        if len(files) != 1:
            raise ConfigError(f"{flag} needs a single input image, got {len(files)}")
        if len(tiff_series(files[0])) > 1:
            raise ConfigError(
                f"{flag} needs a file with one image; {files[0].name} holds several (TIFF series)"
            )
        # as points: a dense Hints of a huge image would be held for the whole run
        opts["hints"] = HintPoints.of(hints_for_file(files[0], csv=args.hints, marked=args.hints_image))
    if distributed:
        from .distributed import colorize_files_distributed

        bad: list[str] = list(unreadable)
        written = colorize_files_distributed(
            files,
            model_spec,
            args.out_dir,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads_per_worker,
            on_error=lambda f, e: bad.append(_report_bad_file(f, e)),
            **opts,
        )
        for paths in written:
            if paths:
                print(paths[0])
        return _batch_status(bad, total)
    from .api import resolve_model

    model = resolve_model(model_spec)
    bad = list(unreadable)
    for f in files:
        try:
            out = colorize_file(
                f,
                model,
                args.out_dir,
                tiles_json=args.tiles_json,
                progress=tqdm_progress(f.name),
                scheduler="threads",  # this process computes, whatever dask client is around
                **opts,
            )
        except (InputError, ConfigError) as e:  # a bad file: the others go on
            if total == 1:
                raise
            bad.append(_report_bad_file(f, e))
            continue
        for p in out:
            if p.name.endswith(("_rgb.png", "_rgb.tif", "_rgb.zarr")):
                print(p)
    return _batch_status(bad, total)


def _report_bad_file(path: Any, e: BaseException) -> str:
    """Print one line for a file that could not be colorized (the batch goes on)."""
    msg = _one_line(e)
    print(
        f"napari-colorize colorize: error: {msg if str(path) in msg else f'{path}: {msg}'}", file=sys.stderr
    )
    return str(path)


def _batch_status(bad: list[str], total: int) -> int:
    """The exit status of a batch: 2 when some files could not be colorized (each was reported)."""
    if not bad:
        return 0
    print(
        f"napari-colorize colorize: error: {len(bad)} of {total} files could not be colorized (see above)",
        file=sys.stderr,
    )
    return 2


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
    from .metrics import METRIC_LABELS, METRICS

    width = max([len("image")] + [len(n) for n, _ in rows])
    lines = [f"{'image':<{width}}  " + "  ".join(f"{METRIC_LABELS[k]:>12}" for k in METRICS)]
    for name, m in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{m[k]:>12.4f}" for k in METRICS))
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .io import atomic_write, jsonable, read_image
    from .metrics import evaluate_pair, mean_metrics

    per: dict[str, dict[str, float]] = {}
    for p, t in _pair_files(args.pred, args.truth):
        per[p.name] = evaluate_pair(read_image(p), read_image(t))
    mean = mean_metrics(per.values())
    print(_format_table(list(per.items()) + [("mean", mean)]))
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump(jsonable({**per, "mean": mean}), f, indent=2, allow_nan=False)
    return 0


def cmd_import_weights(args: argparse.Namespace) -> int:
    from .install import import_weights

    overrides = _parse_config(args.config)
    if overrides and args.method != "ddcolor":
        raise ConfigError(f"import-weights {args.method} takes no --config")
    out = import_weights(args.method, args.path, args.out, overwrite=args.overwrite, config=overrides)
    print(f"wrote {args.method} model folder {out}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """``fetch --list`` (never imports TensorFlow or torch) and ``fetch NAME``."""
    from .install import fetch
    from .pretrained import get_pretrained, installed_path, is_installed, list_pretrained

    if args.list or args.name is None:
        rows = list_pretrained()
        if args.name is None and not args.list:
            print("napari-colorize fetch NAME downloads one of these pretrained models:")
        w = max(len(r["name"]) for r in rows) if rows else 4
        ws = max([7] + [len(r["size"]) for r in rows])  # "137 MB", "size unknown"
        print(f"{'name':<{w}}  {'method':<10}  {'size':>{ws}}  {'installed':<9}  licence")
        for r in rows:
            yes = "yes" if r["installed"] else "no"
            print(f"{r['name']:<{w}}  {r['method']:<10}  {r['size']:>{ws}}  {yes:<9}  {r['licence']}")
        return 0
    entry = get_pretrained(args.name)  # an unknown name: one line, before anything
    if is_installed(entry.name) and not args.overwrite:
        where = installed_path(entry.name)
        print(f"{entry.name} is already installed in {where} (--overwrite fetches it again)")
        return 0
    from tqdm.auto import tqdm

    state: dict[str, Any] = {"bar": None}

    def progress(stage: str, done: int, total: int) -> None:
        bar = state["bar"]
        if stage == "download":
            if bar is None:
                bar = state["bar"] = tqdm(
                    total=total, desc=f"downloading {entry.filename}", unit="B", unit_scale=True, leave=False
                )
            bar.total = total
            bar.update(done - bar.n)
        elif bar is not None:
            bar.close()
            state["bar"] = None
            if done == 0:
                print(f"converting {entry.name}…", file=sys.stderr)

    try:
        out = fetch(entry.name, overwrite=args.overwrite, progress=progress)
    finally:
        if state["bar"] is not None:
            state["bar"].close()
    print(f"installed {entry.name} in {out} ({entry.licence}); use it with --model {entry.name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import check_samples, run_demo

    if args.hints < 0:
        raise ConfigError(f"--hints must be >= 0, got {args.hints}")
    check_samples(args.samples)
    model = _check_model_spec(args.model)
    run_demo(args.out, samples=args.samples, model=None if args.model is None else model, n_hints=args.hints)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    print(backends.device_report())
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "devices": cmd_devices,
    "methods": cmd_methods,
    "train": cmd_train,
    "colorize": cmd_colorize,
    "evaluate": cmd_evaluate,
    "import-weights": cmd_import_weights,
    "fetch": cmd_fetch,
}


def _one_line(e: BaseException) -> str:
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip())


def _warning_printer(command: str) -> Any:
    """A ``warnings.showwarning`` that prints each warning as one line, without its source line."""

    def show(
        message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        out = file if file is not None else sys.stderr
        try:
            print(f"napari-colorize {command}: warning: {_one_line(message)}", file=out)
        except (OSError, ValueError):  # a closed stderr: nowhere to warn
            pass

    return show


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C (temporary files removed), exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: the signals that arrived during :func:`main` (an interrupt swallowed in a ``__del__`` counts too)
_SIGNALS: list[int] = []


def _on_signal(signum: int, frame: Any) -> None:
    _SIGNALS.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _quiet_unraisable(hook: Any) -> Any:
    """An ``sys.unraisablehook`` that drops interrupts raised in ``__del__`` (they are counted)."""

    def quiet(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
            return
        hook(unraisable)

    return quiet


@contextlib.contextmanager
def _signals_stop_cleanly() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP stop the command the same way; an interrupt is never printed twice."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            old[sig] = signal.signal(sig, _on_signal)
    old_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable(old_hook)
    del _SIGNALS[:]
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        sys.unraisablehook = old_hook


def _exit_at_once(signum: int, frame: Any) -> None:
    """After the command: a late signal ends the process at once, quietly (its work is saved)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0, 1 for a failure, 2 for a user error).

    An interrupt (Ctrl-C, SIGTERM, SIGHUP) at any point removes the temporary files being
    written, prints one line and gives 128 + the signal (130 for Ctrl-C).
    """
    with _signals_stop_cleanly():
        rc = _main(argv)
    if argv is None and threading.current_thread() is threading.main_thread():
        # the process is ending (the console script): no traceback or "Exception ignored" from a
        # signal during the interpreter's shutdown
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _exit_at_once)
    return rc


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(_one_line(e), file=sys.stderr)
        return 2
    except SystemExit as e:  # --help and --version print and exit 0
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    debug = bool(os.environ.get("NAPARI_COLORIZE_DEBUG"))
    quiet_tensorflow(verbose=args.verbose)
    try:
        backends.apply_backend(getattr(args, "backend", None))
        with warnings.catch_warnings():
            warnings.filterwarnings("default", category=UserWarning, module="napari_colorize")
            warnings.showwarning = _warning_printer(args.command)
            rc = COMMANDS[args.command](args)
        if _SIGNALS:  # an interrupt that a __del__ swallowed still stops with its status
            raise KeyboardInterrupt if _SIGNALS[0] == signal.SIGINT else Terminated(_SIGNALS[0])
        return rc
    except ColorizeError as e:
        if debug:
            raise
        print(f"napari-colorize {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as e:
        from .io import remove_temporaries

        remove_temporaries()
        signum = e.signum if isinstance(e, Terminated) else signal.SIGINT
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"napari-colorize {args.command}: {how}", file=sys.stderr)
        return 128 + int(signum)
    except (OSError, MemoryError, ValueError) as e:
        if debug:
            raise
        print(f"napari-colorize {args.command}: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
