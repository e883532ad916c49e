import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """skimage's coffee photo as float32 RGB in 0..1, 200 x 300."""
    from skimage import data
    from skimage.transform import resize

    return resize(data.coffee(), (200, 300), anti_aliasing=True).astype(np.float32)


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return resize(data.chelsea(), (200, 300), anti_aliasing=True).astype(np.float32)
