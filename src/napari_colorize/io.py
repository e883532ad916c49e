"""Reading and writing images and model folders.

Images: PNG, JPEG (imageio) and TIFF (tifffile, 8/16 bit, multi-page).
Every write goes to a temporary file in the destination folder and is then
renamed into place, so a crash or a full disk never leaves a half-written
file or model folder behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelFolderError

__all__ = [
    "IMAGE_SUFFIXES",
    "TIFF_SUFFIXES",
    "read_image",
    "check_image",
    "write_image",
    "list_images",
    "atomic_write",
    "atomic_path",
    "atomic_dir",
    "to_uint8",
    "jsonable",
]

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp") + TIFF_SUFFIXES


def list_images(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted list of image files.

    Raises
    ------
    InputError
        If a path does not exist, or nothing is found.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"no such file or folder: {p}")
    if not out:
        raise InputError("no input images given")
    return out


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into a numpy array (its own dtype).

    TIFF files are read with tifffile (all pages: a multi-page TIFF becomes a
    stack); other formats with imageio.

    Raises
    ------
    InputError
        If the file is missing, empty, corrupt or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"empty file: {path}")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            arr = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            arr = iio.imread(path)
    except Exception as e:  # noqa: BLE001 - any decoder failure means a bad file
        raise _unreadable(path, e) from None
    arr = np.asarray(arr)
    if arr.size == 0:
        raise InputError(f"image has no pixels: {path}")
    return arr


def _unreadable(path: Path, e: BaseException) -> InputError:
    """The one-line error of a file no decoder can read."""
    first = (str(e).strip().splitlines() or [""])[0]
    return InputError(f"cannot read image {path}: not a readable image file ({type(e).__name__}: {first})")


def check_image(path: str | os.PathLike) -> None:
    """Raise the :func:`read_image` error for a file it could not read, cheaply and before any model loads.

    A TIFF is opened with tifffile and its first and last pages' headers read (the file must
    hold their pixels; they are not read, so a huge TIFF costs nothing); a PNG's chunks are
    checked (structure and CRCs, no decompression); other formats are decoded with Pillow (a
    JPEG at 1/8 scale).

    Raises
    ------
    InputError
        If the file is missing, empty, corrupt or not an image.
    """
    import warnings

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"empty file: {path}")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            size = path.stat().st_size
            with tifffile.TiffFile(path) as tif:
                if not len(tif.pages) or not tif.pages[0].shape:
                    raise ValueError("no image in the file")
                for page in {0: tif.pages[0], -1: tif.pages[-1]}.values():
                    ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
                    if ends and max(ends) > size:
                        raise ValueError(f"the file ends before its pixels ({size} of {max(ends)} bytes)")
            return
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # read_image decides
            with Image.open(path) as im:
                if im.format == "PNG":
                    im.verify()
                else:
                    im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))  # JPEG: at 1/8
                    im.load()
    except Exception as e:  # noqa: BLE001 - any decoder failure means a bad file
        raise _unreadable(path, e) from None


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float 0..1 (or any integer) image to uint8."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating):
        return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    from .color import to_float01

    return to_uint8(to_float01(image))


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python numbers/lists, paths as strings, NaN/inf as None.

    The result is strict JSON (``json.dumps(..., allow_nan=False)`` accepts it).
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any error (a full disk included) the temporary file is removed and
    ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path``; rename it onto ``path`` on success."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f


def write_image(path: str | os.PathLike, image: np.ndarray, *, tiled: bool = False) -> Path:
    """Write an image atomically; the format follows the suffix.

    Float images in 0..1 are written as uint8 for PNG/JPEG; TIFF keeps float32
    and 16-bit data as they are.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    image = np.asarray(image)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        with atomic_path(path) as f:
            kwargs = {"tile": (256, 256)} if tiled and image.ndim >= 2 and min(image.shape[:2]) >= 256 else {}
            photometric = "rgb" if image.ndim == 3 and image.shape[-1] in (3, 4) else "minisblack"
            tifffile.imwrite(f, image, photometric=photometric, **kwargs)
    else:
        import imageio.v3 as iio

        data = to_uint8(image)
        with atomic_write(path) as f:
            f.write(iio.imwrite("<bytes>", data, extension=suffix or ".png"))
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder in a temporary sibling and move it onto ``path`` on success.

    Yields the temporary folder to write into.  If the block raises (a full
    disk, a crash in serialisation), the temporary folder is removed and an
    existing ``path`` is left untouched.  On success an existing ``path`` is
    replaced as a whole.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ModelFolderError(f"{path} exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        for f in tmp.rglob("*"):
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~_umask())
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.rmdir(old)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
