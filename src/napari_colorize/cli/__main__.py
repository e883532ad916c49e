"""``python -m napari_colorize.cli``: the ``napari-colorize`` command."""

import sys

from . import main

sys.exit(main())
