"""Method ``lookup``: a gray-level -> color table learned from reference images.

- :mod:`.config`: :class:`LookupConfig`;
- :mod:`.colorizer`: :class:`LookupColorizer` (pure numpy).
"""

from .colorizer import LookupColorizer
from .config import LookupConfig

__all__ = ["LookupConfig", "LookupColorizer", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = LookupColorizer
