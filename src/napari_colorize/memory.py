"""Process memory: the C allocator's settings for long tiled runs.

A whole slide is colorized tile by tile for an hour or more, by several threads, each tile
allocating and freeing arrays of a few MB.  glibc's allocator keeps freed memory for reuse: it
raises its mmap threshold to the size of the largest block freed (up to 32 MB), so tile-sized
arrays come from its heaps instead of fresh mappings, and it gives each thread its own heap (up
to eight per core).  Freed memory then stays in the process, scattered over the heaps, and the
resident size creeps up with the run (measured: ``propagate`` + 200 hints on a 10,000² slide
peaked at 1.79 GiB with glibc's defaults and 1.41 GiB with the settings below; see
``docs/performance.md``).

:func:`tune_allocator` fixes the mmap threshold at 1 MiB (a larger array is its own mapping,
returned to the system when freed) and caps the heaps at two.  The engine worker and the
command line call it when they start; a Python session using :func:`napari_colorize.colorize`
may call it too.  It does nothing where the C library is not glibc, and leaves alone a setting
the user chose with glibc's own environment variables (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_ARENA_MAX``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_allocator"]

#: glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_allocator(*, mmap_threshold: int = 1 << 20, arena_max: int = 2) -> bool:
    """Set glibc's mmap threshold and heap count for this process (see the module docs).

    Parameters
    ----------
    mmap_threshold : int
        Bytes from which an allocation is its own mapping, returned to the system when freed.
    arena_max : int
        Most heaps the threads share.

    Returns
    -------
    bool
        Whether every setting was applied (False where the C library is not glibc, or where an
        environment variable already chose it).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = True
    for env, param, value in (
        ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, mmap_threshold),
        ("MALLOC_ARENA_MAX", _M_ARENA_MAX, arena_max),
    ):
        if env in os.environ:
            ok = False
            continue
        ok = mallopt(param, int(value)) == 1 and ok
    return ok
