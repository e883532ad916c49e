"""The engine process: client, server and protocol, without napari."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from napari_colorize.client import Worker, WorkerCrashed, get_worker, shutdown_workers
from napari_colorize.errors import Cancelled, InputError, ModelFolderError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worker_hooks import hook_env  # noqa: E402 - test-only server commands, found through the path above


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, timeout: float = 10.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def worker():
    w = Worker(stop_grace=5.0, env=hook_env())
    yield w
    w.shutdown()


@pytest.fixture(scope="module")
def coffee():
    from skimage import data

    return data.coffee()


@pytest.fixture(scope="module")
def lookup_folder(worker, coffee, tmp_path_factory):
    out = tmp_path_factory.mktemp("wk") / "lookup"
    events = []
    res = worker.train("lookup", [coffee], out=out, progress=events.append)
    assert res["path"] == str(out) and (out / "config.json").is_file()
    assert res["model"]["method"] == "lookup" and res["history"]["loss"]
    assert any(ev.get("stage") == "epoch" for ev in events)
    return out


def test_colorize_matches_in_process(worker, coffee, lookup_folder):
    from napari_colorize import api
    from napari_colorize.color import rgb2L

    gray = rgb2L(coffee)  # float L; colorize takes uint8 gray, so use the uint8 image below
    gray8 = (np.clip(gray / 100, 0, 1) * 255).astype(np.uint8)
    events = []
    res = worker.colorize(
        gray8, lookup_folder, tile=160, overlap=16, blend="gaussian", progress=events.append
    )
    ref = api.colorize(gray8, str(lookup_folder), tile=160, overlap=16, blend="gaussian")
    assert res["L"].dtype == res["ab"].dtype == res["rgb"].dtype == np.float32
    assert res["ab"].shape == coffee.shape[:2] + (2,) and res["rgb"].shape == coffee.shape
    np.testing.assert_allclose(res["ab"], ref.ab, atol=1e-4)
    np.testing.assert_allclose(res["L"], ref.L, atol=1e-5)
    from napari_colorize.tiling import TilePlan

    assert TilePlan.from_dict(res["plan"]) == ref.plan
    # progress counts the tiles and ends complete
    tiles = [ev for ev in events if ev.get("stage") == "tiles"]
    assert tiles and tiles[-1]["done"] == tiles[-1]["total"]
    assert [ev["done"] for ev in tiles] == sorted(ev["done"] for ev in tiles)


def test_dask_stack_goes_plane_by_plane(worker, coffee, lookup_folder):
    import dask.array as da

    gray = coffee.mean(-1).astype(np.uint8)[:128, :160]
    stack = np.stack([gray, gray[::-1], np.roll(gray, 30, axis=1)])
    lazy = da.from_array(stack, chunks=(1, 128, 160))
    planes = []
    res = worker.colorize(lazy, lookup_folder, tile=64, overlap=8, progress=planes.append)
    ref = worker.colorize(stack, lookup_folder, tile=64, overlap=8)
    assert isinstance(res["rgb"], np.memmap)  # written plane by plane to disk, not held in RAM
    np.testing.assert_allclose(np.asarray(res["ab"]), ref["ab"], atol=1e-5)
    assert {ev["plane"] for ev in planes if "plane" in ev} == {0, 1, 2}


def test_errors_come_back_typed_and_worker_survives(worker, coffee, lookup_folder, tmp_path):
    pid = worker.request("ping")["pid"]
    with pytest.raises(ModelFolderError):
        worker.colorize(coffee[..., 0], tmp_path)  # no config.json
    with pytest.raises(InputError):
        worker.colorize(np.zeros((0, 4), np.uint8), lookup_folder)
    with pytest.raises(InputError, match="unknown colorize option"):
        worker.colorize(coffee[..., 0], lookup_folder, tiles=3)
    with pytest.raises(InputError, match="unknown worker command"):
        worker.request("nonsense")
    from napari_colorize.errors import ConfigError

    with pytest.raises(ConfigError, match="block size|overlap"):
        worker.colorize(coffee[..., 0], lookup_folder, tile=16, overlap=16)
    assert worker.request("ping")["pid"] == pid


def test_cooperative_stop(worker):
    pid = worker.request("ping")["pid"]
    t0 = time.monotonic()
    n = 0

    def progress(ev):
        nonlocal n
        n += 1

    with pytest.raises(Cancelled):
        worker.request("_sleep", seconds=30, progress=progress, should_stop=lambda: n >= 2)
    assert time.monotonic() - t0 < 5
    assert worker.request("ping")["pid"] == pid  # the same process, still warm


def test_a_stop_flag_is_never_too_early_for_the_request(worker):
    """A flag set before a request, or from another thread while it runs, stops it (the live
    hints' cancel machinery sets it whenever a newer hint arrives)."""

    def drain(gen):
        try:
            while True:
                next(gen)
        except StopIteration as s:
            return s.value

    pid = worker.request("ping")["pid"]
    flag = threading.Event()
    flag.set()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        drain(worker.iter_request("_sleep", seconds=30, should_stop=flag.is_set))
    assert time.monotonic() - t0 < 3
    flag.clear()
    threading.Timer(0.5, flag.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        drain(worker.iter_request("_sleep", seconds=30, should_stop=flag.is_set))
    assert time.monotonic() - t0 < 5
    assert worker.request("ping")["pid"] == pid  # stopped cooperatively: the same process


def test_stop_terminates_after_grace():
    w = Worker(stop_grace=1.0, env=hook_env())
    try:
        pid = w.request("ping")["pid"]
        t0 = time.monotonic()
        with pytest.raises(Cancelled, match="terminated"):
            w.request("_sleep", seconds=60, cooperative=False, should_stop=lambda: True)
        assert time.monotonic() - t0 < 8
        assert _wait_dead(pid)
        assert w.request("ping")["pid"] != pid
        assert w.starts == 2
    finally:
        w.shutdown()


def test_crash_is_reported_and_next_request_restarts(worker):
    pid = worker.request("ping")["pid"]
    with pytest.raises(WorkerCrashed, match="died"):
        worker.request("_crash", code=1)
    assert not worker.alive
    new = worker.request("ping")["pid"]
    assert new != pid
    # killed from outside (as by the OOM killer) in the middle of a request
    threading.Timer(0.5, lambda: os.kill(new, signal.SIGKILL)).start()
    with pytest.raises(WorkerCrashed):
        worker.request("_sleep", seconds=20)
    assert worker.request("ping")["pid"] not in (pid, new)


def test_unguarded_script_finishes_promptly(tmp_path):
    """A user's plain script (no __main__ guard) uses the worker and exits at once."""
    script = tmp_path / "plain_script.py"
    script.write_text(
        textwrap.dedent(
            """
        import numpy as np
        from skimage import data
        from napari_colorize.client import get_worker

        w = get_worker()
        img = data.coffee()[:128, :128]
        w.train("lookup", [img], out=r"{0}")
        res = w.colorize(img.mean(-1).astype(np.uint8), r"{0}", tile=64, overlap=8)
        print("PID", w.pid, "SHAPE", res["rgb"].shape, flush=True)
        """.format(tmp_path / "m")
        )
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = proc.stdout.split()
    assert words[words.index("SHAPE") + 1 :] == ["(128,", "128,", "3)"]
    # the script ran once (spawn would have re-run it in the child and printed twice)
    assert proc.stdout.count("PID") == 1
    child = int(words[words.index("PID") + 1])
    assert _wait_dead(child, 5.0), "the worker outlived the script"
    assert elapsed < 60


def test_worker_exits_when_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
        import time
        from napari_colorize.client import get_worker
        w = get_worker()
        w.request("ping")
        print(w.pid, flush=True)
        time.sleep(120)
        """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert _alive(child)
        proc.kill()
        proc.wait(10)
        assert _wait_dead(child, 10.0), "an orphaned worker kept running"
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_train_keras_method_stops_cooperatively(worker, coffee, tmp_path):
    """Stop during Keras training: the model stops after a batch and is still saved."""
    from napari_colorize.methods import available_methods, get_config_class

    method = next((m for m in ("autoencoder", "window") if m in available_methods()), None)
    if method is None:
        pytest.skip("no Keras method available")
    names = {f for f in get_config_class(method).__dataclass_fields__}
    cfg = {
        k: v
        for k, v in {
            "epochs": 100,
            "batch_size": 4,
            "crop_size": 32,
            "steps_per_epoch": 2,
            "crops_per_image": 8,
            "input_size": 32,
            "width": 8,
            "depth": 2,
        }.items()
        if k in names
    }
    epochs = []

    def progress(ev):
        if ev.get("stage") == "epoch":
            epochs.append(ev)

    res = worker.train(
        method,
        [coffee],
        out=tmp_path / "m",
        config=cfg,
        progress=progress,
        should_stop=lambda: len(epochs) >= 2,
    )
    assert worker.alive  # stopped cooperatively, not killed
    assert res["stopped"] is True
    assert 2 <= len(res["history"]["loss"]) < 100
    assert (tmp_path / "m" / "config.json").is_file()
    assert "loss" in epochs[0]["logs"]
    modules = worker.request("_modules")  # TensorFlow lives in the engine process
    assert any(m.split(".")[0] in ("tensorflow", "keras") for m in modules)


def test_test_hooks_stay_out_of_production_servers():
    w = Worker()
    try:
        with pytest.raises(InputError, match="unknown worker command"):
            w.request("_crash")
        assert w.alive
    finally:
        w.shutdown()


def test_training_and_interactive_workers_are_separate(monkeypatch, coffee, lookup_folder):
    """A long request in the train worker neither delays nor outlives a crash of the interactive one."""
    for k, v in hook_env().items():
        monkeypatch.setenv(k, v)
    shutdown_workers()
    train, inter = get_worker("train"), get_worker("interactive")
    try:
        assert train is not inter and get_worker("train") is train
        with pytest.raises(ValueError, match="role"):
            get_worker("gpu")
        out: dict = {}

        def long_request():
            try:
                out["res"] = train.request("_sleep", seconds=60)
            except Cancelled as e:
                out["cancelled"] = e

        t = threading.Thread(target=long_request)
        t.start()
        deadline = time.monotonic() + 60
        while not train.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        res = inter.colorize(coffee[..., 0], lookup_folder)
        assert res["rgb"].shape == coffee.shape
        assert train.busy and time.monotonic() - t0 < 30  # answered while the training runs
        train_pid = train.pid
        with pytest.raises(WorkerCrashed):
            inter.request("_crash")
        assert train.alive and train.busy and train.pid == train_pid
        train.stop()
        t.join(30)
        assert not t.is_alive() and "cancelled" in out  # stopped, not finished
        assert train.request("ping")["pid"] == train_pid  # stopped cooperatively, still warm
    finally:
        shutdown_workers()
    assert not train.alive and not inter.alive


# ---------------------------------------------------------------------------
# intensity options and hints through the protocol
# ---------------------------------------------------------------------------
def test_intensity_options_travel_and_limits_come_back(worker, coffee, lookup_folder):
    import dask.array as da

    from napari_colorize import api
    from napari_colorize.errors import ConfigError

    gray8 = coffee.mean(-1).astype(np.uint8)[:96, :128]
    gray12 = (gray8.astype(np.uint32) * 4095 // 255).astype(np.uint16)
    ref8 = worker.colorize(gray8, lookup_folder, tile=None)
    assert ref8["limits"] == [0.0, 255.0]
    res = worker.colorize(gray12, lookup_folder, tile=None, limits=(0, 4095))
    assert res["limits"] == [0.0, 4095.0]
    assert np.abs(res["rgb"] - ref8["rgb"]).max() < 0.02  # a 12-bit image like its 8-bit version
    auto = worker.colorize(gray12, lookup_folder, tile=None, normalize="auto", percentiles=(2, 98))
    ref = api.colorize(gray12, str(lookup_folder), tile=None, normalize="auto", percentiles=(2, 98))
    assert auto["limits"] == pytest.approx(list(ref.limits))
    np.testing.assert_allclose(auto["rgb"], ref.rgb, atol=1e-5)
    assert worker.colorize(gray12, lookup_folder, tile=None, normalize="dtype")["rgb"].mean() < 0.1
    # a stack sent plane by plane shares one pair of limits, as the whole stack does
    stack = np.stack([gray12, gray12 // 2, gray12 // 4])
    lazy = worker.colorize(da.from_array(stack, chunks=(1, 96, 128)), lookup_folder, tile=None)
    whole = worker.colorize(stack, lookup_folder, tile=None)
    assert lazy["limits"] == pytest.approx(whole["limits"])
    np.testing.assert_allclose(np.asarray(lazy["rgb"]), whole["rgb"], atol=1e-5)
    # bad options fail in the client, before anything is sent
    with pytest.raises(ConfigError, match="normalize"):
        worker.colorize(gray12, lookup_folder, normalize="minmax")
    with pytest.raises(ConfigError, match="percentiles"):
        worker.colorize(gray12, lookup_folder, percentiles=(99, 1))
    with pytest.raises(InputError, match="limits"):
        worker.colorize(gray12, lookup_folder, limits=(5, 5))


def test_hints_encoding_and_planes():
    from napari_colorize.protocol import encode_hints, hints_plane

    assert encode_hints(None) is None
    assert encode_hints(np.zeros((0, 6))) is None  # no points, no hints
    table = np.array([[0, 1, 2, 255, 0, 0, 1], [2, 3, 4, 0, 0, 255, 0]], float)
    enc = encode_hints(table)
    np.testing.assert_array_equal(enc["points"], table)
    np.testing.assert_array_equal(hints_plane(enc, 2)["points"], [[3, 4, 0, 0, 255, 0]])
    assert len(hints_plane(enc, 1)["points"]) == 0
    assert encode_hints("h.csv") == {"csv": "h.csv"}
    with pytest.raises(InputError, match="CSV"):
        hints_plane({"csv": "h.csv"}, 0)
    with pytest.raises(InputError, match="table of hint points"):
        encode_hints(np.zeros((3, 2)))

    class Dense:  # anything with ab and mask travels dense
        ab = np.zeros((2, 4, 5, 2), np.float32)
        mask = np.zeros((2, 4, 5), np.float32)

    enc = encode_hints(Dense())
    assert set(enc) == {"ab", "mask"}
    assert hints_plane(enc, 1)["ab"].shape == (4, 5, 2)


def _have_propagate() -> bool:
    try:
        import napari_colorize.hints  # noqa: F401 - only checks that hints exist
        from napari_colorize.catalogue import resolve_model_path

        resolve_model_path("propagate")
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _have_propagate(), reason="the propagate method is not available")
def test_colorize_with_hints_through_the_worker(worker):
    from napari_colorize import api
    from napari_colorize.hints import Hints

    gray = np.full((48, 64), 90, np.uint8)
    gray[:, 32:] = 170
    table = np.array([[20, 8, 255, 0, 0, 1], [20, 50, 0, 0, 255, 1]], float)
    res = worker.colorize(gray, "propagate", tile=None, hints=table)
    hints = Hints.from_points(table, gray.shape)
    ref = api.colorize(gray, "propagate", tile=None, hints=hints)
    np.testing.assert_allclose(res["ab"], ref.ab, atol=1e-3)
    assert res["ab"][:, :28, 0].mean() > 20 and res["ab"][:, 36:, 1].mean() < -20  # red | blue
    dense = worker.colorize(gray, "propagate", tile=None, hints=hints)
    np.testing.assert_allclose(dense["ab"], res["ab"], atol=1e-4)
    # a stack sent plane by plane: each plane gets its own hints
    import dask.array as da

    stack = np.stack([gray, gray])
    table3 = np.array([[0, 20, 8, 255, 0, 0, 1], [1, 20, 8, 0, 0, 255, 1]], float)
    lazy = worker.colorize(da.from_array(stack, chunks=(1, 48, 64)), "propagate", tile=None, hints=table3)
    ab = np.asarray(lazy["ab"])
    assert ab[0, 20, 8, 0] > 20 and ab[1, 20, 8, 1] < -20


def test_saturation_and_confidence_travel(worker, coffee, lookup_folder):
    from napari_colorize import api
    from napari_colorize.errors import ConfigError

    gray8 = (coffee.mean(-1) * 255).astype(np.uint8)
    plain = worker.colorize(gray8, lookup_folder, tile=None)
    assert "confidence" not in plain
    vivid = worker.colorize(gray8, lookup_folder, tile=None, saturation=1.5)
    ref = api.colorize(gray8, str(lookup_folder), tile=None, saturation=1.5)
    np.testing.assert_allclose(vivid["ab"], ref.ab, atol=1e-5)
    np.testing.assert_allclose(vivid["ab"], 1.5 * plain["ab"], rtol=1e-5, atol=1e-4)
    with pytest.raises(ConfigError, match="saturation"):
        worker.colorize(gray8, lookup_folder, saturation=-1)
    with pytest.raises(ConfigError, match="no confidence"):
        worker.colorize(gray8, lookup_folder, tile=None, confidence=True)
    assert worker.colorize(gray8, lookup_folder, tile=None)["rgb"].shape == gray8.shape + (3,)  # alive


@pytest.mark.skipif(
    "default" not in __import__("napari_colorize.catalogue").catalogue.builtin_models(),
    reason="the built-in default model is not here",
)
def test_confidence_of_the_default_through_the_worker(worker, coffee):
    import dask.array as da

    gray8 = (coffee[:96, :128].mean(-1) * 255).astype(np.uint8)
    res = worker.colorize(gray8, "default", tile=None, confidence=True)
    conf = np.asarray(res["confidence"])
    assert conf.shape == gray8.shape and conf.dtype == np.float32 and 0 <= conf.min() <= conf.max() <= 1
    lazy = worker.colorize(
        da.from_array(np.stack([gray8] * 2), chunks=(1, 96, 128)), "default", confidence=True
    )
    np.testing.assert_allclose(np.asarray(lazy["confidence"])[1], conf, atol=1e-4)
