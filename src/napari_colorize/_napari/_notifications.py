"""napari notifications of the plugin: ``napari-colorize: <text>``, without a source line."""

from __future__ import annotations

import functools
from typing import Any

from ..errors import Cancelled

__all__ = ["notify"]


@functools.lru_cache(maxsize=1)
def _notification_class() -> Any:
    """napari's Notification without a source: its dialog would print "Source: <NotificationManager…>"."""
    from napari.utils.notifications import Notification

    class PluginNotification(Notification):
        @property
        def source(self) -> Any:
            return None

    return PluginNotification


def notify(text: str, *, level: str = "error", actions: tuple = ()) -> None:
    """Show ``napari-colorize: <text>`` as a napari notification.

    Parameters
    ----------
    text : str
        The message.
    level : {"error", "warning", "info"}
    actions : tuple of (label, callable)
        Buttons of the notification.
    """
    from napari.utils.notifications import NotificationSeverity, notification_manager

    sev = {
        "error": NotificationSeverity.ERROR,
        "warning": NotificationSeverity.WARNING,
        "info": NotificationSeverity.INFO,
    }[level]
    note = _notification_class()(f"napari-colorize: {text}", severity=sev, actions=tuple(actions))
    notification_manager.dispatch(note)


def _notify_error(exc: BaseException) -> None:
    notify(str(exc), level="info" if isinstance(exc, Cancelled) else "error")
