"""The Keras base of the neural methods, the hints contract of every method, and old model folders."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from napari_colorize.errors import ConfigError, InputError
from napari_colorize.methods import METHODS, get_method, load_model
from napari_colorize.methods.colorizer import Colorizer
from napari_colorize.methods.keras_colorizer import KerasColorizer

LEGACY = Path(__file__).parent / "data" / "legacy"


@dataclasses.dataclass(frozen=True)
class FakeHints:
    ab: np.ndarray
    mask: np.ndarray


@pytest.fixture
def fake_fusion(monkeypatch):
    """A stand-in ``napari_colorize.hints`` whose fusion pastes the hints over the prediction."""
    calls = []

    def fuse_hints(L, ab, hints):
        calls.append((L.shape, ab.shape))
        m = np.asarray(hints.mask)[..., None] > 0
        return np.where(m, hints.ab, ab).astype(np.float32)

    mod = types.ModuleType("napari_colorize.hints")
    mod.fuse_hints = fuse_hints
    monkeypatch.setitem(sys.modules, "napari_colorize.hints", mod)
    return calls


class Flat(Colorizer):
    """A method that predicts one ab everywhere; with ``native_hints`` it takes the hints' mean."""

    name = "flat"

    def fit(self, data, *, epochs=None, callbacks=None, **kwargs):
        return {}

    def _predict_ab(self, L, *, hints=None):
        ab = np.zeros(L.shape + (2,), np.float32)
        ab[..., 0] = 7.0
        if hints is not None:
            ab[:] = np.asarray(hints.ab)[np.asarray(hints.mask) > 0].mean(0)
        return ab

    def _save_weights(self, folder):
        pass

    def _load_weights(self, folder):
        pass


class NativeFlat(Flat):
    native_hints = True


def _hints(shape, where, color):
    ab = np.zeros(shape + (2,), np.float32)
    mask = np.zeros(shape, np.float32)
    ab[where] = color
    mask[where] = 1
    return FakeHints(ab, mask)


def test_no_hints_or_an_empty_mask_give_exactly_the_methods_own_prediction(fake_fusion):
    L = np.linspace(0, 100, 12, dtype=np.float32).reshape(3, 4)
    m = Flat()
    own = m.predict_ab(L)
    empty = FakeHints(np.ones((3, 4, 2), np.float32), np.zeros((3, 4), np.float32))
    np.testing.assert_array_equal(m.predict_ab(L, hints=None), own)
    np.testing.assert_array_equal(m.predict_ab(L, hints=empty), own)
    assert not fake_fusion  # the fusion is never called without hints
    np.testing.assert_array_equal(m.predict_ab_batch(np.stack([L, L])), np.stack([own, own]))


def test_hints_are_fused_unless_the_method_takes_them_natively(fake_fusion):
    L = np.full((3, 4), 50, np.float32)
    h = _hints((3, 4), (1, 2), (20.0, -30.0))
    fused = Flat().predict_ab(L, hints=h)
    assert fake_fusion == [((3, 4), (3, 4, 2))]
    np.testing.assert_array_equal(fused[1, 2], [20, -30])
    np.testing.assert_array_equal(fused[0, 0], [7, 0])
    native = NativeFlat().predict_ab(L, hints=h)
    assert len(fake_fusion) == 1  # not fused
    np.testing.assert_array_equal(native, np.broadcast_to([20, -30], (3, 4, 2)))
    # a batch: hints carry a leading plane axis
    hb = FakeHints(np.stack([h.ab, np.zeros_like(h.ab)]), np.stack([h.mask, np.zeros_like(h.mask)]))
    out = NativeFlat().predict_ab_batch(np.stack([L, L]), hints=hb)
    np.testing.assert_array_equal(out[0], native)
    np.testing.assert_array_equal(out[1], NativeFlat().predict_ab(L))


def test_L_is_validated_before_the_method_sees_it():
    with pytest.raises(InputError, match="2 dimensions"):
        Flat().predict_ab(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(InputError, match="NaN"):
        Flat().predict_ab(np.full((2, 2), np.nan, np.float32))
    with pytest.raises(InputError, match="3 dimensions"):
        Flat().predict_ab_batch(np.zeros((2, 3), np.float32))


def test_every_neural_method_extends_the_keras_base_and_declares_its_structure():
    for name in ("window", "autoencoder", "vgg_autoencoder", "eccv16"):
        cls = get_method(name)
        assert issubclass(cls, KerasColorizer), name
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        assert set(cls.structural_fields) <= fields, name
    assert set(METHODS) >= {"lookup", "window", "autoencoder", "vgg_autoencoder", "eccv16"}


def test_a_structural_field_cannot_change_on_a_built_network():
    m = get_method("autoencoder")(width=2, depth=1)
    m._ensure_net()
    m.config = m.config.replace(ab_scale=100.0)  # not structural: fine
    m._ensure_net()
    m.config = m.config.replace(width=4)
    with pytest.raises(ConfigError, match="cannot change width"):
        m._ensure_net()


@pytest.mark.parametrize("name", ["window", "eccv16-lite"])
def test_retired_builtin_models_predict_as_the_previous_version_did(name):
    """The retired built-ins (their last folders, moved to ``legacy/``) still load and predict alike."""
    L = np.load(LEGACY / "L.npy")
    ab = load_model(LEGACY / name).predict_ab(L)
    np.testing.assert_allclose(ab, np.load(LEGACY / f"ab_{name}.npy"), atol=1e-3)


def test_a_folder_written_by_the_previous_version_loads_predicts_and_resumes(tmp_path):
    """``legacy/autoencoder`` was saved by the code before the Keras base (commit 03c196d)."""
    folder = tmp_path / "ae"
    shutil.copytree(LEGACY / "autoencoder", folder)
    L = np.load(LEGACY / "L.npy")
    m = load_model(folder)
    assert m._optimizer_state is not None  # its optimizer.npz was read
    np.testing.assert_allclose(m.predict_ab(L), np.load(LEGACY / "ab_autoencoder.npy"), atol=1e-4)
    rgb = np.random.default_rng(0).uniform(0, 1, (40, 40, 3)).astype(np.float32)
    hist = m.fit([rgb], epochs=1, steps_per_epoch=1)
    assert len(hist["loss"]) == 1 and isinstance(hist["loss"][0], float)
    assert int(m._net.optimizer.iterations.numpy()) == 2  # one saved step, one new
    assert m.info["epochs_done"] == 2  # the old folder's "epochs_trained" carries on
