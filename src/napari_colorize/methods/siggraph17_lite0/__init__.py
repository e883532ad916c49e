"""``siggraph17_lite0``: SIGGRAPH17's user-guided colorization on a frozen ImageNet encoder."""

from .colorizer import (
    BLOCK_NAMES,
    ENCODER_WHEEL,
    SIGGRAPH17Lite0Colorizer,
    SIGGRAPH17Lite0Config,
    gamut_bins,
    nearest_bins,
)

__all__ = [
    "SIGGRAPH17Lite0Config",
    "SIGGRAPH17Lite0Colorizer",
    "gamut_bins",
    "nearest_bins",
    "BLOCK_NAMES",
    "ENCODER_WHEEL",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = SIGGRAPH17Lite0Colorizer
