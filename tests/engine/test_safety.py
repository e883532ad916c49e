"""Nothing lost, no one in: model saves, leftovers, bounded inputs, one-line errors (issue 19)."""

import json
import multiprocessing as mp
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

import napari_colorize as nc
from napari_colorize import io
from napari_colorize.catalogue import check_model_out, list_models
from napari_colorize.cli import main
from napari_colorize.errors import ModelFolderError

_PROBE = (
    "import sys; from napari_colorize.cli import main; rc = main(sys.argv[1:]); "
    "print(rc, 'tensorflow' in sys.modules)"
)


def _probe(argv, **env):
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **env}
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120, env=env
    )
    return r


def _message(err):
    """The one message line of stderr, after any progress bar (which redraws with carriage returns)."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    messages = [line for line in lines if line.startswith("napari-colorize")]
    assert len(messages) == 1 and "Traceback" not in err and "Exception ignored" not in err, err
    assert lines[-1] == messages[0], err
    return messages[0]


def _tree(path):
    return sorted(
        (str(p.relative_to(path)), p.read_bytes() if p.is_file() else None) for p in path.rglob("*")
    )


@pytest.fixture
def ref_png(tmp_path, coffee):
    p = tmp_path / "ref" / "coffee.png"
    p.parent.mkdir()
    iio.imwrite(p, (coffee * 255).astype(np.uint8))
    return p


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    d = tmp_path / "home" / "models"
    monkeypatch.setenv("NAPARI_COLORIZE_MODELS", str(d))
    nc.make_model("propagate").save(d / "mine")
    return d


# -- 1. a model save never deletes what is not a model ---------------------------------------


def test_train_out_refuses_a_folder_that_is_not_a_model_before_tensorflow(tmp_path, ref_png):
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.txt").write_text("x")
    before = _tree(precious)
    r = _probe(["train", "--method", "lookup", "--images", str(ref_png), "--out", str(precious)])
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "not a napari-colorize model folder" in r.stderr
    assert _tree(precious) == before
    # --overwrite does not make a folder of other files replaceable
    argv = ["train", "--method", "lookup", "--images", str(ref_png), "--out", str(precious), "--overwrite"]
    r = _probe(argv)
    assert r.stdout.split() == ["2", "False"] and _tree(precious) == before


def test_train_out_refuses_the_models_folder_and_its_parents(tmp_path, ref_png, models_dir, capsys):
    before = _tree(tmp_path / "home")
    for out in (models_dir, models_dir.parent, tmp_path):
        for extra in ([], ["--overwrite"]):
            argv = ["train", "--method", "lookup", "--images", str(ref_png), "--out", str(out), *extra]
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and "models folder" in err, err
    assert _tree(tmp_path / "home") == before
    assert (models_dir / "mine" / "config.json").is_file()


def test_api_train_and_save_refuse_what_is_not_a_model(tmp_path, ref_png, models_dir):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("x")
    with pytest.raises(ModelFolderError, match="not a napari-colorize model folder"):
        nc.train("lookup", ref_png, out=precious, overwrite=True)
    with pytest.raises(ModelFolderError, match="models folder"):
        nc.train("lookup", ref_png, out=models_dir.parent)
    m = nc.make_model("propagate")
    with pytest.raises(ModelFolderError, match="not a napari-colorize model folder"):
        m.save(precious, overwrite=True)
    with pytest.raises(ModelFolderError, match="models folder"):
        m.save(models_dir, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "x" and sorted(os.listdir(precious)) == ["thesis.txt"]
    assert (models_dir / "mine" / "config.json").is_file()


def test_overwriting_a_model_needs_overwrite_and_resume_keeps_working(tmp_path, ref_png, capsys):
    out = tmp_path / "model"
    argv = ["train", "--method", "lookup", "--images", str(ref_png), "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    before = _tree(out)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "already holds a model" in err and "--overwrite" in err
    assert _tree(out) == before
    assert main(argv + ["--overwrite"]) == 0
    assert main(argv + ["--resume"]) == 0  # --resume writes into --out by design
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model", "ref"]  # no temp left
    # the API: overwrite=False by default
    with pytest.raises(ModelFolderError, match="already holds a model"):
        nc.train("lookup", ref_png, out=out)
    nc.train("lookup", ref_png, out=out, overwrite=True)
    # an empty folder is fine (nothing to lose)
    (tmp_path / "empty").mkdir()
    nc.make_model("propagate").save(tmp_path / "empty")
    assert check_model_out(tmp_path / "new") == tmp_path / "new"


def _hold_lock(path, ready, release):
    with io.dir_lock(path):
        ready.set()
        release.wait(60)


def test_a_concurrent_save_into_one_folder_fails_with_one_line(tmp_path, ref_png, capsys):
    out = tmp_path / "m"
    nc.make_model("propagate", sigma=2.0).save(out)
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(out), ready, release))
    p.start()
    try:
        assert ready.wait(60)
        with pytest.raises(ModelFolderError, match="another save into .* is under way"):
            nc.make_model("propagate", sigma=9.0).save(out, overwrite=True)
        argv = ["train", "--method", "lookup", "--images", str(ref_png), "--out", str(out), "--overwrite"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "under way" in err
    finally:
        release.set()
        p.join(30)
    assert json.loads((out / "config.json").read_text())["config"]["sigma"] == 2.0
    nc.make_model("propagate", sigma=9.0).save(out, overwrite=True)
    assert json.loads((out / "config.json").read_text())["config"]["sigma"] == 9.0


def _save_many(path, n, seed):
    import napari_colorize as nc
    from napari_colorize.errors import ModelFolderError

    ok = refused = 0
    for i in range(n):
        try:
            nc.make_model("propagate", sigma=float(seed * 100 + i + 1)).save(path, overwrite=True)
            ok += 1
        except ModelFolderError as e:
            assert "under way" in str(e)
            refused += 1
    return ok, refused


def test_many_concurrent_saves_leave_one_complete_model_and_no_stray_folders(tmp_path):
    out = tmp_path / "m"
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        res = pool.starmap(_save_many, [(str(out), 40, s) for s in range(3)])
    assert sum(ok for ok, _ in res) >= 1 and sum(ok + r for ok, r in res) == 120
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]
    assert nc.load_model(out).config.sigma > 0


# -- 5. no leftovers --------------------------------------------------------------------------


def test_stale_temporary_folders_are_never_listed_and_are_cleaned(tmp_path, models_dir):
    # what a save killed with -9 leaves: a temporary folder, with or without its config.json
    stale = models_dir / ".ae.36wctzbr.tmp"
    nc.make_model("propagate").save(tmp_path / "x")
    (tmp_path / "x").rename(stale)
    (models_dir / ".mine.0a1b2c3d.tmp").mkdir()
    names = list(list_models())
    assert not any(n.startswith(".") for n in names) and "mine" in names
    assert sorted(p.name for p in models_dir.iterdir() if not p.name.endswith(".lock")) == ["mine"]
    # and at the next save into a folder
    (models_dir / ".mine.0a1b2c3d.tmp").mkdir()
    nc.make_model("propagate").save(models_dir / "mine", overwrite=True)
    assert sorted(p.name for p in models_dir.iterdir() if not p.name.endswith(".lock")) == ["mine"]


def test_a_save_killed_between_its_two_renames_gets_the_old_model_back(tmp_path):
    nc.make_model("propagate", sigma=3.0).save(tmp_path / "m")
    (tmp_path / "m").rename(tmp_path / ".m.1234abcd.old")  # the moment between the renames
    io.clean_leftovers(tmp_path)
    assert nc.load_model(tmp_path / "m").config.sigma == 3.0


# -- 4. bounded inputs ------------------------------------------------------------------------


def _disc_brute(shape, y, x, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - y) ** 2 + (xx - x) ** 2 <= radius**2 + 1e-9


@pytest.mark.parametrize("radius", [0, 1, 2.5, 7, 40, 115])
def test_hint_discs_are_painted_inside_the_image_whatever_their_radius(radius):
    from napari_colorize.hints import Hints

    shape = (64, 96)
    for y, x in [(0, 0), (10, 90), (63, 95), (32, 48)]:
        h = Hints.from_points([(y, x, (255, 0, 0), radius)], shape)
        np.testing.assert_array_equal(h.mask > 0, _disc_brute(shape, y, x, radius))


def test_a_huge_hint_radius_is_one_line_quickly(tmp_path, capsys):
    from napari_colorize.hints import Hints

    shape = (256, 256)
    for radius in (5000, 1e6):
        with pytest.raises(nc.InputError, match="hint radius"):
            Hints.from_points([(10, 10, (255, 0, 0), radius)], shape)
    # the largest radius allowed (the diagonal) covers the image and costs one image, not radius²
    h = Hints.from_points([(0, 0, (255, 0, 0), 362)], shape)
    assert h.mask.all()
    gray = tmp_path / "g.png"
    iio.imwrite(gray, np.zeros(shape, np.uint8))
    csv = tmp_path / "h.csv"
    csv.write_text("y,x,r,g,b,radius\n10,10,255,0,0,1000000\n")
    argv = [
        "colorize",
        str(gray),
        "--model",
        "propagate",
        "--hints",
        str(csv),
        "--out-dir",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "hint radius" in err and "larger than the image" in err


@pytest.fixture(scope="module")
def lookup_dir(tmp_path_factory, coffee):
    d = tmp_path_factory.mktemp("lookup") / "model"
    nc.train("lookup", coffee).save(d)
    return d


def _gray_stack(coffee, n, h, w):
    g = (coffee.mean(-1) * 255).astype(np.uint8)
    return np.stack([np.roll(g, 7 * i, axis=1)[:h, :w] for i in range(n)])


def test_a_big_stack_is_read_lazily_plane_by_plane_and_equals_the_in_memory_result(
    tmp_path, coffee, lookup_dir, monkeypatch
):
    import tifffile

    from napari_colorize import pipeline

    stack = _gray_stack(coffee, 6, 128, 160)
    tifffile.imwrite(tmp_path / "s.tif", stack, compression="zlib")
    ref = pipeline.colorize_file(tmp_path / "s.tif", lookup_dir, tmp_path / "mem", big_pixels=10**9)

    def whole_file(*a, **k):
        raise AssertionError("the whole stack was read into memory")

    monkeypatch.setattr(pipeline, "read_image", whole_file)
    # each plane (20,480 px) is below the threshold, the stack (122,880 px) above it
    out = pipeline.colorize_file(tmp_path / "s.tif", lookup_dir, tmp_path / "lazy", big_pixels=50_000)
    a, b = tifffile.imread(ref[0]), tifffile.imread(out[0])
    assert b.shape == (6, 128, 160, 3) and tifffile.TiffFile(out[0]).pages[0].is_tiled
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("big_pixels", [10**9, 30_000])
def test_every_series_of_a_multi_series_tiff_is_colorized(tmp_path, coffee, lookup_dir, big_pixels):
    import tifffile

    from napari_colorize.pipeline import colorize_file

    a, b = _gray_stack(coffee, 1, 100, 150)[0], _gray_stack(coffee, 3, 120, 90)
    tifffile.imwrite(tmp_path / "m.tif", a)
    tifffile.imwrite(tmp_path / "m.tif", b, append=True, photometric="minisblack")
    assert len(tifffile.TiffFile(tmp_path / "m.tif").series) == 2
    out = colorize_file(tmp_path / "m.tif", lookup_dir, tmp_path / "o", big_pixels=big_pixels)
    assert [p.name for p in out] == ["m_series0_rgb.tif", "m_series1_rgb.tif"]
    assert tifffile.imread(out[0]).shape == (100, 150, 3)
    assert tifffile.imread(out[1]).shape == (3, 120, 90, 3)
    # each equals the colorization of that image alone
    tifffile.imwrite(tmp_path / "b.tif", b, photometric="minisblack")
    alone = colorize_file(tmp_path / "b.tif", lookup_dir, tmp_path / "alone")
    np.testing.assert_array_equal(tifffile.imread(alone[0]), tifffile.imread(out[1]))


def test_a_truncated_big_tiff_is_one_line(tmp_path, coffee, lookup_dir, monkeypatch, capsys):
    import tifffile

    from napari_colorize import pipeline

    gray = _gray_stack(coffee, 1, 200, 300)[0]
    tifffile.imwrite(tmp_path / "t.tif", gray, compression="zlib", tile=(64, 64))
    data = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(pipeline, "BIG_PIXELS", 10_000)
    argv = ["colorize", str(tmp_path / "t.tif"), "--model", str(lookup_dir), "--out-dir", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "damaged or truncated" in err, err
    assert not any((tmp_path / "o").glob("*"))  # no output, no temporary file


_BIG_RUN = """
import sys, faulthandler
faulthandler.dump_traceback_later(40, exit=True)
from napari_colorize import pipeline, tiff_stream
from napari_colorize.cli import main
import time
pipeline.BIG_PIXELS = 10_000
put = tiff_stream._put
tiff_stream._put = lambda *a: (time.sleep(0.2), put(*a))[1]  # a write long enough on any machine
sys.exit(main(sys.argv[1:]))
"""


_STOPPED_RUN = """
import sys, threading, time
import dask.threaded
from napari_colorize import pipeline, tiff_stream
from napari_colorize.cli import main
pipeline.BIG_PIXELS = 10_000
put = tiff_stream._put
bands = []
def put_then_stop(*a):
    bands.append(1)
    if len(bands) == 1:
        raise KeyboardInterrupt  # as Ctrl-C would, once dask's pool has computed a band
    return put(*a)
tiff_stream._put = put_then_stop
rc = main(sys.argv[1:])
def left():
    return [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
deadline = time.monotonic() + 20
while left() and time.monotonic() < deadline:
    time.sleep(0.05)
print(rc, dask.threaded.default_pool is None, left())
"""


def test_a_stop_ends_dask_s_threads(tmp_path, coffee, lookup_dir):
    """After a stop by a signal, no thread of dask's pool is left to hold the process at exit.

    (A signal arriving while dask's default pool starts a thread leaves that thread unregistered,
    and the interpreter would wait for it forever: a hang after ``stopped by SIGHUP``.  The stop
    shuts the pool down, which wakes all its threads, such an orphan too.)"""
    import tifffile

    gray = np.tile((coffee.mean(-1) * 255).astype(np.uint8), (8, 6))  # 1600 x 1800, lazy path
    tifffile.imwrite(tmp_path / "big.tif", gray)
    out = tmp_path / "o"
    argv = ["colorize", str(tmp_path / "big.tif"), "--model", str(lookup_dir), "--out-dir", str(out)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-c", _STOPPED_RUN, *argv]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "130 True []", p.stdout + p.stderr
    assert not any(out.glob("*"))  # and nothing half-written is left


@pytest.mark.parametrize("sig,delay", [("SIGTERM", 0.15), ("SIGHUP", 0.0), ("SIGINT", 0.3)])
def test_a_signal_during_a_big_tiff_write_leaves_no_temporary_file(tmp_path, coffee, lookup_dir, sig, delay):
    import signal
    import time

    import tifffile

    gray = np.tile((coffee.mean(-1) * 255).astype(np.uint8), (8, 6))  # 1600 x 1800, lazy path
    tifffile.imwrite(tmp_path / "big.tif", gray)
    out = tmp_path / "o"
    argv = ["colorize", str(tmp_path / "big.tif"), "--model", str(lookup_dir), "--out-dir", str(out)]
    argv += ["--save-lab"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    p = subprocess.Popen([sys.executable, "-c", _BIG_RUN, *argv], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not list(out.glob(".*.tmp*")) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)  # at the start of the write, or in its middle
    assert p.poll() is None, "the run ended before the signal"
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + getattr(signal, sig), err
    last = err.strip().splitlines()[-1]  # after the progress bar
    assert last == f"napari-colorize colorize: {'interrupted' if sig == 'SIGINT' else 'stopped by ' + sig}", (
        err
    )
    assert "Exception ignored" not in err and "Traceback" not in err
    assert not list(out.glob(".*")), list(out.iterdir())  # no temporary file left
    assert not list(out.glob("big_rgb.tif"))


def test_an_interrupt_swallowed_by_a_finalizer_still_exits_130_quietly(monkeypatch, capsys):
    import signal

    from napari_colorize import cli

    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while a finalizer runs (TensorFlow's, say)

    def command(args):
        Finalized()
        return 0

    monkeypatch.setitem(cli.COMMANDS, "methods", command)
    # start from Python's own handler, as a fresh process does (an earlier test in a long run
    # may leave SIGINT ignored), and put back whatever was there
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert cli.main(["methods"]) == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, before)
    err = capsys.readouterr().err
    assert err.strip() == "napari-colorize methods: interrupted"


def test_a_full_disk_is_one_line_on_every_writer(tmp_path, coffee, lookup_dir, monkeypatch, capsys):
    import errno

    import tifffile

    gray = tmp_path / "g.tif"
    tifffile.imwrite(gray, (coffee.mean(-1) * 255).astype(np.uint8))
    real = tifffile.imwrite

    def short_write(f, data, *a, **k):
        if "_L.tif" in str(getattr(f, "name", f)):  # numpy's words when the disk fills under ndarray.tofile
            f.write(b"x" * 10164)
            raise OSError("65536 requested and 10164 written")
        return real(f, data, *a, **k)

    monkeypatch.setattr(tifffile, "imwrite", short_write)
    argv = ["colorize", str(gray), "--model", str(lookup_dir), "--out-dir", str(tmp_path / "o"), "--save-lab"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert _message(err).endswith("no space left on the disk to write " + str(tmp_path / "o" / "g_L.tif"))
    assert "g_L.tif" in err and not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")]
    monkeypatch.undo()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    png = tmp_path / "g.png"
    iio.imwrite(png, (coffee.mean(-1) * 255).astype(np.uint8))
    argv = ["colorize", str(png), "--model", str(lookup_dir), "--out-dir", str(tmp_path / "p")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no space left on the disk to write" in _message(err)
    with pytest.raises(nc.ColorizeError, match="no space left on the disk to save"):
        nc.make_model("propagate").save(tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")] in ([], [".m.lock"])


def test_the_scratch_folder_of_a_dead_owner_is_removed_at_the_next_worker_start(tmp_path, monkeypatch):
    import tempfile

    from napari_colorize.client import Worker

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f"napari-colorize-{dead_pid}-abc123"  # what a process killed with -9 leaves
    (left / "req1-x").mkdir(parents=True)
    (left / "req1-x" / "L.npy").write_bytes(b"x")
    alive = tmp_path / f"napari-colorize-{os.getppid()}-def456"  # another running process's
    alive.mkdir()
    other = tmp_path / "napari-colorize-model-xyz"  # not a worker's scratch folder
    other.mkdir()
    w = Worker(role="interactive")
    scratch = w.scratch_dir()
    assert scratch.name.startswith(f"napari-colorize-{os.getpid()}-")
    assert not left.exists() and alive.exists() and other.exists()
    w.shutdown()
    assert not scratch.exists()


# -- 6, 7. outputs never collide; check before computing; a bad file does not stop the batch --


@pytest.mark.parametrize(
    "names", [("s1/img.png", "s2/img.png"), ("x.png", "x.jpg"), ("a/y.tif", "y.png --save-lab")]
)
def test_colliding_output_names_refuse_before_any_work(tmp_path, names):
    flags = []
    paths = []
    for n in names:
        n, *extra = n.split()
        flags += extra
        p = tmp_path / "in" / n
        p.parent.mkdir(parents=True, exist_ok=True)
        io.write_image(p, np.full((16, 16), 100, np.uint8))
        paths.append(p)
    r = _probe(
        ["colorize", str(tmp_path / "in"), "--model", "default", "--out-dir", str(tmp_path / "o"), *flags]
    )
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    msg = _message(r.stderr)
    assert all(str(p) in msg for p in paths) and "would both be written to" in msg
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_an_unwritable_output_folder_is_found_before_the_model_loads(tmp_path, ref_png):
    (tmp_path / "file").write_text("x")
    for out, msg in (
        (tmp_path / "file", "exists and is not a folder"),
        (tmp_path / "file" / "sub", "cannot write"),
    ):
        r = _probe(["colorize", str(ref_png), "--model", "default", "--out-dir", str(out)])
        assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
        assert msg in _message(r.stderr)


def test_train_out_under_a_file_is_one_line_before_tensorflow(tmp_path, ref_png):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "model"
    r = _probe(["train", "--method", "lookup", "--images", str(ref_png), "--out", str(out)])
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    assert "exists and is not a folder" in _message(r.stderr)


def test_a_wrong_method_for_init_or_resume_is_found_before_tensorflow(tmp_path, ref_png):
    lookup = tmp_path / "lk"
    assert main(["train", "--method", "lookup", "--images", str(ref_png), "--out", str(lookup)]) == 0
    for argv in (
        [
            "train",
            "--method",
            "window",
            "--images",
            str(ref_png),
            "--out",
            str(tmp_path / "w"),
            "--init",
            str(lookup),
        ],
        ["train", "--method", "window", "--images", str(ref_png), "--out", str(lookup), "--resume"],
    ):
        r = _probe(argv)
        assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
        assert "holds a 'lookup' model, not 'window'" in _message(r.stderr)


def test_a_folder_with_bad_files_colorizes_the_good_ones_and_exits_non_zero(tmp_path, lookup_dir, capsys):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a.png", "c.png"):
        iio.imwrite(d / name, np.full((32, 32), 120, np.uint8))
    (d / "b.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n not really")
    (d / "d.jpg").write_bytes(b"")
    assert main(["colorize", str(d), "--model", str(lookup_dir), "--out-dir", str(tmp_path / "o")]) == 2
    out, err = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a_rgb.png", "c_rgb.png"]
    assert out.split() == [str(tmp_path / "o" / "a_rgb.png"), str(tmp_path / "o" / "c_rgb.png")]
    lines = [line for line in err.replace("\\r", "\\n").splitlines() if line.startswith("napari-colorize")]
    assert len(lines) == 3 and "b.png" in lines[0] and "d.jpg" in lines[1] and "2 of 4 files" in lines[2], err
    assert "Traceback" not in err


# -- 8. one line, always ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field,value,msg",
    [
        ("format", "2", "'format' must be a whole number"),
        ("format", 99, "newer than this"),
        ("config", [1, 2], "'config' must be an object"),
        ("method", ["x"], "'method' must be a method name"),
        ("method", "nope", "unknown method 'nope'"),
        ("version", None, "'version' must be a version string"),
        ("info", [1], "'info' must be an object"),
        ("trained", "yes", "'trained' must be true or false"),
        ("config", {"sigma": "big"}, "invalid config"),
    ],
)
def test_every_malformed_config_json_field_is_one_line_before_tensorflow(
    tmp_path, ref_png, field, value, msg
):
    folder = tmp_path / "m"
    nc.make_model("propagate").save(folder)
    info = json.loads((folder / "config.json").read_text())
    info[field] = value
    (folder / "config.json").write_text(json.dumps(info))
    r = _probe(["colorize", str(ref_png), "--model", str(folder), "--out-dir", str(tmp_path / "o")])
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    assert msg in _message(r.stderr)
    with pytest.raises(ModelFolderError, match=msg.split("'")[0] or msg):
        nc.load_model(folder)


# -- 9. the implicit default model ------------------------------------------------------------


# the command line prints propagate's near-gray warning (no hints): shown as outside the tests
def test_a_default_folder_in_the_current_directory_never_shadows_the_built_in(
    tmp_path, ref_png, monkeypatch, capsys
):
    from napari_colorize.catalogue import builtin_models, default_model_path

    if "default" not in builtin_models():
        pytest.skip("the built-in default model is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NAPARI_COLORIZE_MODELS", str(tmp_path / "no-user-models"))
    nc.make_model("propagate").save(tmp_path / "default")  # a stranger's ./default
    assert default_model_path() == builtin_models()["default"]
    from napari_colorize.cli.checks import _check_model_spec

    assert _check_model_spec(None) == str(builtin_models()["default"].resolve())
    assert _check_model_spec("./default") == "./default"  # named explicitly, it is used
    gray = tmp_path / "g.png"
    iio.imwrite(gray, np.full((32, 32), 120, np.uint8))
    # the explicit ./default (propagate without hints: gray) works; the implicit one is the built-in
    assert main(["colorize", str(gray), "--model", "./default", "--out-dir", "explicit"]) == 0
    rgb = iio.imread(tmp_path / "explicit" / "g_rgb.png")
    assert np.ptp(rgb.astype(int), axis=-1).max() <= 1
