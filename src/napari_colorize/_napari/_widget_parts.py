"""What the dock widgets share: the scrollable base, fitting the dock's width, notifications, questions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from magicgui.widgets import CheckBox, Container, Label

from ..errors import Cancelled
from ..protocol import WorkerCrashed
from ._lifecycle import register_widget, shutdown_if_unused
from ._notifications import notify
from ._result_layers import is_output as _is_output


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
    notify(text, level=level, actions=actions)


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
