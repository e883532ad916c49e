import importlib.util
import os

import imageio.v3 as iio
import numpy as np
import pytest

import napari_colorize as nc
from napari_colorize.cli import main
from napari_colorize.distributed import colorize_files_distributed
from napari_colorize.errors import ConfigError

#: --workers' local cluster speaks TLS with temporary credentials: it needs cryptography (a dependency)
needs_tls = pytest.mark.skipif(
    importlib.util.find_spec("cryptography") is None,
    reason="cryptography (a dependency of napari-colorize) is not installed: pip install -e .",
)


@pytest.mark.slow
@needs_tls
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
        main(["colorize", str(img), "--model", "default", "--out-dir", str(tmp_path / "o"), "--workers", "0"])
        == 2
    )
    assert "workers must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o" / "g_rgb.png").exists()


@pytest.fixture(scope="module")
def process_cluster():
    """A dask cluster of two worker processes, one thread each, as a cluster user has."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.slow
@pytest.mark.parametrize("global_anchor", [False, True])
def test_dask_array_on_a_process_cluster_equals_the_numpy_path(
    tmp_path, coffee, process_cluster, monkeypatch, global_anchor
):
    import dask.array as da

    from napari_colorize import engine
    from napari_colorize.color import L2gray, rgb2L

    monkeypatch.setattr(engine.lazy, "DASK_CHUNK", 64)  # several output chunks on a small image
    model = nc.train("lookup", coffee[:, :150])
    model.save(tmp_path / "model")
    gray = (L2gray(rgb2L(coffee)) * 255 + 0.5).astype(np.uint8)
    opts = dict(tile=64, overlap=16, global_anchor=global_anchor)
    ref = nc.colorize(gray, tmp_path / "model", **opts)
    res = nc.colorize(da.from_array(gray, chunks=(100, 150)), tmp_path / "model", **opts)
    assert res.ab.numblocks[:2] != (1, 1)
    # the graph holds no model and no lock: it pickles small
    import cloudpickle

    graph = dict(res.ab.__dask_graph__())
    assert any("_remote_chunk" in str(k) for k in graph)
    assert len(cloudpickle.dumps(graph)) < 2_000_000
    ab, rgb = process_cluster.compute([res.ab, res.rgb], sync=True)
    # the workers loaded the model themselves, once each (one folder, one modification time)
    folder = str((tmp_path / "model").resolve())
    cached = process_cluster.run(lambda: [k for k in engine.models._MODEL_CACHE if k[0] == folder])
    assert any(cached.values()) and all(len(v) <= 1 for v in cached.values())
    np.testing.assert_allclose(ab, ref.ab, atol=1e-4)
    np.testing.assert_allclose(rgb, ref.rgb, atol=1e-4)
    # an unsaved model is saved to a temporary folder for the workers
    unsaved = nc.load_model(tmp_path / "model")
    res2 = nc.colorize(da.from_array(gray, chunks=(100, 150)), unsaved, **opts)
    np.testing.assert_allclose(process_cluster.compute(res2.ab, sync=True), ref.ab, atol=1e-4)


def test_workers_load_a_model_once_and_again_after_it_is_saved_again(tmp_path, coffee):
    from napari_colorize import engine

    model = nc.train("lookup", coffee)
    model.save(tmp_path / "model")
    ref = engine.ModelRef.of(tmp_path / "model")
    a = engine.cached_model(ref)
    assert engine.cached_model(engine.ModelRef.of(tmp_path / "model")) is a
    os.utime(tmp_path / "model" / "config.json", (1, 1))
    b = engine.cached_model(engine.ModelRef.of(tmp_path / "model"))
    assert b is not a
    assert engine.model_ref(b).folder == str((tmp_path / "model").resolve())


def test_a_model_without_a_folder_or_save_is_a_clear_error():
    from napari_colorize import engine

    class Bare:
        def predict_ab(self, L):
            return np.zeros(L.shape + (2,), np.float32)

    assert isinstance(Bare(), engine.Predictor)
    with pytest.raises(ConfigError, match="no model folder"):
        engine.model_ref(Bare())


def _listening_ports(pid):
    import psutil

    return {
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


@needs_tls
def test_the_local_cluster_of_workers_is_closed_to_other_users():
    """--workers' cluster: TLS with this run's credentials only, and nothing else listening."""
    from distributed import Client

    from napari_colorize.distributed import start_local_cluster

    before = _listening_ports(os.getpid())
    cluster, client = start_local_cluster(1, threads=1)
    try:
        addr = cluster.scheduler_address
        assert addr.startswith("tls://127.0.0.1:")
        assert client.submit(lambda x: x + 1, 1).result() == 2  # the owner's client works
        # a client without the credentials (another local user) is refused, over TLS or plain TCP
        for a in (addr, "tcp://" + addr.split("://")[1]):
            with pytest.raises(Exception):  # noqa: B017 - refused is what matters, in whatever words
                Client(a, timeout=5)
        # no dashboard (8787) or other HTTP server: only the comm ports of the scheduler, workers, nannies
        info = client.scheduler_info()
        comm = {int(addr.rsplit(":", 1)[1])}
        for a, w in info["workers"].items():
            comm |= {int(a.rsplit(":", 1)[1]), int(w["nanny"].rsplit(":", 1)[1])}
        listening = _listening_ports(os.getpid()) - before
        for pid in client.run(os.getpid).values():
            listening |= _listening_ports(pid)
        assert 8787 not in listening and listening <= comm, (listening, comm)
    finally:
        client.close()
        cluster.close()


@needs_tls
def test_workers_on_a_big_tiff_equal_the_serial_result(tmp_path, coffee):
    """The lazy big-TIFF path inside a worker computes there, not through the worker's client."""
    import tifffile

    from napari_colorize.pipeline import colorize_file

    model = nc.train("lookup", coffee)
    model.save(tmp_path / "model")
    gray = (np.tile(coffee.mean(-1), (2, 2)) * 255).astype(np.uint8)  # 400 x 600
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "big.tif", gray)
    big = dict(big_pixels=100_000)  # the lazy path of planes of 4096² and more, on a small file
    serial = colorize_file(tmp_path / "in" / "big.tif", tmp_path / "model", tmp_path / "serial", **big)
    dist = colorize_files_distributed(
        [tmp_path / "in" / "big.tif"], tmp_path / "model", tmp_path / "dist", workers=1, threads=1, **big
    )
    a, b = tifffile.imread(serial[0]), tifffile.imread(dist[0][0])
    assert a.shape == (400, 600, 3) and tifffile.TiffFile(dist[0][0]).pages[0].is_tiled
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@needs_tls
def test_cli_workers_on_a_4096_square_tiff_equal_serial(tmp_path, coffee, capsys):
    """A real big TIFF (a 4096² plane, the lazy path) through --workers and serially: the same file."""
    import tifffile

    nc.train("lookup", coffee).save(tmp_path / "model")
    gray = (np.tile(coffee.mean(-1), (21, 14))[:4096, :4096] * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", gray, compression="zlib", tile=(512, 512))
    base = ["colorize", str(tmp_path / "big.tif"), "--model", str(tmp_path / "model")]
    assert main([*base, "--out-dir", str(tmp_path / "serial")]) == 0
    assert main([*base, "--out-dir", str(tmp_path / "dist"), "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    a = tifffile.imread(tmp_path / "serial" / "big_rgb.tif")
    b = tifffile.imread(tmp_path / "dist" / "big_rgb.tif")
    assert a.shape == (4096, 4096, 3)
    np.testing.assert_array_equal(a, b)


def test_workers_without_cryptography_is_one_line(tmp_path, monkeypatch, capsys):
    from distributed.security import Security

    def missing():
        raise ImportError("No module named 'cryptography'")

    monkeypatch.setattr(Security, "temporary", staticmethod(missing))
    img = tmp_path / "g.png"
    iio.imwrite(img, np.zeros((8, 8), np.uint8))
    argv = ["colorize", str(img), "--model", "propagate", "--out-dir", str(tmp_path / "o"), "--workers", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "needs the 'cryptography' package" in err
