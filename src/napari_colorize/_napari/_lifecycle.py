"""Who uses the engine workers from napari, and when to stop them.

The one home of the plugin's shared state: the open widgets, the viewers that
scripts used, and the Colorize widgets whose model lists follow new models.
The engine workers stop when the last widget and watched viewer are gone.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..client import shutdown_workers

__all__ = [
    "register_widget",
    "register_model_list",
    "refresh_model_lists",
    "watch_viewer",
    "shutdown_if_unused",
]

#: open dock widgets (a widget sets ``_closed`` when Qt destroys it)
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
#: widgets with a ``refresh_models(select=...)`` method
_MODEL_LISTS: weakref.WeakSet[Any] = weakref.WeakSet()
#: ids of viewers that used the workers from a script
_WATCHED: set[int] = set()


def register_widget(widget: Any) -> None:
    """Count ``widget`` as a user of the engine workers until it is closed."""
    _LIVE.add(widget)


def register_model_list(widget: Any) -> None:
    """Refresh ``widget.refresh_models(select=...)`` whenever a model is saved."""
    _MODEL_LISTS.add(widget)


def refresh_model_lists(select: str | None = None) -> None:
    """Re-read the model folders in every open model list, selecting ``select`` if given."""
    for w in list(_MODEL_LISTS):
        if getattr(w, "_closed", False):
            continue
        try:
            w.refresh_models(select=select)
        except RuntimeError:  # the Qt widget is already deleted
            pass


def watch_viewer(viewer: Any) -> None:
    """Stop the engine workers when this viewer (and every widget) is closed."""
    key = id(getattr(viewer, "__wrapped__", viewer))  # a widget's viewer is napari's public-only proxy
    if key in _WATCHED:
        return
    # the window's menu bar is public and goes with the main window (no private attribute needed)
    menu = getattr(getattr(viewer, "window", None), "main_menu", None)
    destroyed = getattr(menu, "destroyed", None)
    if destroyed is None:  # a headless ViewerModel: nothing to watch
        return
    _WATCHED.add(key)

    def gone(*_: Any) -> None:
        _WATCHED.discard(key)
        shutdown_if_unused()

    destroyed.connect(gone)


def shutdown_if_unused(*_: Any) -> None:
    """Stop the engine workers when no open widget and no watched viewer uses them."""
    alive = [w for w in list(_LIVE) if not getattr(w, "_closed", False)]
    if not alive and not _WATCHED:
        shutdown_workers()
