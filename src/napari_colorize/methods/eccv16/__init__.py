"""``eccv16``: Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016)."""

from .colorizer import BLOCK_NAMES, ECCV16Colorizer, ECCV16Config, import_torch_weights

__all__ = ["ECCV16Config", "ECCV16Colorizer", "import_torch_weights", "BLOCK_NAMES", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = ECCV16Colorizer
