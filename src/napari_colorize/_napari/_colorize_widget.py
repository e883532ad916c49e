"""The Colorize dock widget: colorize a grayscale layer with a model, optionally tiled.

The work goes through :func:`~napari_colorize._napari._colorize_layer.colorize_layer`, which
talks to the engine process; no TensorFlow is ever imported here.  The model list is
:class:`~napari_colorize._napari._model_choice.ModelChoice`, the hints layer and live mode
:class:`~napari_colorize._napari._live_mode.LiveMode`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    FloatSlider,
    FloatSpinBox,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..errors import Cancelled, ColorizeError, InputError
from ..preview import PREVIEW_SECONDS, PREVIEW_SIZE
from ..protocol import progress_fraction, progress_message
from ..tiling import BLENDS
from . import _hint_layers
from ._colorize_layer import colorize_layer
from ._layer_input import rgb_layer_to_gray
from ._layer_request import CONTRAST_LIMITS
from ._lifecycle import register_model_list
from ._live_mode import LIVE_DELAY_MS, LiveMode
from ._model_choice import FETCH, LOAD_FOLDER, ModelChoice
from ._task_runner import warm_up, warming
from ._widget_parts import _advanced_toggle, _Base, _Fit, _notify, _status_line, _while_open

__all__ = ["ColorizeWidget", "WARM_START", "LOAD_FOLDER", "FETCH", "LIVE_DELAY_MS"]


#: a new Colorize widget starts the engine worker and loads its model in the background
WARM_START = True


#: the Colorize widget's intensity choices: (label, ``normalize`` value)
NORMALIZE_LABELS = (
    ("auto (uint8 as is, else percentiles)", "auto"),
    ("dtype range", "dtype"),
    ("percentiles", "percentile"),
    ("none (values are 0..1)", "none"),
    ("layer contrast limits", CONTRAST_LIMITS),
)


class ColorizeWidget(ModelChoice, LiveMode, _Base):
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
            choices=lambda w: self._hints_layer_choices(),
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
            warm_up(model if chosen else None)

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

    # -- tiling ------------------------------------------------------------------
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
            self._run_model, self._run_warming = str(model), warming()
            if refine:  # the preview stays on screen while the full resolution comes
                self._doing = f"live: preview shown; full resolution of {layer.name if layer else ''}"
            else:
                self._doing = f"{'live: ' if live else ''}colorizing {layer.name if layer else ''}"
                self.status.value = f"{self._doing}…"
                if self._run_warming:
                    self.status.value = f"{self._doing}: starting the engine and loading the model…"
            plane = None
            if live and layer is not None and layer.ndim > 2:
                plane = _hint_layers.displayed_plane(self._viewer, layer)
            tw = colorize_layer(
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
        self._live_run = live
        self._refining = refine
        self._run_preview = getattr(tw, "preview", None) is not None
        if refine:
            self.live_refines += 1
        elif live:
            self.live_runs += 1
        return self._start_task(tw)

    def _start_task(self, tw: Any) -> Any:
        """Start ``tw`` (a napari worker, not started yet) as this widget's task and return it.

        Its progress goes to the progress bar and the status line; Run is disabled and Cancel
        enabled until it finishes (:meth:`_finished`).
        """
        self._tw = tw
        tw.yielded.connect(self._progress)
        tw.finished.connect(self._finished)
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        tw.start()
        return tw

    def _convert(self, layer: Any) -> None:
        gray = rgb_layer_to_gray(self._viewer, layer)
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
