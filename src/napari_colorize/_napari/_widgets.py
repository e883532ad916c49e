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

import numpy as np
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
from ..pretrained import best_installed, list_pretrained
from ..preview import PREVIEW_SECONDS, PREVIEW_SIZE, PREVIEW_SMALLEST, next_preview_size
from ..protocol import TRAIN_STOP_GRACE, WorkerCrashed, progress_fraction, progress_message
from ..tiling import BLENDS
from . import _api, _hints
from ._lifecycle import refresh_model_lists, register_model_list, register_widget, shutdown_if_unused

__all__ = ["ColorizeWidget", "TrainWidget", "EvaluateWidget", "LOAD_FOLDER", "LIVE_DELAY_MS", "WARM_START"]

LOAD_FOLDER = "load folder…"
#: the value of a model list entry that is a pretrained model not installed yet: FETCH + its name
FETCH = "fetch:"
#: a new Colorize widget starts the engine worker and loads its model in the background
WARM_START = True
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
    text = str(exc)
    if isinstance(exc, WorkerCrashed):
        text = (
            "The engine worker crashed; your layers are unchanged and the next run starts a new worker."
            f"\n{exc}"
        )
    if isinstance(exc, Cancelled):
        level = "info"
    widget.messages.append((level, text))
    _api.notify(text, level=level, actions=actions)


def _ask(parent: Any, title: str, question: str) -> bool:
    """Ask a yes/no question in a dialog (No is the default answer)."""
    from qtpy.QtWidgets import QMessageBox

    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, question, yes | no, no) == yes


def _advanced_toggle(container: Container, *, text: str = "advanced options") -> CheckBox:
    """A check box that shows ``container`` (hidden at first): the fold for rarely used options."""
    box = CheckBox(value=False, text=text, tooltip="show the options most people leave as they are")
    container.visible = False
    box.changed.connect(lambda value: setattr(container, "visible", bool(value)))
    return box


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


def _fit_width(widget: Any) -> None:
    """Let ``widget``'s drop-down lists (and those inside it) shrink to the dock's width.

    Qt sizes a combo box to its longest entry by default, so one long model or layer name
    made the whole dock wider than its scroll area and pushed every field past the right edge.
    """
    from qtpy.QtWidgets import QComboBox

    native = widget.native if hasattr(widget, "native") else widget
    boxes = [native] if isinstance(native, QComboBox) else []
    for box in boxes + native.findChildren(QComboBox):
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(8)


def _status_line() -> Label:
    """A left-aligned, word-wrapped line of text that takes the dock's whole width."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QSizePolicy

    line = Label(value="")
    line.native.setWordWrap(True)
    line.native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    line.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return line


class _Fit(Container):
    """A container whose drop-down lists never widen it past the dock (:func:`_fit_width`)."""

    def insert(self, key: int, widget: Any) -> None:  # noqa: D102 - Container.insert
        super().insert(key, widget)
        _fit_width(widget)


class _Base(_Fit):
    """A dock widget in a scroll area, so that it fits any screen."""

    def __init__(self, viewer: Any, **kw: Any) -> None:
        super().__init__(scrollable=True, **kw)
        # rows keep their natural height; the space left over goes below the last one
        self.inner.layout().addStretch(1)
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

    @property
    def native(self) -> Any:
        """The scroll area around the widget: what napari docks."""
        return self.root_native_widget

    @property
    def inner(self) -> Any:
        """The Qt widget inside the scroll area (holds the layout)."""
        return self._widget._mgui_get_native_widget()

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


_is_output = _api.is_output


def _face_colors(layer: Any) -> np.ndarray | None:
    """A copy of a hints layer's face colors (None without a layer)."""
    if layer is None:
        return None
    return np.array(getattr(layer, "face_color", ()), dtype=float, copy=True)


# ---------------------------------------------------------------------------
# Colorize
# ---------------------------------------------------------------------------


class ColorizeWidget(_Base):
    """Colorize a grayscale Image layer with a model, optionally tiled."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self._extra_models: dict[str, str] = {}
        self._chosen_model: Any = None  # the last model chosen (a declined download goes back to it)
        self._offering = False  # asking whether to download a pretrained model
        self._doing = "colorizing"
        self.image = ComboBox(
            label="gray image",
            # the plugin's own results (RGB, L, a, b, confidence, ΔE2000) are never an input
            choices=lambda w: self._layers(rgb=None, outputs=False),
            nullable=True,
            tooltip="a grayscale Image layer (2D, or nD with the last two axes spatial)",
        )
        self.model = ComboBox(
            label="model",
            choices=self._model_choices,
            tooltip="built-in models, models in your models folder, pretrained models to download, "
            "or a folder",
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
        self.status = _status_line()
        # rarely changed: folded under "advanced options"
        self.advanced = _Fit(
            labels=True,
            widgets=[
                self.normalize,
                self.p_low,
                self.p_high,
                self.color_from,
                self.confidence,
                self.use_tiles,
                self.auto_tile,
                self.tile,
                self.overlap,
                self.blend,
                self.global_anchor,
                self.show_tiles,
            ],
        )
        self.advanced.margins = (0, 0, 0, 0)
        self.show_advanced = _advanced_toggle(self.advanced)
        self.extend(
            [
                self.image,
                self.model,
                self.model_folder,
                self.hints,
                self.add_hints_button,
                self.live,
                self.saturation,
                self.show_advanced,
                self.advanced,
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
        self._deselect_after_add: Any = None
        self._hint_colors: np.ndarray | None = None
        self.live_runs = 0  # live colorizations started (tests, diagnostics)
        #: live mode first colorizes the plane downscaled to at most this many pixels (longest
        #: side); per model, the side shrinks until a preview takes about PREVIEW_SECONDS
        self.preview_size = PREVIEW_SIZE
        #: what a live preview should take (seconds); None keeps every preview at preview_size
        self.preview_seconds: float | None = PREVIEW_SECONDS
        self._preview_sides: dict[str, int] = {}  # model -> the side its next preview uses
        self._run_model = ""  # the model of the run in flight, and whether it had to warm up
        self._run_warming = False
        self._refining = False  # the run in flight refines a preview to the full resolution
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
        if WARM_START:
            # start the engine and load the chosen model now, so that the first run is not the slow one
            model = self.model.value
            chosen = model not in (None, LOAD_FOLDER) and not str(model).startswith(FETCH)
            _api.warm_up(model if chosen else None)

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
        if active is not None and any(active is ly for ly in grays):
            self.image.value = active
        elif grays:
            self.image.value = grays[0]

    def _on_active(self, event: Any) -> None:
        layer = event.value
        if self._closed or self.running or layer is None:
            return
        if any(layer is ly for _, ly in self._layers(rgb=False, outputs=False)):
            self.image.value = layer

    def _on_layers_changed(self, *_: Any) -> None:
        if not self._closed:
            self.reset_choices()
            self.preselect_gray()

    # -- models --------------------------------------------------------------
    def _model_choices(self, *_: Any) -> list[tuple[str, str]]:
        models = {**list_models(), **self._extra_models}
        try:  # pretrained models not installed yet: choosing one offers to download it
            fetchable = [
                (f"{e['name']} (not installed: download, {e['size']})", FETCH + e["name"])
                for e in list_pretrained()
                if not e["installed"]
            ]
        except ColorizeError:  # a broken extra catalogue file: the installed models only
            fetchable = []
        return [(k, v) for k, v in models.items()] + fetchable + [(LOAD_FOLDER, LOAD_FOLDER)]

    def preselect_default(self) -> None:
        """Choose the best installed pretrained model (the catalogue ranks them), else the model
        :data:`~napari_colorize.catalogue.DEFAULT_MODEL` when it is there."""
        best = best_installed()
        for name, value in self._model_choices():
            if (best is not None and value == str(best)) or (best is None and name == DEFAULT_MODEL):
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
        if isinstance(value, str) and value.startswith(FETCH):
            if not self._offering:  # the list's own reset re-emits the choice: asked once
                self._offering = True
                try:
                    self._select_back()  # the list keeps a usable model while it asks and downloads
                    self._offer_fetch(value[len(FETCH) :])
                finally:
                    self._offering = False
            return
        if value in (None, LOAD_FOLDER):
            return
        self._chosen_model = value
        try:
            method = describe_model_folder(Path(value)).get("method")
        except (ColorizeError, OSError):
            return
        # propagation needs no training and answers fast: follow the hints live
        self.live.value = method == "propagate"

    def _offer_fetch(self, name: str) -> Any:
        """Ask, then download and install the pretrained model ``name`` in the engine worker
        (progress bar, Cancel); the list then selects it.  Returns the napari worker or None."""
        entry = next((e for e in list_pretrained() if e["name"] == name), None)
        if self._tw is not None or entry is None or not _ask(
            self.native,
            "Download a pretrained model?",
            f"{name}: {entry['description']}\n\nDownload {entry['size']} (licence: {entry['licence']}) "
            "and install it in your models folder?"
            + (
                ""
                if entry["sha256_known"]
                else "\n\nIts SHA-256 is not known in advance: the downloaded file's is recorded in the "
                "model's config.json (trust on first use)."
            ),
        ):
            if self._tw is not None:
                _notify(self, "wait for the running task to finish (or cancel it) first", level="warning")
            return None
        import time

        self._t0 = time.monotonic()
        self._doing = f"downloading {name}"
        self.status.value = f"{self._doing}…"
        self.progress.value = 0
        try:
            tw = _api.fetch_model(
                name, blocking=False, start=False, on_done=self._fetched, on_error=self._error
            )
        except ColorizeError as e:
            _notify(self, e)
            return None
        self._tw = tw
        tw.yielded.connect(self._progress)
        tw.finished.connect(self._finished)
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        tw.start()
        return tw

    @_while_open
    def _fetched(self, path: Path) -> None:
        import time

        self._end_progress(complete=True)
        self.status.value = f"installed {path.name} in {time.monotonic() - self._t0:.0f} s"
        self.refresh_models(select=str(path))

    def _select_back(self) -> None:
        """Choose the last model chosen again (else the first installed one)."""
        values = [v for _, v in self._model_choices() if not str(v).startswith(FETCH)]
        self.model.value = self._chosen_model if self._chosen_model in values else values[0]

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

    #: events of the hints layer that re-colorize in live mode: (event, handler)
    _HINT_EVENTS = (
        ("data", "_schedule_live"),  # add, move, delete
        ("face_color", "_schedule_live"),
        ("size", "_schedule_live"),
        ("current_face_color", "_on_hint_colors"),  # napari's color control recolors the selected points
        ("features", "_after_hint_added"),
    )

    def _on_hints_layer(self, layer: Any) -> None:
        old = self._watched_points
        if old is layer:
            return
        if old is not None:
            old.events.data.disconnect(self._on_hints_data)
            for name, handler in self._HINT_EVENTS:
                emitter = getattr(old.events, name, None)
                if emitter is not None:
                    emitter.disconnect(getattr(self, handler))
        self._watched_points = layer
        self._deselect_after_add = None
        self._hint_colors = _face_colors(layer)
        if layer is not None:
            layer.events.data.connect(self._on_hints_data)
            for name, handler in self._HINT_EVENTS:
                emitter = getattr(layer.events, name, None)  # Shapes have no size
                if emitter is not None:
                    emitter.connect(getattr(self, handler))
            self._schedule_live()

    def _on_hints_data(self, event: Any) -> None:
        """A new point takes its color from the reference layer (when one is chosen), and is let go.

        napari selects each point it adds, so the next pick of a color would recolor
        it; in add mode the new point is deselected (see :meth:`_after_hint_added`), so
        that "pick a color, then click" gives the color to the next point only.
        """
        if getattr(event, "action", None) != "added" or not _hints.is_hints_layer(event.source):
            return
        from napari.layers import Points

        layer = event.source
        if not isinstance(layer, Points):
            return
        ref = self.color_from.value
        if ref is not None:
            _hints.color_points_from_layer(layer, ref, getattr(event, "data_indices", None))
        if layer.mode == "add":
            self._deselect_after_add = layer

    def _after_hint_added(self, event: Any) -> None:
        """After napari has selected the point it added (its last step), clear that selection."""
        layer, self._deselect_after_add = self._deselect_after_add, None
        if layer is not None and layer is self._watched_points and len(layer.selected_data):
            layer.selected_data = set()

    def _on_hint_colors(self, *_: Any) -> None:
        """``current_face_color`` changed: re-colorize when it recolored hints (not on a mere selection)."""
        colors = _face_colors(self._watched_points)
        before, self._hint_colors = self._hint_colors, colors
        if before is None or colors is None or not np.array_equal(before, colors):  # shapes differ: unequal
            self._schedule_live()

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
            if model in (None, LOAD_FOLDER) or str(model).startswith(FETCH):
                raise InputError("choose a model (or load a model folder)")
            import time

            if not refine:  # a refinement keeps the preview's start time and status line
                self._t0 = time.monotonic()
                self.status.value = f"colorizing {layer.name if layer else ''}…"
            self.progress.value = 0
            self._run_model, self._run_warming = str(model), _api.warming()
            if refine:  # the preview stays on screen while the full resolution comes
                self._doing = f"live: preview shown; full resolution of {layer.name if layer else ''}"
            else:
                self._doing = f"{'live: ' if live else ''}colorizing {layer.name if layer else ''}"
                self.status.value = f"{self._doing}…"
                if self._run_warming:
                    self.status.value = f"{self._doing}: starting the engine and loading the model…"
            plane = None
            if live and layer is not None and layer.ndim > 2:
                plane = _hints.displayed_plane(self._viewer, layer)
            tw = _api.colorize_layer(
                self._viewer,
                layer,
                model,
                hints=self.hints.value,
                plane=plane,
                preview=self.live_preview_size() if live and not refine else None,
                blocking=False,
                start=False,  # connected below first, so that no progress event is missed
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
        self._refining = refine
        self._run_preview = getattr(tw, "preview", None) is not None
        if refine:
            self.live_refines += 1
        elif live:
            self.live_runs += 1
        tw.yielded.connect(self._progress)
        tw.finished.connect(self._finished)
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        tw.start()
        return tw

    def live_preview_size(self) -> int:
        """The longest side of the next live preview with the chosen model (pixels).

        At most :attr:`preview_size`; smaller for a model whose previews took longer than
        :data:`~napari_colorize.preview.PREVIEW_SECONDS` on this machine
        (:func:`~napari_colorize.preview.next_preview_size`).  A plane no larger than this
        is colorized at once, without a preview.
        """
        if self.preview_seconds is None:
            return int(self.preview_size)
        side = self._preview_sides.get(str(self.model.value), self.preview_size)
        return int(min(side, self.preview_size))

    def _learn_preview_size(self, layers: list) -> None:
        """After a live run (not a refinement): the preview side that keeps the next one quick."""
        if self.preview_seconds is None or self._run_warming or not layers:
            return  # fixed, or the engine started / the model loaded: not the model's own pace
        import time

        side = max(np.shape(layers[0].data)[-2:])
        seconds = time.monotonic() - self._t0
        self._preview_sides[self._run_model] = next_preview_size(
            min(side, self.preview_size),
            seconds,
            target=self.preview_seconds,
            smallest=min(PREVIEW_SMALLEST, self.preview_size),
            largest=self.preview_size,
        )

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
        elif ev.get("stage") in ("starting", "loading"):
            self.progress.max = 0  # busy: the engine starts or loads the model, no fraction yet
        text = progress_message(ev)
        if text:
            self.status.value = f"{self._doing}: {text}"

    def _end_progress(self, *, complete: bool) -> None:
        if self.progress.max == 0:
            self.progress.max = 1
        self.progress.value = self.progress.max if complete else 0

    @_while_open
    def _done(self, layers: list) -> None:
        import time

        self._end_progress(complete=True)
        rgb = next((ly.name for ly in layers if getattr(ly, "rgb", False)), "")
        self.status.value = f"done in {time.monotonic() - self._t0:.1f} s: {rgb}"
        near_gray = layers[0].metadata.get("napari_colorize", {}).get("near_gray") if layers else None
        if near_gray:  # say what the model knows: a nearly gray automatic result, and what to do
            self.status.value += f" ({near_gray})"
        if self._live_run and not self._refining:
            self._learn_preview_size(layers)
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
            if self.progress.max == 0:  # no result came: leave the busy state
                self._end_progress(complete=False)
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
                    box = _api.layer_box(self.crop.value, sources[0])
            name = self.model_name.value.strip() or f"{method}-{stem}".replace(" ", "_").replace("/", "_")
            if any(c in name for c in "/\\") or name in (".", ".."):
                raise InputError(f"model name {name!r} must be a plain folder name")
            out = user_models_dir() / name
            config = self.config_values()
            get_config_class(method).from_dict(config)  # a bad setting is refused before any question
            overwrite = _api.model_exists(out)
            if overwrite and not _ask(
                self.native,
                "Replace the model?",
                f"A model named {name!r} is already saved in {out.parent}.\n"
                "Training replaces it. Go on?",
            ):
                self.status.value = f"not trained: {name!r} is kept; choose another model name"
                return None
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
        # the truth is a photo the user opened, never one of the plugin's results
        self.truth = ComboBox(
            label="ground truth", choices=lambda w: self._layers(rgb=True, outputs=False), nullable=True
        )
        self.error_layer = CheckBox(value=True, text="add ΔE2000 error layer")
        self.eval_button = PushButton(text="Evaluate")
        self.table = Table(value={"metric": [], "value": []})
        self._fit_table()
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
        self._fit_table()
        return m

    def _fit_table(self) -> None:
        """Make the table exactly as tall as its rows (at least those of every metric), no scrolling."""
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QHeaderView

        t = self.table.native
        t.verticalHeader().setVisible(False)
        header = t.horizontalHeader()
        if t.columnCount() == 2:  # metric names as wide as they are, the values take the rest
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            t.setMinimumWidth(header.sectionSize(0) + 80 + 2 * t.frameWidth())
        t.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = max(t.rowCount(), len(METRIC_LABELS))
        row_h = t.verticalHeader().defaultSectionSize()
        used = sum(t.rowHeight(r) for r in range(t.rowCount()))
        height = (
            t.horizontalHeader().sizeHint().height()
            + used
            + (rows - t.rowCount()) * row_h
            + 2 * t.frameWidth()
        )
        t.setFixedHeight(height)

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
