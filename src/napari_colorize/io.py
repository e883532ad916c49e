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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import DiskFullError, InputError, ModelFolderError

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
    "dir_lock",
    "clean_leftovers",
    "is_leftover",
    "remove_temporaries",
    "to_uint8",
    "check_writable_folder",
    "jsonable",
]

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp") + TIFF_SUFFIXES


def list_images(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
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
        if p.is_dir() and p.suffix.lower() == ".zarr":
            out.append(p)  # an OME-Zarr image is a folder
        elif p.is_dir():
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


def _existing_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path; one line when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"empty file: {path}")
    return path


def read_image(path: str | os.PathLike[str], *, series: int = 0) -> np.ndarray:
    """Read an image file into a numpy array (its own dtype).

    TIFF files are read with tifffile (all pages of the image ``series``: a multi-page TIFF
    becomes a stack); other formats with imageio.

    Raises
    ------
    InputError
        If the file is missing, empty, corrupt or not an image.
    """
    path = _existing_file(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            arr = tifffile.imread(path, series=series)
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


def check_image(path: str | os.PathLike[str]) -> None:
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

    if Path(path).is_dir() and Path(path).suffix.lower() == ".zarr":
        from .multiscale import read_ome_zarr

        read_ome_zarr(path)  # metadata and levels' headers only
        return
    path = _existing_file(path)
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
                        raise ValueError(
                            "damaged or truncated: the file ends before its pixels "
                            f"({size} of {max(ends)} bytes)"
                        )
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


def check_writable_folder(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Create the folder ``path`` if needed and check that files can be written in it.

    Raises
    ------
    InputError
        In one line: it is a file, or it cannot be created or written in.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"the {what} {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise InputError(f"cannot write into the {what} {path}: {e.strerror or e}") from None
    return path


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


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` says the disk or the quota is full (also a writer's short write, as tifffile's)."""
    import errno
    import re

    if isinstance(e, DiskFullError):
        return False  # already said
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    return isinstance(e, OSError) and re.search(r"\d+ requested and \d+ written", str(e)) is not None


def _new_name(parent: Path, name: str, suffix: str) -> Path:
    """A fresh hidden name ``.NAME.XXXXXXXX<suffix>`` in ``parent`` (not created)."""
    import secrets

    return parent / f".{name}.{secrets.token_hex(4)}{suffix}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any error (a full disk included) the temporary file is removed and
    ``path`` keeps its previous content.  The temporary file is created with
    mode 0o666 less the umask, as :func:`open` would (no process-wide umask change).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _new_name(path.parent, path.name, ".tmp" + path.suffix)
        _TEMPS.add(tmp)  # before it exists: an interrupt from here on removes it
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            _TEMPS.discard(tmp)
            continue
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(e):
            raise DiskFullError(f"no space left on the disk to write {path}") from None
        raise
    finally:
        _TEMPS.discard(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` on success."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, tiled: bool = False) -> Path:
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
            tiling = tiled and image.ndim >= 2 and min(image.shape[:2]) >= 256
            kwargs: dict[str, Any] = {"tile": (256, 256)} if tiling else {}
            photometric = "rgb" if image.ndim == 3 and image.shape[-1] in (3, 4) else "minisblack"
            tifffile.imwrite(f, image, photometric=photometric, **kwargs)
    else:
        import imageio.v3 as iio

        data = to_uint8(image)
        with atomic_write(path) as f:
            f.write(iio.imwrite("<bytes>", data, extension=suffix or ".png"))
    return path


#: temporary files and folders being written by this process (removed on an interrupt)
_TEMPS: set[Path] = set()


def remove_temporaries() -> None:
    """Remove the temporary files and folders this process is still writing (after an interrupt)."""
    for p in list(_TEMPS):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        _TEMPS.discard(p)


#: suffixes of the hidden siblings :func:`atomic_dir` makes (``.NAME.XXXXXXXX.tmp`` and ``.old``)
LEFTOVER_SUFFIXES = (".tmp", ".old")


def is_leftover(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a temporary sibling of an :func:`atomic_dir` save (``.NAME.XXXX.tmp/.old``)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(LEFTOVER_SUFFIXES) and name.count(".") >= 3


def clean_leftovers(
    folder: str | os.PathLike[str], *, name: str | None = None, age: float = 0.0
) -> list[Path]:
    """Remove stale temporary folders of killed saves (``.NAME.XXXX.tmp``/``.old``) in ``folder``.

    Only folders whose save lock (``.NAME.lock``) nobody holds are removed, so a save under
    way in another process keeps its temporary folder.

    Parameters
    ----------
    folder : path
    name : str, optional
        Only the leftovers of saves into ``folder / name``.
    age : float
        Only leftovers not modified for this many seconds.

    Returns
    -------
    list of Path
        The folders removed.
    """
    import time

    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        if not is_leftover(p) or not p.is_dir() or p in _TEMPS:
            continue
        target = p.name[1:].rsplit(".", 2)[0]
        if name is not None and target != name:
            continue
        try:
            if age and now - p.stat().st_mtime < age:
                continue
            with dir_lock(folder / target, blocking=False):
                if p.name.endswith(".old") and not (folder / target).exists():
                    os.replace(p, folder / target)  # killed between the two renames: the old model back
                else:
                    shutil.rmtree(p, ignore_errors=True)
        except (ModelFolderError, OSError):
            continue
        removed.append(p)
    return removed


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def dir_lock(path: str | os.PathLike[str], *, blocking: bool = False) -> Iterator[None]:
    """Hold the save lock of the folder ``path`` (a file lock ``.NAME.lock`` beside it).

    Reentrant in one thread; another process or thread that saves into the same folder
    fails at once with :class:`ModelFolderError` (or waits, with ``blocking``).
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(_lock_path(path).absolute(), is_singleton=True)
    try:
        lock.acquire(timeout=-1 if blocking else 0)
    except Timeout:
        raise ModelFolderError(
            f"another save into {path} is under way; try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _refuse_existing(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFolderError(f"{path} exists; refusing to replace it")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, check: Callable[[Path], Any] | None = None) -> Iterator[Path]:
    """Build a folder in a temporary sibling and move it onto ``path`` on success.

    Yields the temporary folder to write into.  If the block raises (a full
    disk, a crash in serialisation), the temporary folder is removed and an
    existing ``path`` is left untouched.  On success an existing ``path`` is
    replaced as a whole.

    The save holds ``path``'s lock (:func:`dir_lock`) throughout: a concurrent save into the
    same folder fails with one line.  ``check(path)``, called under the lock before anything
    is written, says whether an existing ``path`` may be replaced (it raises to refuse); the
    default refuses any existing file or non-empty folder.  Stale temporary folders of killed
    saves into ``path`` are removed first.
    """
    path = Path(path)
    with dir_lock(path):
        (check or _refuse_existing)(path)
        if path.exists() and not path.is_dir():
            raise ModelFolderError(f"{path} exists and is not a folder")
        clean_leftovers(path.parent, name=path.name)
        while True:
            tmp = _new_name(path.parent, path.name, ".tmp")
            _TEMPS.add(tmp)
            try:
                os.mkdir(tmp, 0o777)  # the umask applies, as for any new folder
                break
            except FileExistsError:
                _TEMPS.discard(tmp)
                continue
        try:
            yield tmp
            for f in tmp.rglob("*"):
                if f.is_file():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
            if path.exists():
                old = _new_name(path.parent, path.name, ".old")
                _TEMPS.add(old)
                os.replace(path, old)
                try:
                    os.replace(tmp, path)
                except BaseException:
                    os.replace(old, path)
                    raise
                shutil.rmtree(old, ignore_errors=True)
                _TEMPS.discard(old)
            else:
                os.replace(tmp, path)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if is_disk_full(e):
                raise DiskFullError(f"no space left on the disk to save {path}") from None
            raise
        finally:
            _TEMPS.discard(tmp)
