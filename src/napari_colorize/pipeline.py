"""File-level colorization used by the command line (simple version; the tiling work extends it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .io import TIFF_SUFFIXES, read_image, write_image

__all__ = ["colorize_file"]


def colorize_file(
    path: str | Path,
    model: Any,
    out_dir: str | Path,
    *,
    save_lab: bool = False,
    tile: int | None = None,
    overlap: int | float | None = None,
    blend: str = "gaussian",
    global_anchor: bool = False,
    tiles_json: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Colorize one image file; write ``<stem>_rgb.png`` (or ``.tif`` for TIFF input)."""
    from .api import colorize

    path = Path(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    image = read_image(path)
    res = colorize(image, model, tile=tile, overlap=overlap, blend=blend, global_anchor=global_anchor, progress=progress)
    is_tiff = path.suffix.lower() in TIFF_SUFFIXES
    written = []
    rgb_path = out_dir / f"{path.stem}_rgb{'.tif' if is_tiff else '.png'}"
    rgb = np.asarray(res.rgb)
    write_image(rgb_path, (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    written.append(rgb_path)
    if save_lab:
        written.append(write_image(out_dir / f"{path.stem}_L.tif", np.asarray(res.L, np.float32)))
        written.append(write_image(out_dir / f"{path.stem}_ab.tif", np.asarray(res.ab, np.float32)))
    if tiles_json is not None:
        from .io import atomic_write

        plan = res.plan.to_dict() if res.plan is not None else None
        with atomic_write(tiles_json, "w") as f:
            json.dump({"image": str(path), "plan": plan}, f, indent=1)
        written.append(Path(tiles_json))
    return written
