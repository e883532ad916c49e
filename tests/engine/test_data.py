import imageio.v3 as iio
import numpy as np
import pytest

from napari_colorize import data
from napari_colorize.color import rgb2lab
from napari_colorize.errors import InputError


def test_as_sources_files_folders_arrays_and_box(tmp_path, coffee):
    for i in range(3):
        iio.imwrite(tmp_path / f"{i}.png", (coffee * 255).astype(np.uint8))
    src = data.as_sources([tmp_path, coffee, np.stack([coffee, coffee])], box=(0, 0, 50, 60))
    assert len(src) == 6
    assert all(s.box == (0, 0, 50, 60) for s in src)
    assert data.load_rgb(src[0]).shape == (50, 60, 3)
    with pytest.raises(InputError, match="color"):
        data.as_sources(np.zeros((10, 10)))
    with pytest.raises(InputError, match="empty"):
        data.load_rgb(data.Source(array=coffee, box=(10, 10, 10, 20)))


@pytest.mark.parametrize("box", [(0, 0, 10), (0, 0, 10, 10, 3), ("top", 0, 10, 10), 5])
def test_a_bad_crop_box_is_one_clear_line(coffee, box):
    with pytest.raises(InputError, match=r"a crop box is \(y0, x0, y1, x1\) in pixels"):
        data.as_sources(coffee, box=box)


def test_split_sources_holds_out_whole_images():
    src = data.as_sources([np.zeros((4, 4, 3))] * 10)
    train, val = data.split_sources(src, 0.2, seed=1)
    assert len(train) == 8 and len(val) == 2
    one_train, one_val = data.split_sources(src[:1], 0.1)
    assert one_train == one_val == src[:1]


def test_iter_rgb_streams_one_image_at_a_time(tmp_path, coffee, monkeypatch):
    for i in range(5):
        iio.imwrite(tmp_path / f"{i}.png", (coffee * 255).astype(np.uint8))
    loaded = []
    real = data.load_rgb
    monkeypatch.setattr(data, "load_rgb", lambda s: loaded.append(s) or real(s))
    it = data.iter_rgb(data.as_sources(tmp_path))
    next(it)
    assert len(loaded) == 1  # a generator: nothing read ahead


def test_make_dataset_yields_L_ab_crops_that_match_the_image(coffee):
    train, val = data.make_dataset(
        coffee, crop_size=32, batch_size=4, val_split=0.0, crops_per_image=8, flip=False
    )
    assert val is None
    batches = list(train)
    assert sum(b[0].shape[0] for b in batches) == 8
    L, ab = batches[0]
    assert L.shape[1:] == (32, 32, 1) and ab.shape[1:] == (32, 32, 2)
    lab = rgb2lab(coffee)
    # every crop is a real window of the image's Lab
    L0 = L[0, ..., 0]
    found = False
    for y in range(coffee.shape[0] - 31):
        row = lab[y : y + 32, :, 0]
        for x in range(coffee.shape[1] - 31):
            if abs(row[0, x] - L0[0, 0]) < 1e-4 and np.allclose(row[:, x : x + 32], L0, atol=1e-4):
                found = True
                np.testing.assert_allclose(lab[y : y + 32, x : x + 32, 1:], ab[0], atol=1e-4)
                break
        if found:
            break
    assert found


def test_make_dataset_resize_small_images_and_validation(coffee):
    small = coffee[:20, :20]
    train, val = data.make_dataset(
        [coffee, coffee, small],
        crop_size=48,
        batch_size=2,
        val_split=0.34,
        crops_per_image=2,
        resize=24,
        seed=3,
    )
    for L, ab in train.take(1):
        assert L.shape[1:] == (24, 24, 1) and ab.shape[1:] == (24, 24, 2)
        assert 0 <= float(L.min()) and float(L.max()) <= 100
    assert val is not None
    assert sum(1 for _ in val) >= 1
