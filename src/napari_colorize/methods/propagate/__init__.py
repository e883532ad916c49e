"""Method ``propagate``: colorization from color hints by optimization (Levin, Lischinski & Weiss 2004)."""

from .colorizer import PropagateColorizer
from .config import PropagateConfig

__all__ = ["PropagateConfig", "PropagateColorizer", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = PropagateColorizer
