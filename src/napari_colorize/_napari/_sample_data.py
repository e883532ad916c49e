"""Sample data: gray images with their color references (all from scikit-image, offline)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["coffee_sample", "ihc_sample", "stack_sample"]


def _gray(rgb: np.ndarray) -> np.ndarray:
    """The sRGB gray of the same Lab lightness (so colorize sees the reference's L)."""
    from ..color import L2gray, rgb2L
    from ..io import to_uint8

    return to_uint8(L2gray(rgb2L(rgb[..., :3])))


def coffee_sample() -> list[tuple[Any, dict, str]]:
    """A gray coffee cup and its color original (the reference)."""
    from skimage import data

    rgb = data.coffee()
    return [
        (rgb, {"name": "coffee reference", "rgb": True, "visible": False}, "image"),
        (_gray(rgb), {"name": "coffee gray", "colormap": "gray"}, "image"),
    ]


def ihc_sample() -> list[tuple[Any, dict, str]]:
    """A gray immunohistochemistry image and a color reference crop of it (placed where it came from)."""
    from skimage import data

    rgb = data.immunohistochemistry()
    y0, x0, y1, x1 = 0, 0, 192, 192
    return [
        (_gray(rgb), {"name": "ihc gray", "colormap": "gray"}, "image"),
        (
            rgb[y0:y1, x0:x1].copy(),
            {"name": "ihc reference crop", "rgb": True, "translate": (y0, x0)},
            "image",
        ),
    ]


def stack_sample() -> list[tuple[Any, dict, str]]:
    """A small gray time series (T, Y, X): the cat drifting across 8 frames."""
    from skimage import data

    gray = _gray(data.chelsea())  # (300, 451)
    frames = [gray[10 + 3 * t : 266 + 3 * t, 40 + 12 * t : 296 + 12 * t] for t in range(8)]
    return [(np.stack(frames), {"name": "cat stack gray", "colormap": "gray"}, "image")]
