"""Method ``window``: a palette classifier on a zeta x zeta window of gray values.

- :mod:`.config`: :class:`WindowConfig` (no Keras);
- :mod:`.windows`: the palette and the gray windows the network learns from (pure numpy);
- :mod:`.colorizer`: :class:`WindowColorizer`;
- :mod:`.network`: the Keras network and its inference (imported lazily).
"""

from .colorizer import WindowColorizer
from .config import WindowConfig
from .windows import extract_windows, fit_palette, pad_reflect

__all__ = ["WindowConfig", "WindowColorizer", "fit_palette", "extract_windows", "pad_reflect", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = WindowColorizer
