"""Method ``lookup``: a gray-level -> color table learned from reference images."""

from .colorizer import LookupColorizer, LookupConfig

__all__ = ["LookupConfig", "LookupColorizer", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = LookupColorizer
