"""The Train colorizer dock widget: train a model from RGB layers (or a folder) in the engine worker.

Training runs in its own engine process, so that colorizing goes on meanwhile.  The method's
settings become fields with readable labels (:data:`FIELD_LABELS`); the rarely changed ones
are folded under "advanced settings".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    LineEdit,
    ProgressBar,
    PushButton,
    RadioButtons,
    Select,
    SpinBox,
)

from ..catalogue import user_models_dir
from ..errors import Cancelled, ColorizeError, InputError
from ..protocol import TRAIN_STOP_GRACE, progress_fraction, progress_message
from ._layer_input import layer_box
from ._lifecycle import refresh_model_lists
from ._train_from_layers import model_exists, train_from_layers
from ._widget_parts import _advanced_toggle, _ask, _Base, _Fit, _is_output, _notify, _status_line, _while_open

__all__ = ["TrainWidget", "field_label", "is_basic_field"]


#: readable labels of config fields (a field's help is its tooltip); others: the name in words
FIELD_LABELS = {
    "epochs": "epochs",
    "batch_size": "batch size",
    "crop_size": "crop size (px)",
    "val_split": "validation share",
    "seed": "random seed",
    "distribute": "multi-GPU training",
    "precision": "numeric precision",
    "window": "window size (px)",
    "n_colors": "palette colors",
    "arch": "network type",
    "decode": "color from",
    "temperature": "sharpening",
    "samples_per_epoch": "windows per epoch",
    "mlp_units": "MLP layer sizes",
    "cnn_filters": "conv filters",
    "cnn_units": "dense layer sizes",
    "soft_sigma": "soft target width",
    "learning_rate": "learning rate",
    "flip": "random flips",
    "palette_samples": "palette sample pixels",
    "input_size": "network input size (px)",
    "ab_scale": "color range",
    "inference": "predict at",
    "steps_per_epoch": "batches per epoch",
    "width": "network width",
    "depth": "network depth (levels)",
    "encoder_weights": "encoder weights file",
    "freeze_encoder": "keep the encoder fixed",
    "trainable_from": "train from block",
    "crops_per_image": "crops per image",
    "T": "temperature",
    "rebalance": "favour rare colors",
    "k": "nearest color bins",
    "sigma": "soft-encoding width",
    "lam": "uniform prior share",
    "grid": "color bin size",
    "variance_scale": "widen at texture",
    "stack_weight": "link between planes",
    "data_weight": "pull towards gray",
    "solver": "solver",
    "coarse_pixels": "coarsest grid (pixels)",
    "iterations": "refinement steps",
    "tol": "tolerance",
    "mask_center": "hint mask offset",
    "p_none": "share without hints",
    "p_stop": "hint count parameter",
    "p_uniform": "share of uniform hints",
    "max_patch": "largest hint patch (px)",
    "class_weight": "class loss weight",
    "decode_T": "decoding temperature",
    "shrink": "gray where unsure",
    "hint_radius": "hint reach (px)",
    "fuse_weight": "spread hints along edges",
    "saturation": "saturation",
    "n_levels": "lightness levels",
    "policy": "color of a level",
    "texture": "split by texture",
    "texture_window": "texture window (px)",
    "texture_bins": "texture classes",
}
#: the same name, another meaning: (method, field) -> label
METHOD_FIELD_LABELS = {("propagate", "sigma"): "edge sensitivity (L)"}
#: config fields shown at once; the others are folded under "advanced settings"
BASIC_FIELDS = frozenset(
    {"epochs", "batch_size", "crop_size", "learning_rate", "n_levels", "policy", "texture", "width"}
)
#: the same for one method: method -> fields
METHOD_BASIC_FIELDS = {"propagate": frozenset({"sigma", "data_weight", "stack_weight"})}


def field_label(name: str, method: str | None = None) -> str:
    """The label a person reads for config field ``name`` (of ``method``)."""
    return METHOD_FIELD_LABELS.get((method, name)) or FIELD_LABELS.get(name) or name.replace("_", " ")


def is_basic_field(name: str, method: str | None = None) -> bool:
    """Whether the Train widget shows field ``name`` of ``method`` outside the advanced fold."""
    return name in BASIC_FIELDS or name in METHOD_BASIC_FIELDS.get(method or "", ())


def _field_widget(field: dict[str, Any], method: str | None = None) -> Any:
    """An input widget for one config field: a readable label, the field's help as its tooltip."""
    name, default = field["name"], field["default"]
    label = field_label(name, method)
    help_ = field.get("help") or label
    kw = {"name": name, "tooltip": f"{help_}\n(setting {name!r})"}
    if field.get("choices"):
        return ComboBox(label=label, choices=field["choices"], value=default, **kw)
    t = field["type"]
    if t == "bool":
        return CheckBox(text=label, value=bool(default), **kw)
    if t == "int":
        return SpinBox(label=label, value=int(default), min=-(2**31), max=2**31 - 1, **kw)
    if t == "float":
        # a text field: spin boxes round small values such as learning rates to 0
        w = LineEdit(label=label, value=repr(float(default)), **kw)
        w._colorize_float = True
        return w
    if t == "str":
        return LineEdit(label=label, value=str(default or ""), **kw)
    return None


class TrainWidget(_Base):
    """Train a colorization model from RGB layers (or a folder) in the engine worker."""

    #: config fields not shown (set elsewhere in the widget, or advanced)
    HIDDEN = {"crop"}

    def __init__(self, napari_viewer: Any) -> None:
        from ..methods import list_methods

        super().__init__(napari_viewer, labels=True)
        self._methods = list_methods()
        self.source = RadioButtons(
            label="train on", choices=["layers", "folder"], value="layers", orientation="horizontal"
        )
        self.include_outputs = CheckBox(
            value=False,
            text="list colorized results",
            tooltip="also offer this plugin's own '<name> RGB' results as training images",
        )
        self.layers = Select(label="RGB layers", choices=self._rgb_choices)
        self.folder = FileEdit(label="image folder", mode="d", visible=False)
        self.crop = ComboBox(
            label="crop box",
            choices=lambda w: self._layers(kind="shapes", outputs=False),
            nullable=True,
            value=None,
            tooltip="optional: train only inside the first rectangle of a Shapes layer",
        )
        self.method = ComboBox(
            label="method", choices=list(self._methods), value="lookup" if "lookup" in self._methods else None
        )
        self.config = _Fit(labels=True)
        self.config_advanced = _Fit(labels=True)
        for c in (self.config, self.config_advanced):
            c.margins = (0, 0, 0, 0)
        self.show_advanced = _advanced_toggle(self.config_advanced, text="advanced settings")
        self.model_name = LineEdit(
            label="model name", value="", tooltip="saved in the user models folder; empty = <method>-<layer>"
        )
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = _status_line()
        self.extend(
            [
                self.source,
                self.layers,
                self.include_outputs,
                self.folder,
                self.crop,
                self.method,
                self.config,
                self.show_advanced,
                self.config_advanced,
                self.model_name,
                self.train_button,
                self.stop_button,
                self.progress,
                self.status,
            ]
        )
        self.history: dict[str, list[float]] = {}
        self.result_path: Path | None = None
        self._setup_plot()
        self.source.changed.connect(self._on_source)
        self.include_outputs.changed.connect(lambda *_: self.layers.reset_choices())
        self.method.changed.connect(self._build_config)
        self.train_button.changed.connect(self.run)
        self.stop_button.changed.connect(self.stop)
        self._build_config()
        self.reset_choices()

    # -- plot ------------------------------------------------------------------
    def _setup_plot(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.5, 2.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(160)
        self.ax = self.figure.add_subplot(111)
        self.inner.layout().addWidget(self.canvas)
        self._redraw()

    def _redraw(self) -> None:
        ax = self.ax
        ax.clear()
        for key, style in (("loss", "-o"), ("val_loss", "--s")):
            vals = self.history.get(key) or []
            if vals:
                ax.plot(range(1, len(vals) + 1), vals, style, ms=3, label=key)
        batch = self.history.get("batch_loss") or []
        if batch and not self.history.get("loss"):
            ax.plot([x for x, _ in batch], [y for _, y in batch], "-", lw=1, label="loss (batches)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if ax.lines:
            ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
        self.canvas.draw_idle()

    # -- config -----------------------------------------------------------------
    def _rgb_choices(self, *_: Any) -> list[tuple[str, Any]]:
        """RGB layers to train on: our own colorized results only when asked for (or already picked)."""
        picked = list(getattr(getattr(self, "layers", None), "value", None) or ())
        return [
            (name, ly)
            for name, ly in self._layers(rgb=True)
            if self.include_outputs.value or not _is_output(ly) or any(ly is p for p in picked)
        ]

    def _on_source(self, value: str) -> None:
        self.layers.visible = value == "layers"
        self.include_outputs.visible = value == "layers"
        self.crop.visible = value == "layers"
        self.folder.visible = value == "folder"

    def _build_config(self, *_: Any) -> None:
        self.config.clear()
        self.config_advanced.clear()
        method = self.method.value
        for f in self._methods.get(method, []):
            if f["name"] in self.HIDDEN:
                continue
            w = _field_widget(f, method)
            if w is not None:
                (self.config if is_basic_field(f["name"], method) else self.config_advanced).append(w)
        self.show_advanced.visible = len(self.config_advanced) > 0

    def config_widgets(self) -> list[Any]:
        """The widgets of the method's settings: the basic ones, then the advanced ones."""
        return [*self.config, *self.config_advanced]

    def config_values(self) -> dict[str, Any]:
        """The config overrides set in the widget (only the values that differ from the defaults)."""
        defaults = {f["name"]: f["default"] for f in self._methods.get(self.method.value, [])}
        out = {}
        for w in self.config_widgets():
            value = w.value
            if getattr(w, "_colorize_float", False):
                try:
                    value = float(value)
                except ValueError:
                    raise InputError(f"{w.label or w.name} must be a number, got {value!r}") from None
            if value != defaults.get(w.name):
                out[w.name] = value
        return out

    def set_config(self, **values: Any) -> None:
        widgets = {w.name: w for w in self.config_widgets()}  # by name: "width" etc. clash with attributes
        for k, v in values.items():
            if k not in widgets:
                raise InputError(f"{self.method.value} has no setting {k!r} in the widget")
            widgets[k].value = repr(float(v)) if getattr(widgets[k], "_colorize_float", False) else v

    # -- running ---------------------------------------------------------------
    def run(self, *_: Any) -> Any:
        """Start training (non-blocking); returns the napari worker or None on bad input.

        Saving over a model of the same name asks first (and returns None on "No").
        """
        from ..methods import get_config_class

        if self._tw is not None:
            _notify(self, "training is already running", level="warning")
            return None
        method = self.method.value
        try:
            if not method:
                raise InputError("choose a method")
            box = None
            if self.source.value == "folder":
                folder = Path(self.folder.value)
                if not str(self.folder.value) or not folder.is_dir():
                    raise InputError("choose a folder of color images")
                sources: Any = folder
                stem = folder.name
            else:
                sources = list(self.layers.value)
                if not sources:
                    raise InputError("select at least one RGB layer to train on")
                stem = sources[0].name
                if self.crop.value is not None:
                    box = layer_box(self.crop.value, sources[0])
            name = self.model_name.value.strip() or f"{method}-{stem}".replace(" ", "_").replace("/", "_")
            if any(c in name for c in "/\\") or name in (".", ".."):
                raise InputError(f"model name {name!r} must be a plain folder name")
            out = user_models_dir() / name
            config = self.config_values()
            get_config_class(method).from_dict(config)  # a bad setting is refused before any question
            overwrite = model_exists(out)
            if overwrite and not _ask(
                self.native,
                "Replace the model?",
                f"A model named {name!r} is already saved in {out.parent}.\nTraining replaces it. Go on?",
            ):
                self.status.value = f"not trained: {name!r} is kept; choose another model name"
                return None
            self.history = {}
            self._redraw()
            self.progress.value = 0
            self.status.value = f"training {method} → {out}"
            tw = train_from_layers(
                self._viewer,
                sources,
                method,
                out,
                blocking=False,
                box=box,
                on_progress=self._on_event,
                on_done=self._done,
                on_error=self._error,
                overwrite=overwrite,
                **config,
            )
        except ColorizeError as e:
            _notify(self, e)
            self.status.value = ""
            return None
        self._tw = tw
        self._stopping = False
        tw.finished.connect(self._finished)
        self.train_button.enabled = False
        self.stop_button.enabled = True
        return tw

    @_while_open
    def _on_event(self, ev: dict) -> None:
        stage = ev.get("stage")
        if stage in ("starting", "loading"):
            self.status.value = progress_message(ev) or ""
        epochs, steps = ev.get("epochs"), ev.get("steps")
        frac = progress_fraction(ev)
        if frac is not None:
            self.progress.max = frac[1]
            self.progress.value = frac[0]
        if stage == "batch":
            if "loss" in ev and steps:
                self.history.setdefault("batch_loss", []).append(
                    (ev.get("epoch", 0) + ev.get("batch", 0) / steps, ev["loss"])
                )
                if not self.history.get("loss"):
                    self._redraw()
        elif stage == "epoch":
            for k, v in (ev.get("logs") or {}).items():
                self.history.setdefault(k, []).append(v)
            self.status.value = f"epoch {ev.get('epoch')}/{epochs or '?'}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in (ev.get("logs") or {}).items() if isinstance(v, float)
            )
            self._redraw()

    @_while_open
    def _done(self, path: Path) -> None:
        self.result_path = Path(path)
        self.progress.value = self.progress.max
        stopped = getattr(self, "_stopping", False)
        self.status.value = f"{'stopped early; ' if stopped else ''}saved {path.name}"
        _notify(self, f"model saved to {path}" + (" (stopped early)" if stopped else ""), level="info")
        # the new model joins every model list; what the other widgets have chosen stays chosen
        refresh_model_lists()

    @_while_open
    def _error(self, exc: BaseException) -> None:
        self.status.value = "stopped (nothing saved)" if isinstance(exc, Cancelled) else "failed"
        _notify(self, exc)

    def _finished(self, *_: Any) -> None:
        self._tw = None
        if not self._closed:
            self.train_button.enabled = True
            self.stop_button.enabled = False

    def stop(self, *_: Any) -> None:
        """Stop training: the model stops after the current batch and is saved."""
        tw = self._tw
        if tw is not None:
            self._stopping = True
            self.status.value = "stopping after the current batch…"
            tw.engine_worker.stop(grace=TRAIN_STOP_GRACE)
