"""``siggraph17``: Zhang et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors"
(2017).

- :mod:`.config`: :class:`SIGGRAPH17Config`, the class grid and the block names (no Keras);
- :mod:`.colorizer`: :class:`SIGGRAPH17Colorizer` (inference, calibration, fusion, training);
- :mod:`.user_hints`: hints as network input, simulated for training, reconciled with the prediction;
- :mod:`.network`: the Keras network (imported lazily);
- :mod:`.authors_weights`: :func:`import_torch_weights`, from the authors' PyTorch file.
"""

from .authors_weights import import_torch_weights
from .colorizer import SIGGRAPH17Colorizer
from .config import BLOCK_NAMES, SIGGRAPH17Config, class_bins
from .user_hints import hint_inputs, hint_proximity, sample_hints, simulated_hint_inputs

__all__ = [
    "SIGGRAPH17Config",
    "SIGGRAPH17Colorizer",
    "import_torch_weights",
    "sample_hints",
    "hint_inputs",
    "simulated_hint_inputs",
    "hint_proximity",
    "class_bins",
    "BLOCK_NAMES",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = SIGGRAPH17Colorizer
