"""Color hints in the engine: the checks of a :class:`~napari_colorize.hints.Hints` and its pieces.

A Hints holds only its hinted pixels, so it is small and picklable whatever the image's size; the
engine cuts it per plane (:meth:`~napari_colorize.hints.Hints.plane`), per tile read box
(:meth:`~napari_colorize.hints.Hints.box`) and onto the global anchor's coarse grid
(:meth:`~napari_colorize.hints.Hints.resize` with ``factor``).  A tile's dense ``ab`` and ``mask``
are the only ones ever made, when the method reads them.  A piece without hints is None here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .predict import _hints_class

if TYPE_CHECKING:
    from ..hints import Hints


def _some(hints: Hints | None) -> Hints | None:
    """``hints``, or None when there are none."""
    return hints if hints is not None and len(hints) else None


def _checked_hints(hints: Any, shape: tuple[int, ...]) -> Hints | None:
    """Checked hints over an image of ``shape``; None for no hints or empty hints.

    A Hints gives a new one of the same pixels (shared, read only), so that the dense arrays a
    method makes of a whole plane go with this call, not with the caller's Hints.  Anything
    else with dense ``ab`` and ``mask`` becomes a Hints of its pixels.
    """
    if hints is None:
        return None
    cls = _hints_class()
    if isinstance(hints, cls):
        hints = cls._of_pixels(hints.shape, hints.coords, hints.pixel_ab, hints.pixel_mask)
    elif hasattr(hints, "ab") and hasattr(hints, "mask"):
        hints = cls(hints.ab, hints.mask)
    else:
        raise InputError(f"hints must be a napari_colorize.Hints, got {type(hints).__name__}")
    if hints.shape != tuple(shape):
        raise InputError(f"the hints cover shape {hints.shape} but the image has shape {tuple(shape)}")
    return _some(hints)
