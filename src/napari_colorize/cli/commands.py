"""The bodies of the sub-commands: ``demo``, ``devices``, ``methods``, ``train``, ``colorize``,
``evaluate``, ``import-weights`` and ``fetch`` (:data:`COMMANDS`).

Each checks its input first (:mod:`.checks`); TensorFlow loads only after that, with the model.
The heavy modules are imported inside the functions, never at the top of this module.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import backends
from ..color import check_percentiles
from ..errors import ConfigError, InputError
from .checks import _check_model_folder, _check_model_spec, _parse_config, _readable_images, _split_readable
from .messages import _batch_status, _format_table, _report_bad_file

__all__ = ["COMMANDS"]


def cmd_methods(args: argparse.Namespace) -> int:
    from ..methods import list_methods

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
    from ..api import check_start_method
    from ..catalogue import check_model_out, is_model_folder
    from ..io import check_writable_folder, dir_lock
    from ..methods import get_config_class

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

    from ..api import train
    from ..progress import TqdmHooks, make_callback

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


def cmd_colorize(args: argparse.Namespace) -> int:
    from ..pipeline import colorize_file
    from ..progress import tqdm_progress

    # checked before anything imports TensorFlow
    files, unreadable = _split_readable(args.inputs)
    total = len(files) + len(unreadable)
    if not files:  # nothing to colorize: each bad file was reported
        return _batch_status(unreadable, total)
    request = request_from_args(args, percentiles=check_percentiles(args.percentiles, what="--percentiles"))
    model_spec = _check_model_spec(args.model)
    request = request.replace(model=model_spec)
    distributed = args.workers is not None or args.scheduler
    if args.tiles_json and distributed:
        raise ConfigError("--tiles-json cannot be combined with --workers/--scheduler")
    if args.tiles_json and len(files) > 1:
        raise ConfigError("--tiles-json needs a single input file")
    from ..io import check_writable_folder
    from ..pipeline import check_output_names, tiff_series

    check_output_names(files, save_lab=args.save_lab, save_confidence=args.save_confidence)
    check_writable_folder(args.out_dir, what="--out-dir folder")
    if args.tiles_json:
        check_writable_folder(Path(args.tiles_json).parent or ".", what="--tiles-json folder")

    files_opts: dict[str, Any] = dict(save_lab=args.save_lab, save_confidence=args.save_confidence)
    hints = None
    if args.hints is not None or args.hints_image is not None:
        from ..pipeline import hints_for_file

        flag = "--hints" if args.hints is not None else "--hints-image"
        if len(files) != 1:
            raise ConfigError(f"{flag} needs a single input image, got {len(files)}")
        if len(tiff_series(files[0])) > 1:
            raise ConfigError(
                f"{flag} needs a file with one image; {files[0].name} holds several (TIFF series)"
            )
        # a Hints holds only its hinted pixels: small for the whole run, whatever the image's size
        hints = hints_for_file(files[0], csv=args.hints, marked=args.hints_image)
    if distributed:
        from ..distributed import colorize_files_distributed

        bad: list[str] = list(unreadable)
        written = colorize_files_distributed(
            files,
            model_spec,
            args.out_dir,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads_per_worker,
            on_error=lambda f, e: bad.append(_report_bad_file(f, e)),
            request=request,
            hints=hints,
            **files_opts,
        )
        for paths in written:
            if paths:
                print(paths[0])
        return _batch_status(bad, total)
    from ..api import resolve_model

    model = resolve_model(model_spec)
    bad = list(unreadable)
    for f in files:
        try:
            out = colorize_file(
                f,
                model,
                args.out_dir,
                request=request,
                hints=hints,
                tiles_json=args.tiles_json,
                progress=tqdm_progress(f.name),
                scheduler="threads",  # this process computes, whatever dask client is around
                **files_opts,
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


def request_from_args(args: argparse.Namespace, *, percentiles: tuple[float, float]) -> Any:
    """The :class:`~napari_colorize.request.ColorizeRequest` of ``colorize``'s arguments (checked
    without TensorFlow); ``percentiles`` are ``--percentiles``, checked under that name."""
    from ..request import ColorizeRequest

    return ColorizeRequest.build(
        tile=args.tile,
        overlap=args.overlap,
        blend=args.blend,
        global_anchor=args.global_anchor,
        normalize=args.normalize,
        percentiles=percentiles,
        saturation=args.saturation,
        stack_smoothing=args.stack_smoothing,
    )


def _pair_files(pred: Sequence[str], truth: Sequence[str]) -> list[tuple[Path, Path]]:
    from ..io import list_images

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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..io import atomic_write, jsonable, read_image
    from ..metrics import evaluate_pair, mean_metrics

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
    from ..install import import_weights

    overrides = _parse_config(args.config)
    if overrides and args.method != "ddcolor":
        raise ConfigError(f"import-weights {args.method} takes no --config")
    out = import_weights(args.method, args.path, args.out, overwrite=args.overwrite, config=overrides)
    print(f"wrote {args.method} model folder {out}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """``fetch --list`` (never imports TensorFlow or torch) and ``fetch NAME``."""
    from ..install import fetch
    from ..pretrained import get_pretrained, installed_path, is_installed, list_pretrained

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
    from ..demo import check_samples, run_demo

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
