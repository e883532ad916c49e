import errno
import json
import os

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.transform import resize

import napari_colorize as nc
from napari_colorize.errors import InputError, ModelFolderError
from napari_colorize.methods.lookup import LookupColorizer


def _auc(ab_pred, ab_true):
    err = np.linalg.norm(ab_pred - ab_true, axis=-1).ravel()
    return float(np.mean([(err <= t).mean() for t in range(151)]))


def _half_split_scores(img, **config):
    W = img.shape[1] // 2
    model = nc.train("lookup", img[:, :W], **config)
    right = img[:, W:]
    lab = rgb2lab(right)
    ab = model.predict_ab(lab[..., 0])
    pred_lab = np.concatenate([lab[..., :1], ab], axis=-1)
    gray_lab = lab.copy()
    gray_lab[..., 1:] = 0
    return (
        deltaE_ciede2000(lab, pred_lab).mean(),
        deltaE_ciede2000(lab, gray_lab).mean(),
        _auc(ab, lab[..., 1:]),
        _auc(np.zeros_like(ab), lab[..., 1:]),
    )


@pytest.fixture(scope="module")
def photos():
    out = []
    for name in ["coffee", "chelsea", "astronaut", "rocket"]:
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = 768 / max(h, w)
        out.append(resize(img, (round(h * s), round(w * s)), anti_aliasing=True).astype(np.float32))
    return out


def test_half_split_on_coffee_beats_gray_by_a_wide_margin(photos):
    de, de0, auc, auc0 = _half_split_scores(photos[0])
    assert de < 0.6 * de0
    assert auc > auc0 + 0.1


def test_half_split_mean_over_photos_meets_targets(photos):
    scores = np.array([_half_split_scores(p) for p in photos])
    de, de0, auc, auc0 = scores.mean(axis=0)
    # issue target: CIEDE2000 <= 7 where gray gives far more, AuC >= 0.90
    assert de <= 7.0 and de < de0 / 2
    assert auc >= 0.90 > auc0


def test_not_worse_than_plain_101_level_mean_lookup(photos):
    img = photos[1]
    W = img.shape[1] // 2
    lab_l, lab_r = rgb2lab(img[:, :W]), rgb2lab(img[:, W:])
    # the plain lookup, written out: mean ab per integer L, unseen levels = 0
    lev_l = np.clip(np.rint(lab_l[..., 0]), 0, 100).astype(int).ravel()
    table = np.zeros((101, 2))
    for ch in range(2):
        s = np.bincount(lev_l, lab_l[..., 1 + ch].ravel(), minlength=101)
        c = np.bincount(lev_l, minlength=101)
        table[:, ch] = np.where(c > 0, s / np.maximum(c, 1), 0)
    plain = table[np.clip(np.rint(lab_r[..., 0]), 0, 100).astype(int)]
    model = nc.train("lookup", img[:, :W])
    ours = model.predict_ab(lab_r[..., 0])
    de_plain = deltaE_ciede2000(lab_r, np.concatenate([lab_r[..., :1], plain], -1)).mean()
    de_ours = deltaE_ciede2000(lab_r, np.concatenate([lab_r[..., :1], ours], -1)).mean()
    assert de_ours <= de_plain + 1e-6


def test_known_colors_are_learned_and_unseen_levels_interpolated():
    # reference: left half dark red-ish (L=30), right half light blue-ish (L=70)
    lab = np.zeros((10, 20, 3), np.float32)
    lab[:, :10] = [30, 40, 20]
    lab[:, 10:] = [70, -10, -30]
    rgb = nc.color.lab2rgb(lab)
    for policy in ["mean", "median", "mode"]:
        m = LookupColorizer(policy=policy)
        m.fit(rgb)
        true_lab = nc.color.rgb2lab(rgb)
        ab = m.predict_ab(np.array([[true_lab[0, 0, 0], true_lab[0, 15, 0]]], np.float32))
        tol = 1.0 if policy != "mode" else 2.5
        np.testing.assert_allclose(ab[0, 0], true_lab[0, 0, 1:], atol=tol)
        np.testing.assert_allclose(ab[0, 1], true_lab[0, 15, 1:], atol=tol)
        mid = m.predict_ab(np.array([[50.0]], np.float32))[0, 0]
        # halfway between the two learned colors (linear fill of unseen levels)
        expect = (true_lab[0, 0, 1:] + true_lab[0, 15, 1:]) / 2
        np.testing.assert_allclose(mid, expect, atol=tol + 1.5)


def test_texture_feature_separates_smooth_from_textured_regions():
    rng = np.random.default_rng(0)
    L = np.full((64, 128), 50.0, np.float32)
    L[:, 64:] += rng.normal(0, 8, (64, 64)).astype(np.float32)  # textured half
    ab = np.zeros((64, 128, 2), np.float32)
    ab[:, :64] = [30, 0]
    ab[:, 64:] = [-30, 0]
    rgb = nc.color.lab2rgb(np.concatenate([L[..., None], ab], -1))
    Lr = nc.color.rgb2lab(rgb)[..., 0]
    tex = LookupColorizer(texture=True, texture_bins=2)
    tex.fit(rgb)
    pred = tex.predict_ab(Lr)
    assert pred[20:44, 10:54, 0].mean() > 15  # smooth part is reddish
    assert pred[20:44, 74:118, 0].mean() < -5  # textured part is greenish
    assert tex.receptive_field == 2


def test_crop_box_restricts_learning():
    lab = np.zeros((10, 20, 3), np.float32)
    lab[..., 0] = 50
    lab[:, :10, 1] = 40
    lab[:, 10:, 1] = -40
    rgb = nc.color.lab2rgb(lab)
    m = nc.train("lookup", rgb, crop=(0, 0, 10, 10))
    assert m.predict_ab(np.full((1, 1), 50.0, np.float32))[0, 0, 0] > 30
    m2 = nc.train("lookup", rgb, box=(0, 10, 10, 20))
    assert m2.predict_ab(np.full((1, 1), 50.0, np.float32))[0, 0, 0] < -30


def test_save_load_round_trip_and_wrong_method(tmp_path, coffee):
    m = nc.train("lookup", coffee)
    m.save(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "config.json").read_text())
    assert info["method"] == "lookup" and info["version"] == nc.__version__
    m2 = nc.load_model(tmp_path / "m")
    L = nc.color.rgb2L(coffee)
    np.testing.assert_array_equal(m.predict_ab(L), m2.predict_ab(L))
    # another method's folder
    info["method"] = "window"
    (tmp_path / "m" / "config.json").write_text(json.dumps(info))
    with pytest.raises(ModelFolderError, match="'window' model, not a 'lookup'"):
        LookupColorizer.load(tmp_path / "m")


def test_newer_version_and_corrupt_folders_are_refused(tmp_path, coffee):
    m = nc.train("lookup", coffee)
    m.save(tmp_path / "m")
    cfg = tmp_path / "m" / "config.json"
    info = json.loads(cfg.read_text())
    cfg.write_text(json.dumps({**info, "version": "99.0.0"}))
    with pytest.raises(ModelFolderError, match="newer"):
        nc.load_model(tmp_path / "m")
    cfg.write_text("{ not json")
    with pytest.raises(ModelFolderError, match="corrupt"):
        nc.load_model(tmp_path / "m")
    cfg.write_text(json.dumps(info))
    (tmp_path / "m" / "lookup.npz").write_bytes(b"garbage")
    with pytest.raises(ModelFolderError, match="cannot load weights"):
        nc.load_model(tmp_path / "m")
    with pytest.raises(ModelFolderError, match="no such model folder"):
        nc.load_model(tmp_path / "nope")


def test_disk_full_during_save_keeps_previous_model(tmp_path, coffee, monkeypatch):
    m = nc.train("lookup", coffee)
    m.save(tmp_path / "m")
    before = (tmp_path / "m" / "lookup.npz").read_bytes()
    m2 = nc.train("lookup", coffee[:, ::-1] * 0.5)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="no space left on the disk"):
        m2.save(tmp_path / "m", overwrite=True)
    monkeypatch.undo()
    assert (tmp_path / "m" / "lookup.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]  # the save lock, no temp folder
    nc.load_model(tmp_path / "m")


def test_bad_inputs(coffee):
    m = nc.train("lookup", coffee)
    with pytest.raises(InputError):
        m.predict_ab(np.zeros((0, 4), np.float32))
    with pytest.raises(InputError):
        m.predict_ab(np.full((3, 3), np.nan, np.float32))
    with pytest.raises(InputError):
        m.predict_ab(np.zeros((3, 3, 3), np.float32))
    with pytest.raises(InputError, match="color"):
        nc.train("lookup", np.zeros((10, 10), np.uint8))
    with pytest.raises(ModelFolderError, match="not trained"):
        LookupColorizer().predict_ab(np.zeros((2, 2), np.float32))
    # 1x1 and constant images give sensible output
    assert m.predict_ab(np.full((1, 1), 40.0, np.float32)).shape == (1, 1, 2)
