"""Method ``window``: a palette classifier on a zeta x zeta window of gray values."""

from .colorizer import WindowColorizer, WindowConfig, extract_windows, fit_palette, pad_reflect

__all__ = ["WindowConfig", "WindowColorizer", "fit_palette", "extract_windows", "pad_reflect", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = WindowColorizer
