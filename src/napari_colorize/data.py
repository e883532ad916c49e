"""Training data: color images -> (L, ab) samples.

:func:`as_sources` normalises what a user passes (paths, folders, arrays);
:func:`iter_rgb` yields float32 RGB images one at a time (a folder of 10,000
images is never loaded at once); :func:`make_dataset` streams random
(L, ab) crops with flips, an optional resize, a shuffle buffer and a
validation split by image, as numpy batches that ``keras.Model.fit`` takes on
every Keras backend.

Pure numpy: nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .color import rgb2lab, to_float01
from .errors import InputError
from .io import list_images, read_image

__all__ = [
    "Source",
    "as_sources",
    "load_rgb",
    "iter_rgb",
    "iter_lab",
    "split_sources",
    "make_dataset",
    "Batches",
    "shuffle_batch",
    "cycle",
]


@dataclass(frozen=True)
class Source:
    """One training image: a file path or an in-memory array, with an optional crop box.

    ``box`` is ``(y0, x0, y1, x1)`` in pixels (the lookup project's
    ``crop_to_bounding_box``), or None for the whole image.
    """

    path: Path | None = None
    array: np.ndarray | None = None
    box: tuple[int, int, int, int] | None = None

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"array{tuple(self.array.shape) if self.array is not None else ()}"


def _check_box(box: Sequence[int]) -> tuple[int, int, int, int]:
    """``box`` as ``(y0, x0, y1, x1)`` of ints, else an InputError."""
    try:
        y0, x0, y1, x1 = (int(v) for v in box)
    except (TypeError, ValueError):
        raise InputError(f"a crop box is (y0, x0, y1, x1) in pixels, got {box!r}") from None
    return y0, x0, y1, x1


def as_sources(data: Any, *, box: Sequence[int] | None = None) -> list[Source]:
    """Normalise training data into a list of :class:`Source`.

    Parameters
    ----------
    data : str, Path, ndarray, Source, or a list of them
        Files, folders (searched recursively), RGB arrays (H, W, 3|4), or a
        stack of RGB arrays (N, H, W, 3).
    box : (y0, x0, y1, x1), optional
        Crop applied to every source that has no box of its own.
    """
    if isinstance(data, (str, os.PathLike, np.ndarray, Source)):
        data = [data]
    if data is None:
        raise InputError("no training images given")
    out: list[Source] = []
    b = _check_box(box) if box is not None else None
    for item in data:
        if isinstance(item, Source):
            out.append(item if item.box is not None or b is None else Source(item.path, item.array, b))
        elif isinstance(item, np.ndarray) or hasattr(item, "__array__"):
            arr = np.asarray(item)
            if arr.ndim == 4 and arr.shape[-1] in (3, 4):
                out.extend(Source(array=a, box=b) for a in arr)
            elif arr.ndim == 3 and arr.shape[-1] in (3, 4):
                out.append(Source(array=arr, box=b))
            else:
                raise InputError(f"training images must be color (H, W, 3) arrays, got shape {arr.shape}")
        else:
            out.extend(Source(path=p, box=b) for p in list_images(item))
    if not out:
        raise InputError("no training images given")
    return out


def load_rgb(source: Source) -> np.ndarray:
    """Read a source as float32 RGB (H, W, 3) in 0..1, cropped to its box."""
    arr = read_image(source.path) if source.path is not None else np.asarray(source.array)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise InputError(f"{source.describe()}: training images must be color, got shape {arr.shape}")
    if arr.ndim == 4:  # multi-page color TIFF: first page
        arr = arr[0]
    rgb = to_float01(arr[..., :3])
    if source.box is not None:
        y0, x0, y1, x1 = source.box
        y0, x0 = max(0, y0), max(0, x0)
        y1, x1 = min(rgb.shape[0], y1), min(rgb.shape[1], x1)
        if y1 <= y0 or x1 <= x0:
            raise InputError(
                f"{source.describe()}: crop box {source.box} is empty for an image of shape {rgb.shape[:2]}"
            )
        rgb = rgb[y0:y1, x0:x1]
    return rgb


def iter_rgb(sources: Sequence[Source]) -> Iterator[np.ndarray]:
    """Yield each source as float32 RGB, one image in memory at a time."""
    for s in sources:
        yield load_rgb(s)


def iter_lab(sources: Sequence[Source]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (L (H, W), ab (H, W, 2)) float32 per source."""
    for rgb in iter_rgb(sources):
        lab = rgb2lab(rgb)
        yield lab[..., 0], lab[..., 1:]


def split_sources(
    sources: Sequence[Source], val_split: float, *, seed: int = 0
) -> tuple[list[Source], list[Source]]:
    """Split sources into training and validation sets by image.

    With a single image and ``val_split > 0``, the same image serves both
    (validation then uses different random crops); with several images at
    least one is held out.
    """
    sources = list(sources)
    if val_split <= 0 or len(sources) < 2:
        return sources, (sources if val_split > 0 else [])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))
    n_val = min(len(sources) - 1, max(1, int(round(val_split * len(sources)))))
    val = [sources[i] for i in order[:n_val]]
    train = [sources[i] for i in order[n_val:]]
    return train, val


def _random_crops(
    sources: Sequence[Source],
    *,
    crop_size: int,
    crops_per_image: int,
    resize: int | None,
    flip: bool,
    seed: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless-free generator of (L (c, c, 1), ab (c, c, 2)) float32 crops.

    Images are visited in random order, one at a time; ``crops_per_image``
    crops are cut from each.  Images smaller than the crop are padded by
    reflection.  With ``resize``, each crop is resized to ``resize`` px.
    """
    from skimage.transform import resize as sk_resize

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))
    for i in order:
        rgb = load_rgb(sources[i])
        h, w = rgb.shape[:2]
        if h < crop_size or w < crop_size:
            py, px = max(0, crop_size - h), max(0, crop_size - w)
            rgb = np.pad(
                rgb,
                ((py // 2, py - py // 2), (px // 2, px - px // 2), (0, 0)),
                mode="reflect" if min(h, w) > 1 else "edge",
            )
            h, w = rgb.shape[:2]
        lab = rgb2lab(rgb)
        for _ in range(crops_per_image):
            y = int(rng.integers(0, h - crop_size + 1))
            x = int(rng.integers(0, w - crop_size + 1))
            c = lab[y : y + crop_size, x : x + crop_size]
            if flip and rng.random() < 0.5:
                c = c[:, ::-1]
            if resize is not None and resize != crop_size:
                c = sk_resize(c, (resize, resize), order=1, anti_aliasing=True, preserve_range=True).astype(
                    np.float32
                )
            yield np.ascontiguousarray(c[..., :1]), np.ascontiguousarray(c[..., 1:])


def shuffle_batch(
    samples: Iterable[tuple[np.ndarray, ...]], *, batch_size: int, buffer: int, seed: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """Shuffle a stream of samples through a buffer of ``buffer`` and stack them into batches.

    As ``tf.data``'s ``shuffle(buffer).batch(batch_size)``: each sample leaves
    the buffer at a random position; the last batch may be smaller.
    """
    rng = np.random.default_rng(seed)
    pool: list[tuple[np.ndarray, ...]] = []
    batch: list[tuple[np.ndarray, ...]] = []

    def emit(item: tuple[np.ndarray, ...]) -> Iterator[tuple[np.ndarray, ...]]:
        batch.append(item)
        if len(batch) == batch_size:
            yield tuple(np.stack(parts) for parts in zip(*batch))
            batch.clear()

    for item in samples:
        pool.append(item)
        if len(pool) >= buffer:
            j = int(rng.integers(len(pool)))
            pool[j], pool[-1] = pool[-1], pool[j]
            yield from emit(pool.pop())
    for j in rng.permutation(len(pool)):
        yield from emit(pool[j])
    if batch:
        yield tuple(np.stack(parts) for parts in zip(*batch))


def cycle(batches: Sequence[Any]) -> Iterator[Any]:
    """Repeat a list of batches forever (a fixed validation set, as a generator Keras takes)."""
    while True:
        yield from batches


@dataclass(frozen=True)
class Batches:
    """A stream of (L (B, s, s, 1), ab (B, s, s, 2)) float32 batches of random crops.

    Iterating gives one pass over the images (``crops_per_image`` crops each,
    new crops per pass), or an endless stream with ``repeat``.
    ``iter(batches)`` is a generator, which ``keras.Model.fit`` takes on every backend.
    """

    sources: tuple[Source, ...]
    crop_size: int
    batch_size: int
    crops_per_image: int
    resize: int | None
    flip: bool
    seed: int
    repeat: bool

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        def crops() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for epoch in itertools.count(1):
                yield from _random_crops(
                    self.sources,
                    crop_size=self.crop_size,
                    crops_per_image=self.crops_per_image,
                    resize=self.resize,
                    flip=self.flip,
                    seed=self.seed + 1000 * epoch,
                )
                if not self.repeat:
                    return

        buffer = max(self.batch_size * 4, self.crops_per_image * 2)
        yield from shuffle_batch(crops(), batch_size=self.batch_size, buffer=buffer, seed=self.seed)  # type: ignore[misc]

    def take(self, n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The first ``n`` batches."""
        return itertools.islice(iter(self), n)


def make_dataset(
    data: Any,
    *,
    crop_size: int,
    batch_size: int,
    val_split: float = 0.0,
    crops_per_image: int = 8,
    resize: int | None = None,
    flip: bool = True,
    seed: int = 0,
    repeat: bool = False,
) -> tuple[Batches, Batches | None]:
    """Streams of (L, ab) crop batches for training and validation.

    Parameters
    ----------
    data
        Anything :func:`as_sources` accepts.
    crop_size : int
        Side of the random crops cut at the image's own resolution.
    batch_size : int
    val_split : float
        Fraction of images held out for validation (see :func:`split_sources`).
    crops_per_image : int
        Crops cut from each image per pass (an epoch).
    resize : int, optional
        Resize each crop to this side (a method's fixed input size).
    flip : bool
        Random horizontal flips (training set only).
    seed : int
        Crops differ per pass: the seed advances each pass.
    repeat : bool
        Repeat forever (use with ``steps_per_epoch``).

    Returns
    -------
    train, val : Batches
        Elements are ``(L, ab)`` numpy arrays with shapes (B, s, s, 1) and
        (B, s, s, 2), float32, L in 0..100 and ab in Lab units (not
        normalised).  ``val`` is None when ``val_split`` is 0.
    """
    sources = as_sources(data)
    train_src, val_src = split_sources(sources, val_split, seed=seed)
    common = dict(
        crop_size=crop_size,
        batch_size=batch_size,
        crops_per_image=crops_per_image,
        resize=resize,
        repeat=repeat,
    )
    train = Batches(tuple(train_src), flip=flip, seed=seed, **common)  # type: ignore[arg-type]
    val = Batches(tuple(val_src), flip=False, seed=seed + 7, **common) if val_src else None  # type: ignore[arg-type]
    return train, val
