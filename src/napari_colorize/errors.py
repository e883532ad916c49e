"""Exceptions with messages meant for people.

Every error a user can cause (bad input, a wrong model folder, a bad config
value) is a :class:`ColorizeError`; the command line prints its message on
one line and exits with status 2, and the napari widgets show it as a
notification.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import FrameType

__all__ = [
    "ColorizeError",
    "InputError",
    "ConfigError",
    "ModelFolderError",
    "DiskFullError",
    "Cancelled",
    "NearGrayWarning",
    "user_stacklevel",
]

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


class ColorizeError(Exception):
    """Base class of the errors a user can cause."""


class InputError(ColorizeError, ValueError):
    """An image or array that cannot be used (dtype, shape, empty, corrupt)."""


class ConfigError(ColorizeError, ValueError):
    """An unknown config key or an invalid config value."""


class ModelFolderError(ColorizeError, OSError):
    """A model folder that is missing, corrupt, of another method or version."""


class DiskFullError(ColorizeError, OSError):
    """A write failed because the disk (or the user's quota) is full; nothing half-written is left."""


class Cancelled(ColorizeError):
    """Work stopped at the user's request."""


class NearGrayWarning(UserWarning):
    """An automatic result that is nearly gray: the model knows little about the image.

    Its message says what to do (give color hints, or use a model trained on similar images);
    ``Colorization.near_gray`` holds the same line.
    """


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that points at the first caller outside this package.

    Call it directly in the function that warns: ``warnings.warn(msg, Cat, stacklevel=user_stacklevel())``.
    """
    frame: FrameType | None = sys._getframe(1)  # the function that warns
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level
