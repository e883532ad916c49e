"""The Colorize widget's hints layer and live mode: re-colorize the displayed plane when the hints change.

:class:`LiveMode` is a part of :class:`~napari_colorize._napari._colorize_widget.ColorizeWidget`
(a mixin): it uses the widget's ``image``, ``hints``, ``color_from``, ``live`` and ``status``
fields and its :meth:`run`.  A live run of a large plane first shows a downscaled preview,
whose size adapts to the model's pace (:func:`~napari_colorize.preview.next_preview_size`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import Cancelled, ColorizeError
from ..preview import PREVIEW_SMALLEST, next_preview_size
from ..protocol import WorkerCrashed
from . import _hint_layers
from ._result_layers import OUTPUT_SUFFIXES
from ._widget_parts import _notify, _while_open

__all__ = ["LiveMode", "LIVE_DELAY_MS"]


#: live mode waits this long after the last change of the hints before it colorizes
LIVE_DELAY_MS = 300


def _face_colors(layer: Any) -> np.ndarray | None:
    """A copy of a hints layer's face colors (None without a layer)."""
    if layer is None:
        return None
    return np.array(getattr(layer, "face_color", ()), dtype=float, copy=True)


class LiveMode:
    """The hints layer the Colorize widget watches, and live mode."""

    # -- hints -----------------------------------------------------------------------
    def _hints_layer_choices(self) -> list[tuple[str, Any]]:
        return [(ly.name, ly) for ly in self._viewer.layers if _hint_layers.is_hints_layer(ly)]

    def add_hints_layer(self, *_: Any) -> Any:
        """Add (or select) ``<image> hints`` for the chosen gray layer and choose it as the hints."""
        layer = self.image.value
        if layer is None:
            _notify(self, "choose the gray image first, then add its hints layer", level="warning")
            return None
        points = _hint_layers.add_hints_layer(self._viewer, layer)
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
        if getattr(event, "action", None) != "added" or not _hint_layers.is_hints_layer(event.source):
            return
        from napari.layers import Points

        layer = event.source
        if not isinstance(layer, Points):
            return
        ref = self.color_from.value
        if ref is not None:
            _hint_layers.color_points_from_layer(layer, ref, getattr(event, "data_indices", None))
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
        if len(hints.data) == 0 and image.name + OUTPUT_SUFFIXES["rgb"] not in self._viewer.layers:
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

    @_while_open
    def _live_error(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.status.value = "live: superseded"
        elif isinstance(exc, ColorizeError) and not isinstance(exc, WorkerCrashed):
            self.status.value = f"live: {exc}"  # e.g. a hint just outside the image: no pop-up per click
        else:
            self._error(exc)
