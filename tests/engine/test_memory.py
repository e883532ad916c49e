"""The C allocator's settings for long tiled runs (napari_colorize.memory)."""

import subprocess
import sys
import textwrap

import pytest

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver())


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    e = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=e
    )


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_freed_tile_sized_arrays_go_back_to_the_system():
    """After a tile-sized array is freed, glibc keeps arrays of that size in its heap; tuned,
    a run of such allocations freed leaves the resident size where it started."""
    code = """
        import gc, numpy as np
        from napari_colorize.memory import tune_allocator
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096
        if TUNE:
            assert tune_allocator()
        a = np.ones(8 << 20, np.uint8); del a  # raises glibc's dynamic mmap threshold past 8 MB
        keep = []
        before = rss()
        for i in range(64):  # 64 arrays of 4 MB in the heap, every other one kept
            b = np.ones(4 << 20, np.uint8)
            if i % 2:
                keep.append(b)
        keep.clear(); gc.collect()
        print((rss() - before) / 2**20)
    """
    tuned = _run(code.replace("TUNE", "True")).stdout.strip()
    untuned = _run(code.replace("TUNE", "False")).stdout.strip()
    assert float(tuned) < 16, tuned  # all 128 MB freed went back
    assert float(untuned) > 32, untuned  # glibc's defaults keep them (the creep this prevents)


def test_a_users_environment_setting_is_left_alone():
    r = _run(
        "from napari_colorize.memory import tune_allocator; print(tune_allocator())",
        {"MALLOC_ARENA_MAX": "4"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
