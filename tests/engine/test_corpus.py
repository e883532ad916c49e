"""The training corpus script (scripts/corpus.py) and its committed manifest.

No network and no fetched corpus: the selection, split and manifest logic
runs on small images the tests write into a fake cache.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


corpus = _load("corpus", ROOT / "scripts" / "corpus.py")

PKG = "plasma-workspace-wallpapers"
FLAT = "lomiri-wallpapers-16.04"

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: test

Files: *
Copyright: 2018 Someone
License: GPL-2+

Files: 16.04/sea_by_A.jpg
Copyright: A, 2018
License: CC-BY-4.0

Files: debian/*
Copyright: 2020 Packager
License: GPL-2+
"""


def _write(path: Path, w: int, h: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    """A fake cache: a plasma-style package (several sizes per picture) and a flat one."""
    root = corpus.package_root(tmp_path, PKG)
    walls = root / "usr/share/wallpapers"
    _write(walls / "Lake/contents/images/40x25.png", 40, 25, 1)
    _write(walls / "Lake/contents/images/80x50.png", 80, 50, 2)
    _write(walls / "Lake/contents/images/160x100.png", 160, 100, 3)
    _write(walls / "Lake/contents/images_dark/80x50.png", 80, 50, 4)
    _write(walls / "Lake/contents/screenshot.png", 20, 12, 5)
    (walls / "Lake/contents/images/art.svg").write_text("<svg/>")
    _write(walls / "Huge/contents/images/200x100.png", 200, 100, 6)
    _write(walls / "Huge/contents/images/300x150.png", 300, 150, 7)
    (walls / "Broken/contents/images").mkdir(parents=True)
    (walls / "Broken/contents/images/1x1.jpg").write_bytes(b"not an image")
    flat = corpus.package_root(tmp_path, FLAT) / "usr/share/backgrounds"
    for i in range(10):
        _write(flat / f"photo{i}_by_B.jpg", 60, 40, 10 + i)
    _write(flat / "sea_by_A.jpg", 64, 48, 30)
    doc = corpus.package_root(tmp_path, FLAT) / f"usr/share/doc/{FLAT}"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(DEP5)
    return tmp_path


def _chosen(cache: Path, max_pixels: int = 10_000) -> dict:
    files = corpus.scan_dir(corpus.package_root(cache, PKG), PKG)
    files += corpus.scan_dir(corpus.package_root(cache, FLAT), FLAT)
    return corpus.choose_files(files, max_pixels=max_pixels)


def test_picture_names_group_the_sizes_of_one_picture():
    assert corpus.picture_name(PKG, "usr/share/wallpapers/Lake/contents/images/80x50.png") == f"{PKG}/Lake"
    assert (
        corpus.picture_name(PKG, "usr/share/wallpapers/Lake/contents/images_dark/80x50.png")
        == f"{PKG}/Lake-dark"
    )
    assert corpus.picture_name(FLAT, "usr/share/backgrounds/sea-1920x1080.jpg") == f"{FLAT}/sea"


def test_scan_leaves_out_vector_files_previews_and_unreadable_files(cache):
    files = corpus.scan_dir(corpus.package_root(cache, PKG), PKG)
    paths = [f.path for f in files]
    assert not [p for p in paths if p.endswith(".svg") or "screenshot" in p or "Broken" in p]
    lake = next(f for f in files if f.path.endswith("images/80x50.png"))
    assert (lake.width, lake.height) == (80, 50)
    assert lake.bytes == (corpus.package_root(cache, PKG) / lake.path).stat().st_size
    assert len(lake.sha256) == 64


def test_one_file_per_picture_the_largest_under_the_limit_else_the_smallest(cache):
    chosen = _chosen(cache, max_pixels=10_000)
    assert chosen[f"{PKG}/Lake"].path.endswith("images/80x50.png")  # 160x100 is over the limit
    assert chosen[f"{PKG}/Lake-dark"].path.endswith("images_dark/80x50.png")
    assert chosen[f"{PKG}/Huge"].path.endswith("200x100.png")  # every size is over it
    assert len(chosen) == 3 + 11


def test_identical_files_count_once():
    a = corpus.ImageFile(PKG, "a/contents/images/1x1.png", 1, 1, 10, "0" * 64)
    b = corpus.ImageFile(PKG, "b/contents/images/1x1.png", 1, 1, 10, "0" * 64)
    assert list(corpus.choose_files([a, b])) == [f"{PKG}/a"]


def test_split_is_deterministic_stratified_and_about_a_fifth():
    names = {"p1": [f"p1/{i}" for i in range(20)], "p2": [f"p2/{i}" for i in range(10)], "p3": ["p3/a"]}
    split = corpus.split_names(names)
    shuffled = {k: list(reversed(v)) for k, v in reversed(list(names.items()))}
    assert corpus.split_names(shuffled) == split
    held = Counter(n.split("/")[0] for n, s in split.items() if s == "heldout")
    assert held == {"p1": 4, "p2": 2}  # the single picture of p3 is trained on
    assert set(split.values()) <= set(corpus.SPLITS) and len(split) == 31
    # a package of three pictures still holds one out
    small = corpus.split_names({"q": ["q/a", "q/b", "q/c"]})
    assert list(small.values()).count("heldout") == 1
    with pytest.raises(ValueError, match="heldout_fraction"):
        corpus.split_names(names, heldout_fraction=1.0)


def test_licences_from_a_machine_readable_copyright_file():
    assert corpus.licence_names(DEP5) == ["GPL-2+", "CC-BY-4.0"]
    assert corpus.licence_names("Licensed under the GPL-2 or later.") == ["GPL-2"]
    stanzas = corpus.copyright_stanzas(DEP5)
    assert [s["files"] for s in stanzas] == ["*", "16.04/sea_by_A.jpg"]
    assert corpus.file_licence("usr/share/backgrounds/sea_by_A.jpg", stanzas) == {
        "licence": "CC-BY-4.0",
        "copyright": "A, 2018",
    }
    assert corpus.file_licence("usr/share/backgrounds/other.jpg", stanzas)["licence"] == "GPL-2+"


def _manifest(cache: Path) -> dict:
    chosen = _chosen(cache)
    allow = {n: "water" for n in chosen if n.startswith(FLAT)} | {f"{PKG}/Lake": "water"}
    packages = {p: corpus.package_info(cache, p) for p in (PKG, FLAT)}
    return corpus.build_manifest(chosen, allow, packages)


def test_manifest_records_the_allowed_pictures_and_round_trips(cache, tmp_path):
    m = _manifest(cache)
    names = [im["name"] for im in m["images"]]
    assert f"{PKG}/Huge" not in names and f"{PKG}/Lake-dark" not in names  # not allowed
    assert len(names) == 12
    for im in m["images"]:
        assert {"package", "path", "width", "height", "bytes", "sha256", "split", "subject"} <= set(im)
    assert m["packages"][FLAT]["licence"] == ["GPL-2+", "CC-BY-4.0"]
    assert m["packages"][FLAT]["photos"] == 11 and m["packages"][PKG]["photos"] == 1
    path = corpus.write_manifest(m, tmp_path / "m.json")
    assert corpus.read_manifest(path) == json.loads(json.dumps(m))


def test_manifest_refuses_missing_pictures_and_foreign_packages(cache):
    chosen = _chosen(cache)
    with pytest.raises(SystemExit, match="not found"):
        corpus.build_manifest(chosen, {f"{PKG}/Nowhere": "sky"}, {})
    m = _manifest(cache)
    bad = json.loads(json.dumps(m))
    bad["images"][0]["package"] = "ubuntu-wallpapers"
    with pytest.raises(ValueError, match="not a corpus package"):
        corpus.check_manifest(bad)
    dup = json.loads(json.dumps(m))
    dup["images"][1]["sha256"] = dup["images"][0]["sha256"]
    with pytest.raises(ValueError, match="duplicate"):
        corpus.check_manifest(dup)


def test_fetch_refuses_other_packages(tmp_path):
    with pytest.raises(SystemExit, match="not a corpus package"):
        corpus.fetch(tmp_path, packages=["ubuntu-wallpapers"])


def test_load_corpus_gives_uint8_rgb_no_larger_than_max_side_and_checks_hashes(cache):
    m = _manifest(cache)
    held = corpus.load_corpus("heldout", cache=cache, max_side=32, manifest=m, with_names=True)
    train = corpus.load_corpus("train", cache=cache, max_side=None, manifest=m)
    assert len(held) + len(train) == len(m["images"]) and held
    for _, rgb in held:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and max(rgb.shape[:2]) <= 32
    assert max(max(r.shape[:2]) for r in train) > 32
    first = m["images"][0]
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(corpus.file_path(first, cache), format="PNG")
    with pytest.raises(SystemExit, match="sha256"):
        corpus.load_corpus(first["split"], cache=cache, manifest=m)


# ------------------------------------------------------------------ the committed manifest


def test_committed_manifest_holds_its_invariants():
    m = corpus.read_manifest()  # checks unique names, files and hashes, allowed packages
    images = m["images"]
    allowed = set(corpus.PACKAGES) | set(corpus.PHOTO_PACKAGES) | {p for p, _ in corpus.BUNDLED}
    assert {im["package"] for im in images} <= allowed
    train = {im["name"] for im in images if im["split"] == "train"}
    held = {im["name"] for im in images if im["split"] == "heldout"}
    assert not train & held and len(train) + len(held) == len(images)
    assert not {im["sha256"] for im in images if im["split"] == "train"} & {
        im["sha256"] for im in images if im["split"] == "heldout"
    }
    assert 0.15 <= len(held) / len(images) <= 0.25
    wallpapers = {im["name"] for im in images if im["package"] in corpus.PACKAGES}
    assert wallpapers == set(corpus.ALLOW)
    assert not [im for im in images if im["path"].lower().endswith(".svg")]
    for p in {im["package"] for im in images}:
        assert m["packages"][p]["licence"], p


def test_committed_manifest_lists_the_bundled_photos_as_installed():
    m = corpus.read_manifest()
    bundled = {
        (im["package"], im["path"]): im for im in m["images"] if im["package"] in ("skimage", "sklearn")
    }
    assert set(bundled) == set(corpus.BUNDLED)
    for f in corpus.scan_bundled():
        assert bundled[(f.package, f.path)]["sha256"] == f.sha256
    photos = corpus.load_corpus("all", max_side=64, manifest={**m, "images": list(bundled.values())})
    assert len(photos) == len(bundled) and all(p.dtype == np.uint8 for p in photos)


def test_corpus_info_records_files_sizes_and_licences():
    info = corpus.corpus_info("train")
    assert info["n_images"] == len(info["images"]) > 0
    assert {"name", "bytes", "width", "height", "sha256"} <= set(info["images"][0])
    assert set(info["packages"]) == {im["package"] for im in info["images"]}
    json.dumps(info)


# ------------------------------------------------------------------ benchmarks/heldout.py


@pytest.fixture(scope="module")
def heldout():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    return _load("heldout", ROOT / "benchmarks" / "heldout.py")


def test_random_hints_carry_the_mean_true_ab_of_their_patch(heldout):
    from napari_colorize.color import rgb2lab

    truth = np.zeros((30, 40, 3), np.float32)
    truth[:, :20] = (0.8, 0.2, 0.1)
    truth[:, 20:] = (0.1, 0.3, 0.9)
    ab, mask = heldout.random_hints(truth, 12, seed=3)
    again = heldout.random_hints(truth, 12, seed=3)
    assert np.array_equal(ab, again[0]) and np.array_equal(mask, again[1])
    assert 0 < mask.sum() <= 12 and ab.shape == (30, 40, 2) and not ab[mask == 0].any()
    ab_true = rgb2lab(truth)[..., 1:]
    for y, x in zip(*np.nonzero(mask)):
        if x not in (19, 20):  # away from the edge the 3x3 mean is the plain color
            np.testing.assert_allclose(ab[y, x], ab_true[y, x], atol=1e-3)


def test_scores_of_the_truth_and_of_gray(heldout):
    import common

    truth = np.random.default_rng(0).random((24, 32, 3)).astype(np.float32)
    perfect = heldout.scores(truth, truth)
    assert perfect["delta_e2000"] < 1e-6 and perfect["auc"] == 1.0
    assert perfect["cf_ratio"] == pytest.approx(1.0)
    gray = heldout.scores(common.gray_baseline(truth), truth)
    assert gray["delta_e2000"] > 1 and gray["auc"] < 1 and gray["cf_ratio"] < 0.05


# ------------------------------------------------------------------ photo packages (issue 23)


def _rcc(files: dict[str, bytes]) -> bytes:
    """A version-3 Qt resource file holding ``files`` under one folder ``res`` (zlib-compressed)."""
    import struct
    import zlib

    names = b""
    name_off = {}
    for n in ["res", *files]:
        name_off[n] = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
    data = b""
    data_off = {}
    for n, blob in files.items():
        data_off[n] = len(data)
        packed = struct.pack(">I", len(blob)) + zlib.compress(blob)
        data += struct.pack(">I", len(packed)) + packed
    nodes = struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8  # root: one child (node 1)
    nodes += struct.pack(">IHII", name_off["res"], 2, len(files), 2) + b"\0" * 8
    for n in files:
        nodes += struct.pack(">IHHHI", name_off[n], 1, 0, 0, data_off[n]) + b"\0" * 8
    header = 24
    body = data + names + nodes
    return (
        b"qres"
        + struct.pack(">IIIII", 3, header + len(data) + len(names), header, header + len(data), 1)
        + body
    )


def test_read_rcc_unpacks_zlib_resources_and_extract_keeps_pictures(tmp_path):
    png = tmp_path / "p.png"
    _write(png, 8, 6, 1)
    files = {"a.png": png.read_bytes(), "notes.qml": b"Item {}"}
    raw = _rcc(files)
    assert corpus.read_rcc(raw) == {f"res/{k}": v for k, v in files.items()}
    (tmp_path / "x.rcc").write_bytes(raw)
    written = corpus.extract_rcc(tmp_path / "x.rcc", tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["res/a.png"]
    with pytest.raises(ValueError, match="qres"):
        corpus.read_rcc(b"nope" + raw[4:])


def test_photo_rule_keeps_large_many_coloured_pictures_only(tmp_path):
    photo = tmp_path / "photo.png"
    _write(photo, 300, 260, 2)  # random colours: photo-like statistics
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((300, 300, 3), 200, np.uint8)).save(flat)
    small = tmp_path / "small.png"
    _write(small, 300, 200, 3)

    def f(p, w, h):
        return corpus.ImageFile("darknet", p.name, w, h, 1, "0" * 64)

    assert corpus.looks_like_photo(f(photo, 300, 260), photo)
    assert not corpus.looks_like_photo(f(flat, 300, 300), flat)
    assert not corpus.looks_like_photo(f(small, 300, 200), small)


def test_committed_manifest_holds_the_photo_packages_with_licences():
    m = corpus.read_manifest()
    photos = [im for im in m["images"] if im["package"] in corpus.PHOTO_PACKAGES]
    assert len(photos) > 100
    assert {im["split"] for im in photos} == {"train", "heldout"}
    for im in photos:
        assert min(im["width"], im["height"]) >= corpus.MIN_PHOTO_SIDE
        assert im.get("licence"), im["name"]
        assert "/lang/" not in im["path"] and "/paintings/" not in im["path"]
    cc_by = [im for im in photos if str(im["licence"]).startswith("CC-BY")]
    assert cc_by and all(im.get("copyright") for im in cc_by)  # attribution where the package gives it
