"""The dock widgets: Colorize, Train colorizer, Evaluate colorization.

Each widget is a magicgui ``Container``; the work goes through
:mod:`napari_colorize._napari._api`, which talks to the engine processes
(training in its own, so that colorizing goes on meanwhile).
No TensorFlow is ever imported here.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSlider,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    RadioButtons,
    Select,
    SpinBox,
    Table,
)

from ..catalogue import DEFAULT_MODEL, describe_model_folder, list_models, user_models_dir
from ..errors import Cancelled, ColorizeError, InputError
from ..preview import PREVIEW_SIZE
from ..protocol import TRAIN_STOP_GRACE, WorkerCrashed, progress_fraction
from ..tiling import BLENDS
from . import _api, _hints
from ._lifecycle import refresh_model_lists, register_model_list, register_widget, shutdown_if_unused

__all__ = ["ColorizeWidget", "TrainWidget", "EvaluateWidget", "LOAD_FOLDER", "LIVE_DELAY_MS"]

LOAD_FOLDER = "load folder…"
#: live mode waits this long after the last change of the hints before it colorizes
LIVE_DELAY_MS = 300
#: the Colorize widget's intensity choices: (label, ``normalize`` value)
NORMALIZE_LABELS = (
    ("auto (uint8 as is, else percentiles)", "auto"),
    ("dtype range", "dtype"),
    ("percentiles", "percentile"),
    ("none (values are 0..1)", "none"),
    ("layer contrast limits", _api.CONTRAST_LIMITS),
)


def _notify(widget: Any, exc: BaseException | str, *, level: str = "error", actions: tuple = ()) -> None:
    """Show a notification and remember it on the widget (``widget.messages``)."""
    from napari.utils.notifications import Notification, NotificationSeverity, notification_manager

    text = str(exc)
    if isinstance(exc, WorkerCrashed):
        text = (
            "The engine worker crashed; your layers are unchanged and the next run starts a new worker."
            f"\n{exc}"
        )
    if isinstance(exc, Cancelled):
        level = "info"
    widget.messages.append((level, text))
    sev = {
        "error": NotificationSeverity.ERROR,
        "warning": NotificationSeverity.WARNING,
        "info": NotificationSeverity.INFO,
    }[level]
    notification_manager.dispatch(Notification(f"napari-colorize: {text}", severity=sev, actions=actions))


def _while_open(method: Callable[..., None]) -> Callable[..., None]:
    """Skip a callback from a background run once the widget is closed (its Qt objects are gone)."""

    @functools.wraps(method)
    def wrapper(self: _Base, *args: Any) -> None:
        if self._closed:
            return
        try:
            method(self, *args)
        except RuntimeError as e:  # Qt deleted the widget before `destroyed` reached us
            if "has been deleted" not in str(e):
                raise
            self._closed = True

    return wrapper


class _Base(Container):
    def __init__(self, viewer: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self._t0 = 0.0
        self._viewer = viewer
        self.messages: list[tuple[str, str]] = []
        self._closed = False
        self._tw: Any = None
        register_widget(self)
        ev = viewer.layers.events
        for name in ("inserted", "removed", "reordered", "changed"):
            getattr(ev, name, None) and getattr(ev, name).connect(self._on_layers_changed)
        self.native.destroyed.connect(self._on_destroyed)

    def _on_layers_changed(self, *_: Any) -> None:
        if not self._closed:
            self.reset_choices()

    def _on_destroyed(self, *_: Any) -> None:
        self._closed = True
        tw = self._tw
        if tw is not None and getattr(tw, "engine_worker", None) is not None:
            try:
                tw.engine_worker.stop()
            except Exception:  # the worker may already be gone; closing must go on
                pass
        shutdown_if_unused()

    @property
    def running(self) -> bool:
        return self._tw is not None

    def _layers(
        self, *, rgb: bool | None = None, kind: str = "image", outputs: bool = True
    ) -> list[tuple[str, Any]]:
        """``(name, layer)`` of the viewer's Image (or Shapes) layers; ``outputs=False`` leaves out ours."""
        from napari.layers import Image, Shapes

        cls = Image if kind == "image" else Shapes
        out = []
        for ly in self._viewer.layers:
            if isinstance(ly, cls) and (rgb is None or bool(getattr(ly, "rgb", False)) == rgb):
                if outputs or not _is_output(ly):
                    out.append((ly.name, ly))
        return out


def _is_output(layer: Any) -> bool:
    """Whether ``layer`` is one of the plugin's own results (``<name> RGB``, ``<name> L``, ...)."""
    return isinstance(getattr(layer, "metadata", None), dict) and "napari_colorize" in layer.metadata


# ---------------------------------------------------------------------------
# Colorize
# ---------------------------------------------------------------------------


class ColorizeWidget(_Base):
    """Colorize a grayscale Image layer with a model, optionally tiled."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self._extra_models: dict[str, str] = {}
        self.image = ComboBox(
            label="gray image",
            choices=lambda w: self._layers(rgb=None),
            nullable=True,
            tooltip="a grayscale Image layer (2D, or nD with the last two axes spatial)",
        )
        self.model = ComboBox(
            label="model",
            choices=self._model_choices,
            tooltip="built-in models, models in your models folder, or a folder",
        )
        self.model_folder = FileEdit(label="model folder", mode="d", visible=False)
        self.normalize = ComboBox(
            label="intensities",
            choices=list(NORMALIZE_LABELS),
            value="auto",
            tooltip="which intensities become black and white: 'auto' keeps uint8 as it is and stretches "
            "other images between percentiles (a 12-bit camera image in uint16); 'layer contrast limits' "
            "takes what the viewer shows",
        )
        self.p_low = FloatSpinBox(label="low percentile", value=1.0, min=0.0, max=100.0, step=0.1)
        self.p_high = FloatSpinBox(label="high percentile", value=99.8, min=0.0, max=100.0, step=0.1)
        self.hints = ComboBox(
            label="hints",
            choices=lambda w: self._hint_layers(),
            nullable=True,
            value=None,
            tooltip="a Points layer of color hints (face color = hint color, size = diameter), "
            "or a Shapes layer whose filled shapes paint their face color",
        )
        self.add_hints_button = PushButton(
            text="Add hints layer",
            tooltip="a Points layer '<image> hints' for the gray image, ready to click",
        )
        self.color_from = ComboBox(
            label="hint colors from",
            choices=lambda w: self._layers(rgb=True, outputs=False),
            nullable=True,
            value=None,
            tooltip="optional: a new hint point takes the color of this RGB layer at its position",
        )
        self.live = CheckBox(
            value=False,
            text="live: re-colorize when the hints change",
            tooltip="adding, moving, recoloring or deleting a hint re-colorizes the displayed plane",
        )
        self.saturation = FloatSlider(
            label="saturation",
            value=1.0,
            min=0.0,
            max=2.0,
            step=0.05,
            tooltip="multiplies the predicted colors: 0 gray, 1 the model's colors, 2 twice as colorful",
        )
        self.confidence = CheckBox(
            value=False,
            text="confidence layer",
            tooltip="also show '<image> confidence': how sure the model is of its colors (0..1); "
            "models with a confidence only, such as the built-in default",
        )
        self.use_tiles = CheckBox(value=True, text="tile the image")
        self.auto_tile = CheckBox(
            value=True,
            text="model's default tile and overlap",
            tooltip="each model knows a good tile size and the overlap its receptive field needs",
        )
        self.tile = SpinBox(label="tile size", value=512, min=1, max=65536, step=32, enabled=False)
        self.overlap = SpinBox(label="overlap", value=32, min=0, max=8192, step=8, enabled=False)
        self.blend = ComboBox(label="blend", choices=list(BLENDS), value="gaussian")
        self.global_anchor = CheckBox(value=False, text="global color anchor")
        self.show_tiles = CheckBox(value=True, text="show tiles")
        self.run_button = PushButton(text="Colorize")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1, visible=True)
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.extend(
            [
                self.image,
                self.model,
                self.model_folder,
                self.normalize,
                self.p_low,
                self.p_high,
                self.hints,
                self.add_hints_button,
                self.color_from,
                self.live,
                self.saturation,
                self.confidence,
                self.use_tiles,
                self.auto_tile,
                self.tile,
                self.overlap,
                self.blend,
                self.global_anchor,
                self.show_tiles,
                self.run_button,
                self.cancel_button,
                self.progress,
                self.status,
            ]
        )
        self.model.changed.connect(self._on_model_changed)
        self.model_folder.changed.connect(self._on_folder_chosen)
        self.use_tiles.changed.connect(self._on_tiles_toggled)
        self.auto_tile.changed.connect(self._on_tiles_toggled)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.normalize.changed.connect(self._on_normalize)
        self.hints.changed.connect(self._on_hints_layer)
        self.add_hints_button.changed.connect(self.add_hints_layer)
        self.live.changed.connect(self._on_live_toggled)
        self._live_timer = self._make_timer()
        self._live_pending = False
        self._live_run = False
        self._watched_points: Any = None
        self.live_runs = 0  # live colorizations started (tests, diagnostics)
        #: live mode first colorizes the plane downscaled to this many pixels (longest side)
        self.preview_size = PREVIEW_SIZE
        self._run_preview = False  # the run in flight is a preview
        self._refine_next = False  # a preview is shown: colorize the full resolution next
        self.live_refines = 0  # full-resolution runs after a preview (tests, diagnostics)
        self._viewer.dims.events.current_step.connect(self._on_step)
        register_model_list(self)
        self.reset_choices()
        self.preselect_gray()
        self.preselect_default()
        self._on_model_changed(self.model.value)
        self._on_normalize(self.normalize.value)
        self._viewer.layers.selection.events.active.connect(self._on_active)

    # -- the gray layer ------------------------------------------------------
    def preselect_gray(self) -> None:
        """Choose the selected gray layer, else the first gray one that is not one of our outputs.

        Keeps a choice that is still in the viewer.
        """
        current = self.image.value
        if current is not None and current in self._viewer.layers:
            return
        active = self._viewer.layers.selection.active
        grays = [ly for _, ly in self._layers(rgb=False, outputs=False)]
        if active is not None and any(active is ly for _, ly in self._layers(rgb=False)):
            self.image.value = active
        elif grays:
            self.image.value = grays[0]

    def _on_active(self, event: Any) -> None:
        layer = event.value
        if self._closed or self.running or layer is None:
            return
        if any(layer is ly for _, ly in self._layers(rgb=False)):
            self.image.value = layer

    def _on_layers_changed(self, *_: Any) -> None:
        if not self._closed:
            self.reset_choices()
            self.preselect_gray()

    # -- models --------------------------------------------------------------
    def _model_choices(self, *_: Any) -> list[tuple[str, str]]:
        models = {**list_models(), **self._extra_models}
        return [(k, v) for k, v in models.items()] + [(LOAD_FOLDER, LOAD_FOLDER)]

    def preselect_default(self) -> None:
        """Choose the model :data:`~napari_colorize.catalogue.DEFAULT_MODEL` when it is there."""
        for name, value in self._model_choices():
            if name == DEFAULT_MODEL:
                self.model.value = value
                return

    def refresh_models(self, select: str | None = None) -> None:
        self.model.reset_choices()
        if select is not None:
            for name, value in self._model_choices():
                if name == select or value == select:
                    self.model.value = value
                    break

    def _on_model_changed(self, value: Any) -> None:
        self.model_folder.visible = value == LOAD_FOLDER
        if value in (None, LOAD_FOLDER):
            return
        try:
            method = describe_model_folder(Path(value)).get("method")
        except (ColorizeError, OSError):
            return
        # propagation needs no training and answers fast: follow the hints live
        self.live.value = method == "propagate"

    def _on_folder_chosen(self, value: Any) -> None:
        path = Path(value)
        if not str(value) or not path.is_dir():
            return
        try:
            info = describe_model_folder(path)
        except ColorizeError as e:
            _notify(self, e)
            return
        self._extra_models[f"{path.name} ({info['method']})"] = str(path)
        self.refresh_models(select=str(path))
        self.model_folder.visible = False

    def _on_tiles_toggled(self, *_: Any) -> None:
        tiled = bool(self.use_tiles.value)
        for w in (self.auto_tile, self.blend, self.show_tiles):
            w.enabled = tiled
        for w in (self.tile, self.overlap):
            w.enabled = tiled and not self.auto_tile.value

    # -- intensities -------------------------------------------------------------
    def _on_normalize(self, value: Any) -> None:
        for w in (self.p_low, self.p_high):
            w.visible = value in ("auto", "percentile")

    def intensity(self) -> dict[str, Any]:
        """The intensity options as :func:`colorize_layer` takes them."""
        mode = self.normalize.value
        out: dict[str, Any] = {"normalize": mode}
        if mode in ("auto", "percentile"):
            lo, hi = float(self.p_low.value), float(self.p_high.value)
            if not lo < hi:
                raise InputError(f"the low percentile ({lo:g}) must be below the high one ({hi:g})")
            out["percentiles"] = (lo, hi)
        return out

    # -- hints -----------------------------------------------------------------------
    def _hint_layers(self) -> list[tuple[str, Any]]:
        return [(ly.name, ly) for ly in self._viewer.layers if _hints.is_hints_layer(ly)]

    def add_hints_layer(self, *_: Any) -> Any:
        """Add (or select) ``<image> hints`` for the chosen gray layer and choose it as the hints."""
        layer = self.image.value
        if layer is None:
            _notify(self, "choose the gray image first, then add its hints layer", level="warning")
            return None
        points = _hints.add_hints_layer(self._viewer, layer)
        self.hints.reset_choices()
        self.hints.value = points
        return points

    def _on_hints_layer(self, layer: Any) -> None:
        old = self._watched_points
        if old is layer:
            return
        events = ("data", "face_color", "size")
        if old is not None:
            old.events.data.disconnect(self._on_hints_data)
            for name in events:
                emitter = getattr(old.events, name, None)
                if emitter is not None:
                    emitter.disconnect(self._schedule_live)
        self._watched_points = layer
        if layer is not None:
            layer.events.data.connect(self._on_hints_data)
            for name in events:
                emitter = getattr(layer.events, name, None)  # Shapes have no size
                if emitter is not None:
                    emitter.connect(self._schedule_live)
            self._schedule_live()

    def _on_hints_data(self, event: Any) -> None:
        """A new point takes its color from the reference layer, when one is chosen."""
        ref = self.color_from.value
        if (
            ref is None
            or getattr(event, "action", None) != "added"
            or not _hints.is_hints_layer(event.source)
        ):
            return
        from napari.layers import Points

        if isinstance(event.source, Points):
            _hints.color_points_from_layer(event.source, ref, getattr(event, "data_indices", None))

    # -- live mode --------------------------------------------------------------------
    def _make_timer(self) -> Any:
        from qtpy.QtCore import QTimer

        timer = QTimer(self.native)
        timer.setSingleShot(True)
        timer.setInterval(LIVE_DELAY_MS)
        timer.timeout.connect(self._live_fire)
        return timer

    def _on_live_toggled(self, value: bool) -> None:
        if value:
            self._schedule_live()
        else:
            self._live_timer.stop()
            self._live_pending = False

    def _on_step(self, *_: Any) -> None:
        layer = self.image.value
        if layer is not None and getattr(layer, "ndim", 2) > 2:
            self._schedule_live()

    def _schedule_live(self, *_: Any) -> None:
        """(Re)start the debounce timer: the last change within :data:`LIVE_DELAY_MS` wins."""
        hints, image = self.hints.value, self.image.value
        if self._closed or not self.live.value or hints is None or image is None:
            return
        if len(hints.data) == 0 and image.name + _api.OUTPUT_SUFFIXES["rgb"] not in self._viewer.layers:
            return  # nothing to show yet (deleting the last hint still re-colorizes)
        self._live_timer.start()

    def _live_fire(self) -> None:
        if self._closed or not self.live.value:
            return
        if self._tw is not None:
            # a newer state of the hints: cancel a live run in flight, then start again
            self._live_pending = True
            if self._live_run:
                self._tw.request_stop()
            return
        self._live_pending = False
        self.run(live=True)

    # -- running ---------------------------------------------------------------
    def color_options(self) -> dict[str, Any]:
        """The saturation and confidence options as :func:`colorize_layer` takes them."""
        return {"saturation": float(self.saturation.value), "confidence": bool(self.confidence.value)}

    def options(self) -> dict[str, Any]:
        """The tiling options as :func:`colorize_layer` takes them."""
        if not self.use_tiles.value:
            return {"tile": None, "global_anchor": bool(self.global_anchor.value), "show_tiles": False}
        auto = bool(self.auto_tile.value)
        return {
            "tile": "auto" if auto else int(self.tile.value),
            "overlap": None if auto else int(self.overlap.value),
            "blend": self.blend.value,
            "global_anchor": bool(self.global_anchor.value),
            "show_tiles": bool(self.show_tiles.value),
        }

    def run(self, *_: Any, live: bool = False, refine: bool = False) -> Any:
        """Start colorizing (non-blocking); returns the napari worker or None on bad input.

        With ``live``, only the displayed plane of a stack is colorized (the hints'
        live mode); errors then go to the status line, not to notifications.  A live
        run of an image larger than :attr:`preview_size` first shows a preview (the
        image downscaled to that size), then colorizes the full resolution (``refine``)
        and replaces it; a newer change of the hints cancels either.
        """
        if self._tw is not None:
            _notify(self, "a colorization is already running", level="warning")
            return None
        layer = self.image.value
        model = self.model.value
        try:
            if layer is not None and getattr(layer, "rgb", False):
                _notify(
                    self,
                    f"layer {layer.name!r} is RGB; the Colorize widget needs a grayscale layer.",
                    level="warning",
                    actions=(("Convert to gray", lambda *_: self._convert(layer)),),
                )
                return None
            if model in (None, LOAD_FOLDER):
                raise InputError("choose a model (or load a model folder)")
            import time

            if not refine:  # a refinement keeps the preview's start time and status line
                self._t0 = time.monotonic()
                self.status.value = f"colorizing {layer.name if layer else ''}…"
            self.progress.value = 0
            plane = None
            if live and layer is not None and layer.ndim > 2:
                plane = _hints.displayed_plane(self._viewer, layer)
            tw = _api.colorize_layer(
                self._viewer,
                layer,
                model,
                hints=self.hints.value,
                plane=plane,
                preview=self.preview_size if live and not refine else None,
                blocking=False,
                on_done=self._done,
                on_error=self._live_error if live else self._error,
                **self.intensity(),
                **self.color_options(),
                **self.options(),
            )
        except ColorizeError as e:
            if live:
                self.status.value = f"live: {e}"
            else:
                _notify(self, e)
                self.status.value = ""
            return None
        self._tw = tw
        self._live_run = live
        self._run_preview = getattr(tw, "preview", None) is not None
        if refine:
            self.live_refines += 1
        elif live:
            self.live_runs += 1
        tw.yielded.connect(self._progress)
        tw.finished.connect(self._finished)
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        return tw

    def _convert(self, layer: Any) -> None:
        gray = _api.rgb_layer_to_gray(self._viewer, layer)
        self.reset_choices()
        self.image.value = gray

    @_while_open
    def _progress(self, ev: dict) -> None:
        frac = progress_fraction(ev)
        if frac is not None:
            self.progress.max = frac[1]
            self.progress.value = frac[0]

    @_while_open
    def _done(self, layers: list) -> None:
        import time

        self.progress.value = self.progress.max
        rgb = next((ly.name for ly in layers if getattr(ly, "rgb", False)), "")
        self.status.value = f"done in {time.monotonic() - self._t0:.1f} s: {rgb}"
        if self._run_preview:
            f = max(layers[0].metadata["napari_colorize"]["preview"])
            self.status.value = (
                f"preview (1/{f:.3g} of the resolution) in {time.monotonic() - self._t0:.1f} s; "
                "colorizing the full resolution…"
            )
            self._refine_next = True
        hints = self.hints.value
        layer_list = self._viewer.layers
        if hints is not None and hints in layer_list and layer_list.index(hints) < len(layer_list) - 1:
            # keep the hints visible and clickable above the colorized result
            layer_list.move(layer_list.index(hints), len(layer_list))

    @_while_open
    def _error(self, exc: BaseException) -> None:
        self.status.value = "cancelled" if isinstance(exc, Cancelled) else "failed"
        _notify(self, exc)

    @_while_open
    def _live_error(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.status.value = "live: superseded"
        elif isinstance(exc, ColorizeError) and not isinstance(exc, WorkerCrashed):
            self.status.value = f"live: {exc}"  # e.g. a hint just outside the image: no pop-up per click
        else:
            self._error(exc)

    def _finished(self, *_: Any) -> None:
        self._tw = None
        self._live_run = False
        self._run_preview = False
        refine, self._refine_next = self._refine_next, False
        if not self._closed:
            self.run_button.enabled = True
            self.cancel_button.enabled = False
            if self._live_pending:
                self._live_pending = False
                self._schedule_live()
            elif refine and not self._live_timer.isActive():
                # the preview is on screen: the full resolution replaces it (a newer change
                # of the hints, already waiting in the timer, makes a new preview instead)
                self.run(live=True, refine=True)

    def cancel(self, *_: Any) -> None:
        tw = self._tw
        self._refine_next = False  # a cancelled preview stays a preview
        if tw is not None:
            self.status.value = "cancelling…"
            tw.request_stop()


# ---------------------------------------------------------------------------
# Train
# ---------------------------------------------------------------------------
_SIMPLE = {"int", "float", "bool", "str"}


def _field_widget(field: dict[str, Any]) -> Any:
    """An input widget for one config field: a readable label, the field's help as its tooltip."""
    name, default = field["name"], field["default"]
    label = name.replace("_", " ")
    help_ = field.get("help") or label
    kw = {"name": name, "tooltip": help_}
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
            choices=lambda w: self._layers(kind="shapes"),
            nullable=True,
            value=None,
            tooltip="optional: train only inside the first rectangle of a Shapes layer",
        )
        self.method = ComboBox(
            label="method", choices=list(self._methods), value="lookup" if "lookup" in self._methods else None
        )
        self.config = Container(labels=True)
        self.model_name = LineEdit(
            label="model name", value="", tooltip="saved in the user models folder; empty = <method>-<layer>"
        )
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.extend(
            [
                self.source,
                self.layers,
                self.include_outputs,
                self.folder,
                self.crop,
                self.method,
                self.config,
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
        self.native.layout().addWidget(self.canvas)
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
        fields = self._methods.get(self.method.value, [])
        for f in fields:
            if f["name"] in self.HIDDEN:
                continue
            w = _field_widget(f)
            if w is not None:
                self.config.append(w)

    def config_values(self) -> dict[str, Any]:
        """The config overrides set in the widget (only the values that differ from the defaults)."""
        defaults = {f["name"]: f["default"] for f in self._methods.get(self.method.value, [])}
        out = {}
        for w in self.config:
            value = w.value
            if getattr(w, "_colorize_float", False):
                try:
                    value = float(value)
                except ValueError:
                    raise InputError(f"{w.name} must be a number, got {value!r}") from None
            if value != defaults.get(w.name):
                out[w.name] = value
        return out

    def set_config(self, **values: Any) -> None:
        widgets = {w.name: w for w in self.config}  # by name: "width" etc. clash with attributes
        for k, v in values.items():
            if k not in widgets:
                raise InputError(f"{self.method.value} has no setting {k!r} in the widget")
            widgets[k].value = repr(float(v)) if getattr(widgets[k], "_colorize_float", False) else v

    # -- running ---------------------------------------------------------------
    def run(self, *_: Any) -> Any:
        """Start training (non-blocking); returns the napari worker or None on bad input."""
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
                    box = _api.layer_box(self.crop.value, sources[0])
            name = self.model_name.value.strip() or f"{method}-{stem}".replace(" ", "_").replace("/", "_")
            if any(c in name for c in "/\\") or name in (".", ".."):
                raise InputError(f"model name {name!r} must be a plain folder name")
            out = user_models_dir() / name
            self.history = {}
            self._redraw()
            self.progress.value = 0
            self.status.value = f"training {method} → {out}"
            tw = _api.train_from_layers(
                self._viewer,
                sources,
                method,
                out,
                blocking=False,
                box=box,
                on_progress=self._on_event,
                on_done=self._done,
                on_error=self._error,
                **self.config_values(),
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
        refresh_model_lists(select=str(path))

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


# ---------------------------------------------------------------------------
# Evaluate
# ---------------------------------------------------------------------------
METRIC_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "delta_e2000": "CIEDE2000 (mean)",
    "colorfulness": "colorfulness",
    "delta_colorfulness": "ΔCF",
    "auc": "AuC",
}


class EvaluateWidget(_Base):
    """Metrics of a colorized RGB layer against a ground-truth RGB layer."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self.pred = ComboBox(label="colorized", choices=lambda w: self._layers(rgb=True), nullable=True)
        self.truth = ComboBox(label="ground truth", choices=lambda w: self._layers(rgb=True), nullable=True)
        self.error_layer = CheckBox(value=True, text="add ΔE2000 error layer")
        self.eval_button = PushButton(text="Evaluate")
        self.table = Table(value={"metric": [], "value": []})
        self.csv_path = FileEdit(label="CSV file", mode="w", filter="*.csv")
        self.export_button = PushButton(text="Export CSV")
        self.extend(
            [
                self.pred,
                self.truth,
                self.error_layer,
                self.eval_button,
                self.table,
                self.csv_path,
                self.export_button,
            ]
        )
        self.metrics: dict[str, float] = {}
        self.eval_button.changed.connect(self.run)
        self.export_button.changed.connect(self.export)
        self.reset_choices()

    def run(self, *_: Any) -> dict[str, float] | None:
        try:
            if self.pred.value is None or self.truth.value is None:
                raise InputError("choose a colorized and a ground-truth RGB layer")
            m = _api.evaluate_layers(
                self._viewer, self.pred.value, self.truth.value, error_layer=bool(self.error_layer.value)
            )
        except ColorizeError as e:
            _notify(self, e)
            return None
        self.metrics = m
        self.table.value = {
            "metric": [METRIC_LABELS.get(k, k) for k in m],
            "value": [f"{v:.4g}" for v in m.values()],
        }
        return m

    def export(self, *_: Any, path: str | Path | None = None) -> Path | None:
        path = Path(path or self.csv_path.value)
        try:
            if not self.metrics:
                raise InputError("evaluate first, then export")
            if not str(path) or path.is_dir() or str(path) == ".":
                raise InputError("choose a CSV file to write")
            with open(path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["pred", "truth", *self.metrics])
                w.writerow(
                    [
                        self.pred.value.name,
                        self.truth.value.name,
                        *(f"{v:.6g}" for v in self.metrics.values()),
                    ]
                )
        except (ColorizeError, OSError) as e:
            _notify(self, e)
            return None
        return path
