import errno
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_colorize import io
from napari_colorize.errors import InputError, ModelFolderError


def test_read_png_jpeg_tiff_8_and_16_bit(tmp_path):
    rng = np.random.default_rng(0)
    img8 = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    img16 = rng.integers(0, 65535, (20, 30), dtype=np.uint16)
    iio.imwrite(tmp_path / "a.png", img8)
    iio.imwrite(tmp_path / "a.jpg", img8)
    tifffile.imwrite(tmp_path / "b.tif", img16)
    tifffile.imwrite(
        tmp_path / "stack.tif", np.stack([img16, img16 // 2, img16 // 3]), photometric="minisblack"
    )
    np.testing.assert_array_equal(io.read_image(tmp_path / "a.png"), img8)
    assert io.read_image(tmp_path / "a.jpg").shape == (20, 30, 3)
    b = io.read_image(tmp_path / "b.tif")
    assert b.dtype == np.uint16
    np.testing.assert_array_equal(b, img16)
    assert io.read_image(tmp_path / "stack.tif").shape == (3, 20, 30)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_corrupt_or_empty_file_gives_clear_error(tmp_path, content):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(InputError, match="bad.png"):
        io.read_image(p)


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        io.read_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="no images"):
        io.list_images(tmp_path)


def test_write_image_round_trip(tmp_path):
    rgb = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    io.write_image(tmp_path / "x.png", rgb)
    back = io.read_image(tmp_path / "x.png")
    assert back.dtype == np.uint8
    np.testing.assert_allclose(back / 255, rgb, atol=1 / 255)
    io.write_image(tmp_path / "x.tif", rgb)
    np.testing.assert_array_equal(io.read_image(tmp_path / "x.tif"), rgb)


def test_full_disk_during_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.tif"
    io.write_image(target, np.zeros((8, 8), np.float32))
    before = target.read_bytes()

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="no space left on the disk to write"):
        io.write_image(target, np.ones((8, 8), np.float32))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]  # no temp file left


def test_atomic_dir_replaces_whole_and_survives_failure(tmp_path):
    d = tmp_path / "model"
    with io.atomic_dir(d) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with io.atomic_dir(d, check=lambda p: None) as tmp:
            (tmp / "a.txt").write_text("2")
            raise RuntimeError("crash mid-save")
    assert (d / "a.txt").read_text() == "1"
    # replacing needs a check that says yes
    with pytest.raises(ModelFolderError, match="refusing to replace"):
        with io.atomic_dir(d) as tmp:
            (tmp / "b.txt").write_text("3")
    with io.atomic_dir(d, check=lambda p: None) as tmp:
        (tmp / "b.txt").write_text("3")
    assert sorted(p.name for p in d.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFolderError):
        with io.atomic_dir(tmp_path / "file"):
            pass


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        io.write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
        with io.atomic_dir(tmp_path / "m") as tmp:
            (tmp / "w.txt").write_text("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "m" / "w.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_writes_never_change_the_process_umask(tmp_path, monkeypatch):
    """Another thread must never see umask 0 (files of mode 0666); the modes come from the umask."""
    mask = os.umask(0o027)
    try:

        def no_umask(*a):
            raise AssertionError("the process umask was changed")

        monkeypatch.setattr(os, "umask", no_umask)
        io.write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
        io.write_image(tmp_path / "a.tif", np.zeros((4, 4), np.uint16))
        with io.atomic_dir(tmp_path / "m") as tmp:
            (tmp / "w.txt").write_text("x")
        monkeypatch.undo()
    finally:
        os.umask(mask)
    for name in ("a.png", "a.tif", "m/w.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o750


def test_jsonable_gives_strict_json():
    import json

    from napari_colorize.io import jsonable

    obj = {
        "a": np.float32(1.5),
        2: [np.arange(3), (np.int64(4), float("nan"))],
        "p": Path("x/y"),
        "h": {"loss": [1.0, float("inf")]},
    }
    out = json.loads(json.dumps(jsonable(obj), allow_nan=False))
    assert out == {"a": 1.5, "2": [[0, 1, 2], [4, None]], "p": str(Path("x/y")), "h": {"loss": [1.0, None]}}
