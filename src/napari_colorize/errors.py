"""Exceptions with messages meant for people.

Every error a user can cause (bad input, a wrong model folder, a bad config
value) is a :class:`ColorizeError`; the command line prints its message on
one line and exits with status 2, and the napari widgets show it as a
notification.
"""

from __future__ import annotations

__all__ = ["ColorizeError", "InputError", "ConfigError", "ModelFolderError", "Cancelled"]


class ColorizeError(Exception):
    """Base class of the errors a user can cause."""


class InputError(ColorizeError, ValueError):
    """An image or array that cannot be used (dtype, shape, empty, corrupt)."""


class ConfigError(ColorizeError, ValueError):
    """An unknown config key or an invalid config value."""


class ModelFolderError(ColorizeError, OSError):
    """A model folder that is missing, corrupt, of another method or version."""


class Cancelled(ColorizeError):
    """Work stopped at the user's request."""
