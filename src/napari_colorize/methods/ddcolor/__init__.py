"""``ddcolor``: Kang et al., "DDColor: Photo-Realistic Image Colorization via Dual Decoders" (ICCV 2023)."""

from .colorizer import BLOCK_NAMES, DDColorColorizer, DDColorConfig, gray_rgb, import_torch_weights

__all__ = [
    "DDColorConfig",
    "DDColorColorizer",
    "import_torch_weights",
    "BLOCK_NAMES",
    "gray_rgb",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = DDColorColorizer
