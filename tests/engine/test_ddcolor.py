"""The ``ddcolor`` method: the Keras port against the authors' PyTorch network, and the method's use."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from napari_colorize.errors import ConfigError, InputError
from napari_colorize.hints import Hints
from napari_colorize.methods import get_config_class, list_methods, load_model, make_model
from napari_colorize.methods.ddcolor import DDColorColorizer, DDColorConfig, gray_rgb, import_torch_weights


# -- the authors' network: the reference ------------------------------------------------
def _reference_module(torch):
    """The authors' ``ddcolor`` module from the ``spandrel-extra-arches`` wheel, loaded alone.

    Its folder is loaded as a package of its own, with spandrel's two helpers stubbed
    (``store_hyperparameters`` as a no-op, timm's ``DropPath`` (no drop path here) and
    ``trunc_normal_``), so that only torch is needed.
    """
    name = "_ddcolor_reference_arch"
    if name + ".ddcolor" in sys.modules:
        return sys.modules[name + ".ddcolor"]
    spec0 = importlib.util.find_spec("spandrel_extra_arches")
    if spec0 is None:
        pytest.skip("spandrel-extra-arches is not installed (the testing extra)")
    root = Path(list(spec0.submodule_search_locations)[0]) / "architectures" / "DDColor" / "__arch"
    stubs = {k: types.ModuleType(k) for k in ("spandrel", "spandrel.util", "spandrel.util.timm")}
    stubs["spandrel.util"].store_hyperparameters = lambda **kw: lambda cls: cls
    stubs["spandrel.util.timm"].DropPath = lambda p: torch.nn.Identity()
    stubs["spandrel.util.timm"].trunc_normal_ = lambda t, mean=0.0, std=1.0, a=-2.0, b=2.0: (
        torch.nn.init.trunc_normal_(t, mean=mean, std=std, a=a, b=b)
    )
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        spec = importlib.util.spec_from_file_location(
            name, root / "__init__.py", submodule_search_locations=[str(root)]
        )
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[name] = pkg
        spec.loader.exec_module(pkg)
        return importlib.import_module(name + ".ddcolor")
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _torch_ddcolor(torch, encoder: str = "tiny", size: int = 128, *, seed: int = 0, warmup: int = 5):
    """The authors' DDColor generator with random weights, in eval mode, as released (2 outputs,
    spectral last norm, 100 queries).

    A few forward passes in train mode first let the spectral norms' power iterations converge
    (random ``weight_u``/``weight_v`` make eval outputs explode) and give the BatchNorms running
    statistics of their own.
    """
    ref = _reference_module(torch)
    torch.manual_seed(seed)
    net = ref.DDColor(
        encoder_name={"tiny": "convnext-t", "large": "convnext-l"}[encoder],
        decoder_name="MultiScaleColorDecoder",
        input_size=(size, size),
        num_output_channels=2,
        last_norm="Spectral",
        num_queries=100,
        num_scales=3,
        dec_layers=9,
    )
    net.train()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _ in range(warmup):
            net(torch.rand(2, 3, size, size, generator=g))
    return net.eval()


def _state(net) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def _torch_ab(torch, net, rgb: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))))
    return y.numpy().transpose(0, 2, 3, 1)


def _gray_inputs(size: int, n: int = 2) -> np.ndarray:
    """Gray RGB the way the method makes it: a photo's L and a gradient, resized, lab2rgb(L, 0, 0)."""
    from skimage import data as skdata
    from skimage.transform import resize

    from napari_colorize.color import rgb2lab

    L = rgb2lab(resize(skdata.astronaut(), (size, size), anti_aliasing=True))[..., 0]
    grad = np.tile(np.linspace(5, 95, size, dtype=np.float32), (size, 1))
    return gray_rgb(np.stack([L, grad])[:n])


@pytest.fixture(scope="module")
def tiny128():
    torch = pytest.importorskip("torch")
    net = _torch_ddcolor(torch, "tiny", 128)
    model = import_torch_weights(_state(net), input_size=128)
    return torch, net, model


def _rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / (theirs.max() - theirs.min()))


def _check_equivalent(torch, net, model, size: int) -> None:
    x = _gray_inputs(size)
    theirs = _torch_ab(torch, net, x)
    ours = np.asarray(model.keras_model.predict(x, verbose=0))
    assert ours.shape == theirs.shape == (2, size, size, 2)
    # a real signal, not a constant: the two images get different ab
    assert np.abs(theirs[0] - theirs[1]).max() > 0.05 * (theirs.max() - theirs.min())
    assert _rel_err(ours, theirs) < 1e-3


# -- the import ---------------------------------------------------------------------------
def test_import_equals_the_authors_network_tiny_128(tiny128):
    torch, net, model = tiny128
    assert model.config.encoder == "tiny" and model.config.num_queries == 100 and model.trained
    _check_equivalent(torch, net, model, 128)


@pytest.mark.slow
def test_import_equals_the_authors_network_tiny_512():
    torch = pytest.importorskip("torch")
    net = _torch_ddcolor(torch, "tiny", 512, warmup=3)
    _check_equivalent(torch, net, import_torch_weights(_state(net)), 512)


@pytest.mark.slow
def test_import_equals_the_authors_network_large_128():
    torch = pytest.importorskip("torch")
    net = _torch_ddcolor(torch, "large", 128)
    model = import_torch_weights(_state(net), input_size=128)
    assert model.config.encoder == "large"
    _check_equivalent(torch, net, model, 128)


def test_spectral_norm_folds_as_pytorch_eval(tiny128):
    """``weight_orig / (u . W v)`` with the stored vectors is the weight PyTorch uses in eval mode."""
    from napari_colorize.methods.ddcolor.network import spectral_fold

    torch, net, _ = tiny128
    conv = net.refine_net[0][0]
    with torch.no_grad():
        net.eval()
        conv(torch.zeros(1, conv.in_channels, 1, 1))  # eval forward: no power iteration
    want = conv.weight.detach().numpy()
    got = spectral_fold(_state(net), "refine_net.0.0.")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_whole_pipeline_matches_the_authors_preprocessing(tiny128):
    """predict_ab: L resized to input_size, gray RGB, the network, ab resized back."""
    torch, net, model = tiny128
    L = np.tile(np.linspace(10, 90, 128, dtype=np.float32), (128, 1))
    theirs = _torch_ab(torch, net, gray_rgb(L)[None])[0]
    ours = model.predict_ab(L)
    assert ours.dtype == np.float32 and ours.shape == (128, 128, 2)
    assert _rel_err(ours, theirs) < 1e-3
    big = model.predict_ab(np.kron(L, np.ones((2, 3), np.float32)))  # 256 x 384: resized in and out
    assert big.shape == (256, 384, 2) and np.all(np.isfinite(big))


def test_import_file_and_command_line(tiny128, tmp_path):
    from napari_colorize.cli import main

    torch, net, model = tiny128
    pth = tmp_path / "ddcolor_tiny_random.pth"
    torch.save({"params": net.state_dict()}, pth)  # as BasicSR saves it
    out = tmp_path / "imported"
    assert main(["import-weights", "ddcolor", str(pth), "--out", str(out), "--config", "input_size=128"]) == 0
    info = json.loads((out / "config.json").read_text())
    assert info["method"] == "ddcolor" and info["config"]["input_size"] == 128
    assert info["info"]["imported_from"] == pth.name and len(info["info"]["sha256"]) == 64
    loaded = load_model(out)
    L = np.tile(np.linspace(10, 90, 96, dtype=np.float32), (80, 1))
    np.testing.assert_allclose(loaded.predict_ab(L), model.predict_ab(L), atol=1e-4)


def test_import_refuses_what_is_not_ddcolor(tiny128, tmp_path, capsys):
    from napari_colorize.cli import main

    torch, net, _ = tiny128
    state = _state(net)
    with pytest.raises(InputError, match="not a DDColor"):
        import_torch_weights({k: v for k, v in state.items() if not k.startswith("refine_net")})
    with pytest.raises(InputError, match="encoder='large' does not match"):
        import_torch_weights(state, encoder="large")
    bad = {k: v for k, v in state.items() if "transformer_ffn_layers.3.linear1" not in k}
    with pytest.raises(InputError, match="missing"):
        import_torch_weights(bad)
    argv = ["import-weights", "ddcolor", str(tmp_path / "none.pth"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--config", "input_size=100"]) == 2
    assert "input_size" in capsys.readouterr().err
    assert (
        main(
            [
                "import-weights",
                "eccv16",
                str(tmp_path / "none.pth"),
                "--out",
                str(tmp_path / "o2"),
                "--config",
                "input_size=128",
            ]
        )
        == 2
    )


# -- the method -----------------------------------------------------------------------------
def test_module_does_not_import_tensorflow():
    code = (
        "import sys; import napari_colorize.methods.ddcolor as m; m.DDColorConfig(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_registered_with_a_validated_config():
    assert "ddcolor" in list_methods()
    names = {f["name"] for f in list_methods()["ddcolor"]}
    assert {"encoder", "input_size", "num_queries", "saturation", "trainable_from"} <= names
    cls = get_config_class("ddcolor")
    cfg = cls(encoder="large", input_size=256, saturation=1.5, trainable_from="pixel_decoder")
    assert cls.from_json(cfg.to_json()) == cfg
    for bad in (
        {"encoder": "base"},
        {"input_size": 100},
        {"input_size": 0},
        {"num_queries": 0},
        {"saturation": -1.0},
        {"trainable_from": "head"},
        {"crop_size": 100},
        {"colorfulness_weight": float("nan")},
        {"unknown": 1},
    ):
        with pytest.raises(ConfigError):
            cls.from_dict(bad)


def test_saturation_stacks_and_hints(tiny128):
    _, _, model = tiny128
    L = np.tile(np.linspace(10, 90, 64, dtype=np.float32), (48, 1))
    ab = model.predict_ab(L)
    twice = DDColorColorizer(model.config.replace(saturation=2.0))
    twice._adopt_net(model)
    np.testing.assert_allclose(twice.predict_ab(L), 2 * ab, rtol=1e-5, atol=1e-5)
    stack = np.stack([L, L[::-1], L])
    abs_ = model.predict_ab_batch(stack)
    assert abs_.shape == (3, 48, 64, 2)
    np.testing.assert_allclose(abs_[0], ab, atol=1e-4)
    np.testing.assert_allclose(abs_[2], ab, atol=1e-4)
    # a hint through the fusion: its colour is honoured where it is given
    h_ab = np.zeros((48, 64, 2), np.float32)
    mask = np.zeros((48, 64), np.float32)
    h_ab[20:24, 30:34] = (40.0, -30.0)
    mask[20:24, 30:34] = 1
    hinted = model.predict_ab(L, hints=Hints(h_ab, mask))
    assert np.abs(hinted[21, 31] - (40.0, -30.0)).max() < 5.0
    assert np.abs(ab[21, 31] - (40.0, -30.0)).max() > 10.0


def test_engine_tiles_and_whole_image(tiny128):
    from napari_colorize.engine import colorize

    _, _, model = tiny128
    L = np.tile(np.linspace(10, 90, 160, dtype=np.float32), (96, 1))
    whole = colorize(L, model).ab
    np.testing.assert_allclose(whole, model.predict_ab(L), atol=1e-4)
    tiled = colorize(L, model, tile=64, global_anchor=True)
    assert tiled.ab.shape == (96, 160, 2) and tiled.plan is not None and np.all(np.isfinite(tiled.ab))


# the command line prints the near-gray warning of the tiny test network: shown as outside the tests
def test_colorize_on_the_command_line_with_an_imported_model(tiny128, tmp_path):
    from napari_colorize.cli import main

    _, _, model = tiny128
    folder = model.save(tmp_path / "ddc", optimizer=False)
    gray = np.tile(np.linspace(30, 220, 50, dtype=np.uint8), (40, 1))
    iio.imwrite(tmp_path / "gray.png", gray)
    (tmp_path / "hints.csv").write_text("y,x,r,g,b\n5,5,200,30,30\n20,40,30,30,200\n")
    assert (
        main(
            ["colorize", str(tmp_path / "gray.png"), "--model", str(folder), "--out-dir", str(tmp_path / "a")]
        )
        == 0
    )
    argv = ["colorize", str(tmp_path / "gray.png"), "--model", str(folder), "--out-dir", str(tmp_path / "b")]
    assert main([*argv, "--hints", str(tmp_path / "hints.csv")]) == 0
    (a,), (b,) = sorted((tmp_path / "a").iterdir()), sorted((tmp_path / "b").iterdir())
    rgb_a, rgb_b = iio.imread(a), iio.imread(b)
    assert rgb_a.shape == rgb_b.shape == (40, 50, 3)
    assert rgb_b[5, 5, 0] > rgb_b[5, 5, 2] + 40  # the red hint
    assert rgb_b[20, 40, 2] > rgb_b[20, 40, 0] + 40  # the blue hint


def test_fit_fine_tunes_above_a_frozen_encoder(tmp_path):
    import keras
    from skimage import data as skdata

    model = make_model(
        "ddcolor",
        DDColorConfig(
            num_queries=8,
            dec_layers=3,
            input_size=64,
            crop_size=64,
            batch_size=2,
            crops_per_image=1,
            steps_per_epoch=1,
            epochs=1,
            trainable_from="pixel_decoder",
            learning_rate=1e-3,
        ),
    )
    net = model.keras_model
    before = {w.path: keras.ops.convert_to_numpy(w) for w in net.weights}
    hist = model.fit([skdata.astronaut()[:128, :128], skdata.coffee()[:128, :128]])
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    after = {w.path: keras.ops.convert_to_numpy(w) for w in net.weights}
    enc = [p for p in before if p.startswith("encoder_")]
    dec = [p for p in before if p.startswith(("pixel_decoder_", "color_decoder", "refine_"))]
    assert enc and dec
    assert all(np.array_equal(before[p], after[p]) for p in enc)
    assert any(not np.array_equal(before[p], after[p]) for p in dec)
    saved = model.save(tmp_path / "tuned")
    L = np.full((64, 64), 50.0, np.float32)
    np.testing.assert_allclose(load_model(saved).predict_ab(L), model.predict_ab(L), atol=1e-5)


def test_the_worker_colorizes_with_a_ddcolor_folder(tmp_path):
    """The engine worker (its own process) loads a ddcolor folder and gives the in-process result."""
    from napari_colorize import api
    from napari_colorize.client import Worker

    folder = make_model("ddcolor", num_queries=8, dec_layers=3, input_size=64).save(tmp_path / "m")
    gray = np.tile(np.linspace(30, 220, 80, dtype=np.uint8), (48, 1))
    table = np.array([[20, 8, 255, 0, 0, 1]], float)
    w = Worker(stop_grace=5.0)
    try:
        res = w.colorize(gray, folder, tile=None, hints=table, saturation=1.5)
    finally:
        w.shutdown()
    ref = api.colorize(
        gray, str(folder), tile=None, hints=Hints.from_points(table, gray.shape), saturation=1.5
    )
    assert res["rgb"].shape == (48, 80, 3)
    np.testing.assert_allclose(res["ab"], ref.ab, atol=1e-3)
    assert res["ab"][20, 8, 0] > 20  # the red hint
