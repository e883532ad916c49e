"""Quality table of every colorization method against the gray baseline.

Two protocols on the bundled color photos (skimage.data and scikit-learn's
sample images, resized to 768 px on their longest side):

1. **half-split**: for each photo, train on its left half and colorize the
   gray version of its right half (one model per photo);
2. **leave-one-out**: for each photo, train on all the other photos and
   colorize the gray version of that one (one model per fold).

For each method variant (``VARIANTS`` below: the quick benchmark recipes) and
the gray baseline (ab = 0), the script prints mean PSNR, SSIM, CIEDE2000,
colorfulness, delta-colorfulness and AuC over the photos, with the mean
training time per model and the median inference time per photo.  The
prediction keeps the truth's exact L, so the metrics judge the chroma.

Only the public API is used: ``napari_colorize.train`` and
``napari_colorize.colorize``.  A method whose module cannot be imported yet is
skipped with a note; a recipe key that a method's config does not have is
dropped with a note.

Run time: on 2 CPU cores one fold of all variants takes about 7 minutes
(lookup ~1 s, window ~1 min each, the networks ~1.5 min each), so the full
table (10 photos, both protocols) takes over 2 hours; ``--folds 4`` (4 test
photos per protocol, leave-one-out still training on all the others) takes
about an hour.

Examples
--------
::

    python benchmarks/quality.py                                # both protocols, all methods
    python benchmarks/quality.py --protocol 1 --methods lookup window_cnn --images 4
    python benchmarks/quality.py --quick                        # smoke run, tiny recipes
    python benchmarks/quality.py --folds 4 --markdown docs/quality.md --json docs/quality.json --figure docs/results.png
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Column, log  # noqa: E402

import napari_colorize as nc  # noqa: E402
from napari_colorize.metrics import METRICS, evaluate_pair, mean_metrics  # noqa: E402

#: The benchmark recipes: variant name -> method and config.  Each recipe
#: should train in at most ~2 minutes on 2 CPU cores for one model.
VARIANTS: dict[str, dict[str, Any]] = {
    "lookup": {"method": "lookup", "config": {}},
    "window_mlp": {"method": "window", "config": {"arch": "mlp"}},
    "window_cnn": {"method": "window", "config": {"arch": "cnn"}},  # the built-in window recipe
    # measured on the 2-core machine: ~27 CPU-s per epoch (10 default epochs would take over 2 min)
    "autoencoder": {"method": "autoencoder", "config": {"epochs": 6}},
    # its defaults (8 epochs x 12 batches of 2, frozen encoder) fit the ~2 min budget
    "vgg_autoencoder": {"method": "vgg_autoencoder", "config": {}},
    # the built-in eccv16-lite recipe (scripts/train_defaults.py), then the same with rebalancing on
    "eccv16": {
        "method": "eccv16",
        "config": {"width": 0.125, "epochs": 12, "rebalance": False, "crop_size": 128, "input_size": 128},
    },
    "eccv16_rebalance": {
        "method": "eccv16",
        "config": {"width": 0.125, "epochs": 12, "rebalance": True, "crop_size": 128, "input_size": 128},
    },
}

#: ``--quick`` overrides (a smoke run in a few minutes, not a benchmark).
QUICK: dict[str, dict[str, Any]] = {
    "window_mlp": {"epochs": 1, "samples_per_epoch": 4096},
    "window_cnn": {"epochs": 1, "samples_per_epoch": 4096},
    "autoencoder": {"epochs": 1},
    "vgg_autoencoder": {"epochs": 1},
    "eccv16": {"epochs": 1},
    "eccv16_rebalance": {"epochs": 1},
}

GRAY = "gray (ab=0)"

#: Soft per-model training budget of a recipe, seconds (a warning beyond it).
TRAIN_BUDGET_S = 120.0

SUMMARY_COLUMNS = [
    Column("variant", "method", "{}", "<"),
    Column("psnr", "PSNR dB", "{:.2f}"),
    Column("ssim", "SSIM", "{:.4f}"),
    Column("delta_e2000", "CIEDE2000", "{:.2f}"),
    Column("colorfulness", "CF", "{:.1f}"),
    Column("delta_colorfulness", "dCF", "{:+.1f}"),
    Column("auc", "AuC", "{:.4f}"),
    Column("beats_gray", "< gray dE", "{}", "<"),
    Column("train_s", "train s/model", "{:.1f}"),
    Column("infer_s", "infer s/img", "{:.3f}"),
    Column("n", "n", "{:d}"),
]


# ------------------------------------------------------------------ config


def parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    """``variant.key=value`` overrides (values parsed as JSON when they can be)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        lhs, sep, value = item.partition("=")
        variant, dot, key = lhs.partition(".")
        if not sep or not dot or not key:
            raise SystemExit(f"--set expects variant.key=value, got {item!r}")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(variant, {})[key] = parsed
    return out


def recipes(
    variants: list[str], *, quick: bool, sets: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    out = {}
    for v in variants:
        r = copy.deepcopy(VARIANTS[v])
        if quick:
            r["config"].update(QUICK.get(v, {}))
        r["config"].update(sets.get(v, {}))
        out[v] = r
    return out


# ------------------------------------------------------------------ folds


def folds(
    protocol: int, photos: list[tuple[str, np.ndarray]], n_folds: int | None = None
) -> list[tuple[str, list[np.ndarray], np.ndarray]]:
    """(test name, training images, truth) per fold of a protocol (the first ``n_folds`` photos as tests)."""
    out = []
    if protocol == 1:
        for name, rgb in photos:
            left, right = common.half_split(rgb)
            out.append((name, [left], right))
    else:
        for i, (name, rgb) in enumerate(photos):
            out.append((name, [p for j, (_, p) in enumerate(photos) if j != i], rgb))
    return out[:n_folds] if n_folds else out


def time_limit_callback(seconds: float) -> Any:
    """A Keras callback that stops training after ``seconds`` (checked after each batch)."""
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.start = time.perf_counter()
            self.stopped = False

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if time.perf_counter() - self.start > seconds and getattr(self, "model", None) is not None:
                self.model.stop_training = True
                self.stopped = True

    return TimeLimit()


def run_protocol(
    protocol: int,
    photos: list[tuple[str, np.ndarray]],
    plan: dict[str, dict[str, Any]],
    *,
    max_train_s: float | None = None,
    n_folds: int | None = None,
    notes: list[str],
    keep: set[str],
    json_rows: list[dict[str, Any]],
    json_path: str | None,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], np.ndarray]]:
    """Run every variant of ``plan`` over the folds; rows per (variant, image)."""
    fs = folds(protocol, photos, n_folds)
    rows: list[dict[str, Any]] = []
    kept_preds: dict[tuple[str, str], np.ndarray] = {}

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        json_rows.append(row)
        if json_path:
            common.write_text(json_path, json.dumps(json_rows, indent=1, default=float))

    log(f"== protocol {protocol}: {len(fs)} folds")
    for name, _, truth in fs:
        pred = common.gray_baseline(truth)
        row = {
            "protocol": protocol,
            "variant": GRAY,
            "image": name,
            **evaluate_pair(pred, truth),
            "train_s": 0.0,
            "infer_s": 0.0,
        }
        record(row)
        if name in keep:
            kept_preds[(GRAY, name)] = pred
            kept_preds[("truth", name)] = truth

    for variant, recipe in plan.items():
        method, cfg = recipe["method"], recipe["config"]
        for i, (name, train_imgs, truth) in enumerate(fs):
            log(f"[p{protocol}] {variant} fold {i + 1}/{len(fs)} ({name}) ...")
            try:
                callbacks = [time_limit_callback(max_train_s)] if max_train_s and method != "lookup" else []
                t0 = time.perf_counter()
                model = nc.train(method, train_imgs, config=cfg, callbacks=callbacks)
                train_s = time.perf_counter() - t0
                if callbacks and callbacks[0].stopped:
                    notes.append(
                        f"protocol {protocol}, {variant}, {name}: training stopped by --max-train-s {max_train_s:g}"
                    )
                pred, infer_s = common.colorize_truth(truth, model)
                res = evaluate_pair(pred, truth)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - report and go on with the other methods
                msg = f"protocol {protocol}, {variant}, {name}: {type(e).__name__}: {e}"
                notes.append(msg.splitlines()[0])
                log("FAILED " + msg)
                traceback.print_exc(file=sys.stderr)
                common.free_memory()
                continue
            if train_s > TRAIN_BUDGET_S:
                log(
                    f"  note: training took {train_s:.0f} s, over the {TRAIN_BUDGET_S:.0f} s budget of a recipe"
                )
            log(
                f"  dE00 {res['delta_e2000']:.2f}  AuC {res['auc']:.3f}  train {train_s:.1f} s  infer {infer_s:.2f} s"
            )
            record(
                {
                    "protocol": protocol,
                    "variant": variant,
                    "image": name,
                    **res,
                    "train_s": train_s,
                    "infer_s": infer_s,
                }
            )
            if name in keep:
                kept_preds[(variant, name)] = pred
            del model
            common.free_memory()
    return rows, kept_preds


def summarize(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """Mean metrics per variant (images where the variant failed are left out)."""
    gray = [r for r in rows if r["variant"] == GRAY]
    gray_by_image = {r["image"]: r for r in gray}
    out = []
    for variant in [GRAY] + order:
        rs = [r for r in rows if r["variant"] == variant]
        if not rs:
            continue
        m = mean_metrics([{k: r[k] for k in METRICS} for r in rs])
        g = mean_metrics([{k: gray_by_image[r["image"]][k] for k in METRICS} for r in rs])
        row: dict[str, Any] = {"variant": variant, **m, "n": len(rs)}
        row["train_s"] = float(np.mean([r["train_s"] for r in rs]))
        row["infer_s"] = float(np.median([r["infer_s"] for r in rs]))
        if variant == GRAY:
            row["beats_gray"] = ""
            row["train_s"] = row["infer_s"] = None
        else:
            row["beats_gray"] = "yes" if m["delta_e2000"] < g["delta_e2000"] else "NO"
        out.append(row)
    return out


def per_image_table(
    rows: list[dict[str, Any]], order: list[str], key: str = "delta_e2000"
) -> tuple[list[dict[str, Any]], list[Column]]:
    images = list(dict.fromkeys(r["image"] for r in rows))
    variants = [v for v in [GRAY] + order if any(r["variant"] == v for r in rows)]
    table = []
    for v in variants:
        row: dict[str, Any] = {"variant": v}
        for r in rows:
            if r["variant"] == v:
                row[r["image"]] = r[key]
        table.append(row)
    cols = [Column("variant", "method", "{}", "<")] + [Column(im, im, "{:.2f}") for im in images]
    return table, cols


# ------------------------------------------------------------------ figure


def save_figure(
    path: str, kept: dict[tuple[str, str], np.ndarray], images: list[str], variants: list[str]
) -> None:
    """A grid: one row per photo, columns gray | each method | truth (protocol 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [GRAY] + [v for v in variants if any((v, im) in kept for im in images)] + ["truth"]
    images = [im for im in images if ("truth", im) in kept]
    if not images:
        return
    ratios = [kept[("truth", im)].shape[0] / kept[("truth", im)].shape[1] for im in images]
    fig, axes = plt.subplots(
        len(images),
        len(cols),
        figsize=(2.2 * len(cols), 2.2 * sum(ratios) + 0.4),
        squeeze=False,
        gridspec_kw={"height_ratios": ratios},
    )
    for i, im in enumerate(images):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            ax.axis("off")
            if (c, im) in kept:
                ax.imshow(np.clip(kept[(c, im)], 0, 1))
            if i == 0:
                ax.set_title(c.replace(" (ab=0)", ""), fontsize=8)
    fig.tight_layout(pad=0.2)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(VARIANTS),
        metavar="VARIANT",
        help=f"variants to run (default all): {', '.join(VARIANTS)}; a method name selects all its variants",
    )
    p.add_argument("--protocol", choices=["1", "2", "both"], default="both")
    p.add_argument(
        "--images", type=int, default=None, metavar="N", help="use the first N bundled photos (default all)"
    )
    p.add_argument(
        "--folds",
        type=int,
        default=None,
        metavar="K",
        help="test on the first K photos only (protocol 1: K photos; protocol 2: K folds, each "
        "still trained on all the other photos); default all",
    )
    p.add_argument(
        "--photos",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"photos by name: {', '.join(common.PHOTOS)}",
    )
    p.add_argument(
        "--size", type=int, default=common.SIZE, help="longest side of the photos, px (default 768)"
    )
    p.add_argument("--quick", action="store_true", help="tiny recipes: a smoke run, not a benchmark")
    p.add_argument(
        "--set", nargs="+", default=[], metavar="VARIANT.KEY=VALUE", help="override a recipe value"
    )
    p.add_argument(
        "--max-train-s",
        type=float,
        default=None,
        metavar="S",
        help="stop any (Keras) training after S seconds (default: the recipes run to the end); "
        "results then depend on the machine's speed",
    )
    p.add_argument("--markdown", metavar="FILE", help="write the tables as markdown (e.g. docs/quality.md)")
    p.add_argument("--json", metavar="FILE", help="write every per-image row as JSON (updated as it goes)")
    p.add_argument(
        "--figure", metavar="PNG", help="protocol 1 picture: gray | methods | truth for a few photos"
    )
    p.add_argument(
        "--figure-images", type=int, default=3, metavar="N", help="photos in the figure (default 3)"
    )
    args = p.parse_args(argv)

    chosen: list[str] = []
    for m in args.methods:
        matches = [v for v in VARIANTS if v == m or VARIANTS[v]["method"] == m]
        if not matches:
            p.error(f"unknown method or variant {m!r}; choose from {', '.join(VARIANTS)}")
        chosen += [v for v in matches if v not in chosen]
    sets = parse_set(args.set)
    for v in sets:
        if v not in VARIANTS:
            p.error(f"--set names unknown variant {v!r}")

    notes: list[str] = []
    plan: dict[str, dict[str, Any]] = {}
    for v, r in recipes(chosen, quick=args.quick, sets=sets).items():
        why = common.method_status(r["method"])
        if why:
            notes.append(f"{v}: skipped, method {r['method']!r} is not importable ({why})")
            log("SKIP " + notes[-1])
            continue
        cfg, dropped = common.filter_config(r["method"], r["config"])
        if dropped:
            notes.append(f"{v}: recipe keys not in the {r['method']} config, dropped: {', '.join(dropped)}")
            log("NOTE " + notes[-1])
        plan[v] = {"method": r["method"], "config": cfg}

    photos = common.load_photos(args.photos, n=args.images, size=args.size)
    log(f"photos: {', '.join(n for n, _ in photos)} (longest side {args.size} px)")
    protocols = [1, 2] if args.protocol == "both" else [int(args.protocol)]
    if 2 in protocols and len(photos) < 2:
        p.error("leave-one-out needs at least 2 photos")
    keep = {n for n, _ in photos[: args.figure_images]} if args.figure else set()

    desc = common.machine_description()
    t_start = time.perf_counter()
    json_rows: list[dict[str, Any]] = []
    results: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    proto_s: dict[int, float] = {}
    for proto in protocols:
        t_proto = time.perf_counter()
        rows, kept = run_protocol(
            proto,
            photos,
            plan,
            max_train_s=args.max_train_s,
            n_folds=args.folds,
            notes=notes,
            keep=keep if proto == 1 else set(),
            json_rows=json_rows,
            json_path=args.json,
        )
        proto_s[proto] = time.perf_counter() - t_proto
        summary = summarize(rows, list(plan))
        results[proto] = (rows, summary)
        title = {1: "Protocol 1: half-split", 2: "Protocol 2: leave-one-out"}[proto]
        print(
            f"\n{title} ({len(folds(proto, photos, args.folds))} test photos of {len(photos)}, {args.size} px, "
            f"{proto_s[proto] / 60:.1f} min)"
        )
        print(common.format_table(summary, SUMMARY_COLUMNS))
        sys.stdout.flush()
        if proto == 1 and args.figure:
            save_figure(args.figure, kept, [n for n, _ in photos[: args.figure_images]], list(plan))
            log(f"wrote {args.figure}")
    total_s = time.perf_counter() - t_start
    if notes:
        print("\nNotes:")
        for n in notes:
            print(f"- {n}")
    print(f"\ntotal time {total_s / 60:.1f} min")

    if args.markdown:
        common.write_text(args.markdown, markdown(args, photos, plan, results, notes, desc, total_s, proto_s))
        log(f"wrote {args.markdown}")
    return 0


def markdown(
    args: argparse.Namespace,
    photos: list[tuple[str, np.ndarray]],
    plan: dict[str, dict[str, Any]],
    results: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]],
    notes: list[str],
    desc: dict[str, Any],
    total_s: float,
    proto_s: dict[int, float],
) -> str:
    lines = [
        "# Colorization quality",
        "",
        "Made by `benchmarks/quality.py` on the machine below; rerun it with:",
        "",
        "```",
        common.command_line(),
        "```",
        "",
        common.machine_markdown(desc),
        f"- Total run time: {total_s / 60:.1f} min",
        "",
        f"Photos ({len(photos)}, resized to {args.size} px on the longest side): "
        + ", ".join(f"`{n}`" for n, _ in photos)
        + "."
        + (
            f" Test photos (`--folds {args.folds}`): the first {min(args.folds, len(photos))}; leave-one-out still "
            "trains on all the other photos."
            if args.folds
            else ""
        ),
        "",
        "- **Protocol 1, half-split:** for each photo, a model is trained on its left half and colorizes "
        "the gray version of its right half.",
        "- **Protocol 2, leave-one-out:** for each photo, a model is trained on all the other photos and "
        "colorizes the gray version of that photo.",
        "- The prediction keeps the truth's exact L, so the metrics judge the predicted chroma. "
        "`gray (ab=0)` is that L with no color at all: in protocol 1 (the test half looks like the training half) "
        "a method that does not beat it on CIEDE2000 is broken; in protocol 2 (an unseen photo) it is a hard "
        "baseline, because a wrong but confident color costs more CIEDE2000 than no color.",
        "- Metrics (`napari_colorize.metrics`): PSNR (RGB, dB), SSIM (RGB), mean CIEDE2000, "
        "colorfulness CF of the prediction (Hasler & Suesstrunk 2003) and dCF = CF(pred) - CF(truth), "
        "AuC (Zhang et al. 2016: fraction of pixels with ab error <= t, averaged over t = 0..150). "
        "Means over the photos; train s is the mean training time per model, infer s the median time "
        "to colorize one photo (untiled).",
        "",
        "## Recipes",
        "",
        "| method | napari-colorize method | config (other keys: defaults) |",
        "| :--- | :--- | :--- |",
    ]
    for v, r in plan.items():
        lines.append(f"| {v} | `{r['method']}` | `{json.dumps(r['config'])}` |")
    for proto, (rows, summary) in results.items():
        title = {1: "Protocol 1: half-split", 2: "Protocol 2: leave-one-out"}[proto]
        n_test = len({r["image"] for r in rows})
        lines += [
            "",
            f"## {title}",
            "",
            f"{n_test} test photos, {len(plan)} methods: {proto_s[proto] / 60:.1f} min on this machine.",
            "",
            common.format_table(summary, SUMMARY_COLUMNS, markdown=True),
            "",
        ]
        table, cols = per_image_table(rows, list(plan))
        lines += [
            f"Mean CIEDE2000 per photo ({title.split(': ')[1]}):",
            "",
            common.format_table(table, cols, markdown=True),
        ]
    if args.figure:
        rel = Path(args.figure)
        if args.markdown:
            try:
                rel = Path(args.figure).resolve().relative_to(Path(args.markdown).resolve().parent)
            except ValueError:
                pass
        lines += ["", "## Examples (protocol 1)", "", f"![gray, methods and truth]({rel.as_posix()})"]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
