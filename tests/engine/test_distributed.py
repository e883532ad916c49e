import os

import imageio.v3 as iio
import numpy as np
import pytest

import napari_colorize as nc
from napari_colorize.cli import main
from napari_colorize.distributed import colorize_files_distributed
from napari_colorize.errors import ConfigError


@pytest.mark.slow
def test_local_cluster_of_two_workers_matches_serial_and_loads_model_once_per_worker(
    tmp_path, coffee, chelsea
):
    model = nc.train("lookup", [coffee, chelsea])
    model.save(tmp_path / "model")
    files = []
    for i in range(6):
        img = (np.roll(coffee, 20 * i, axis=1).mean(-1) * 255).astype(np.uint8)
        p = tmp_path / "in" / f"img{i}.png"
        p.parent.mkdir(exist_ok=True)
        iio.imwrite(p, img)
        files.append(p)
    info = colorize_files_distributed(
        files, tmp_path / "model", tmp_path / "dist", workers=2, return_info=True
    )
    pids = {r["pid"] for r in info}
    assert 1 <= len(pids) <= 2
    assert all(r["loads"] == 1 for r in info)  # each worker loaded the model once
    # the cores are shared out between the workers instead of each one using them all
    assert {r["threads"] for r in info} == {str(max(1, (os.cpu_count() or 1) // 2))}
    assert (
        main(
            [
                "colorize",
                str(tmp_path / "in"),
                "--model",
                str(tmp_path / "model"),
                "--out-dir",
                str(tmp_path / "serial"),
            ]
        )
        == 0
    )
    for f in files:
        a = iio.imread(tmp_path / "dist" / f"{f.stem}_rgb.png")
        b = iio.imread(tmp_path / "serial" / f"{f.stem}_rgb.png")
        np.testing.assert_array_equal(a, b)


def test_bad_distributed_options(tmp_path):
    with pytest.raises(ConfigError):
        colorize_files_distributed([], "m", tmp_path)
    with pytest.raises(ConfigError):
        colorize_files_distributed([], "m", tmp_path, workers=0)
    with pytest.raises(ConfigError, match="threads"):
        colorize_files_distributed([], "m", tmp_path, workers=1, threads=0)


def test_cli_rejects_zero_workers_instead_of_running_serially(tmp_path, capsys):
    img = tmp_path / "g.png"
    iio.imwrite(img, np.zeros((8, 8), np.uint8))
    assert (
        main(["colorize", str(img), "--model", "window", "--out-dir", str(tmp_path / "o"), "--workers", "0"])
        == 2
    )
    assert "workers must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o" / "g_rgb.png").exists()
