"""Pretrained models: the catalogue, verified downloads from a local server, conversion, failures.

Never contacts the internet: every download comes from an HTTP server on 127.0.0.1 started here,
serving random-weight files in the authors' layouts (``tests/pretrained_files.py``), or from a
mirror folder; the catalogue's URLs and SHA-256 are replaced through ``$NAPARI_COLORIZE_CATALOGUE``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pretrained_files import (  # noqa: E402
    DDCOLOR,
    DDCOLOR_SIZE,
    FILES,
    closed_port,
    make_ddcolor_file,
    make_files,
    serve,
    write_catalogue,
)

import napari_colorize as nc  # noqa: E402
from napari_colorize import install, pretrained  # noqa: E402
from napari_colorize.catalogue import (  # noqa: E402
    DEFAULT_MODEL,
    builtin_models,
    list_models,
    preferred_model_path,
    resolve_model_path,
)
from napari_colorize.cli import main  # noqa: E402
from napari_colorize.errors import Cancelled, DiskFullError, ModelFolderError  # noqa: E402
from napari_colorize.pretrained import DownloadError  # noqa: E402

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("authors_files")
    return folder, make_files(folder)


@pytest.fixture(scope="module")
def server(files):
    with serve(files[0]) as (url, requests):
        yield url, requests


@pytest.fixture
def env(tmp_path, monkeypatch, files, server):
    """An empty user models folder and a catalogue whose files come from the local server."""
    models = tmp_path / "models"
    monkeypatch.setenv("NAPARI_COLORIZE_MODELS", str(models))
    monkeypatch.delenv(pretrained.MIRROR_ENV, raising=False)

    def catalogue(base_url=server[0], **sha):
        cat = write_catalogue(tmp_path / "catalogue.json", files[1], base_url, sha=sha)
        monkeypatch.setenv(pretrained.CATALOGUE_ENV, str(cat))
        return cat

    catalogue()
    return models, catalogue


def _left(models: Path) -> list[str]:
    """Everything under the models folder but the save locks (empty: nothing half-made)."""
    if not models.exists():
        return []
    return sorted(str(p.relative_to(models)) for p in models.rglob("*") if not p.name.endswith(".lock"))


def _only_cache_folder(models: Path) -> bool:
    return _left(models) in ([], [pretrained.CACHE_NAME])


def test_catalogue_entries_are_complete():
    cat = pretrained.pretrained_models()
    # best first: DDColor (large, then tiny) above SIGGRAPH17 above ECCV16
    assert list(cat) == ["ddcolor-modelscope", "ddcolor-paper-tiny", "siggraph17-authors", "eccv16-authors"]
    for name, repo in (
        ("ddcolor-modelscope", "ddcolor_modelscope"),
        ("ddcolor-paper-tiny", "ddcolor_paper_tiny"),
    ):
        e = cat[name]
        assert e.urls == (f"https://huggingface.co/piddnad/{repo}/resolve/main/pytorch_model.bin",)
        assert e.method == e.converter == "ddcolor" and e.config == {"input_size": 512}
        assert "Kang" in e.authors and "ICCV 2023" in e.paper and e.licence.startswith("Apache-2.0")
        # not known in advance, and said so
        assert e.sha256 is None and e.size_mb is None and e.size_text == "size unknown"
        assert "first download" in e.note
        # its mirror path and its download's name are its own (every repository has a pytorch_model.bin)
        assert e.filename == f"{repo}/pytorch_model.bin" and e.cache_name == f"{repo}--pytorch_model.bin"
    sig, eccv = cat["siggraph17-authors"], cat["eccv16-authors"]
    assert sig.sha256 == "df00044c0a4d7c3edcecf6f75437ce346a66e7a42612d9b968e1a7e17dbc6f66"
    assert eccv.sha256 == "9b330a0bae53f4ded77b1e23defbf78beaa09c10ebc4c4999e8e4f4a160b93f9"
    assert sig.filename == "siggraph17-df00044c.pth"
    assert eccv.filename == "colorization_release_v2-9b330a0b.pth"
    for e in (sig, eccv):
        assert e.urls[0].startswith("https://colorizers.s3.us-east-2.amazonaws.com/")
        assert e.licence and e.paper and e.authors and e.description and e.size_mb > 100
        assert e.converter in pretrained.CONVERTERS and e.method == e.converter
        assert e.sha256.startswith(e.filename.rsplit("-", 1)[-1].split(".")[0])  # the authors' hash prefix


def test_fetch_list_never_imports_tensorflow_or_torch(env):
    code = (
        "import sys; from napari_colorize.cli import main; rc = main(['fetch', '--list']); "
        "bad = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]; "
        "print('IMPORTED', bad); sys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["name", "method", "size", "installed", "licence"]
    row = next(line for line in lines if line.startswith("siggraph17-authors"))
    assert " no " in row and "MB" in row and "BSD" in row
    row = next(line for line in lines if line.startswith("ddcolor-paper-tiny"))
    assert " no " in row and "size unknown" in row and "Apache-2.0" in row


def test_fetch_converts_verifies_and_colorizes_by_name(env, files, coffee):
    models, _ = env
    events = []
    assert preferred_model_path() == builtin_models()[DEFAULT_MODEL]  # nothing fetched: the built-in
    with pytest.raises(ModelFolderError, match="not installed: fetch it with 'napari-colorize fetch"):
        resolve_model_path("siggraph17-authors")
    out = nc.fetch("siggraph17-authors", progress=lambda *a: events.append(a))
    assert out == models / "siggraph17-authors"
    info = json.loads((out / "config.json").read_text())
    assert info["method"] == "siggraph17" and info["config"]["width"] == 0.125
    sha = files[1]["siggraph17-authors"]["sha256"]
    assert info["info"]["sha256"] == sha and info["info"]["source_url"].endswith("/siggraph17-df00044c.pth")
    assert info["info"]["licence"].startswith("BSD") and info["info"]["catalogue"] == "siggraph17-authors"
    # progress: bytes up to the file's size, then the conversion
    downloads = [e for e in events if e[0] == "download"]
    assert downloads and downloads[-1][1] == downloads[-1][2] == files[1]["siggraph17-authors"]["size"]
    assert events[-1] == ("converting", 1, 1)
    assert list((models / pretrained.CACHE_NAME).iterdir()) == []  # the download is gone
    # usable by name everywhere: the catalogue, the API, the default
    assert list_models()["siggraph17-authors"] == str(out)
    assert resolve_model_path("siggraph17-authors") == out
    gray = coffee[:64, :96].mean(axis=-1)
    res = nc.colorize(gray, "siggraph17-authors")
    assert res.rgb.shape == (64, 96, 3) and np.isfinite(res.ab).all()
    assert preferred_model_path() == out
    assert {r["name"]: r for r in pretrained.list_pretrained()}["siggraph17-authors"]["installed"] is True
    # a second fetch leaves the installed model as it is
    mtime = (out / "config.json").stat().st_mtime
    assert nc.fetch("siggraph17-authors") == out and (out / "config.json").stat().st_mtime == mtime


def test_command_line_fetch_then_colorize_by_name(env, tmp_path, coffee, capsys):
    from skimage.io import imsave

    models, _ = env
    assert main(["fetch", "eccv16-authors"]) == 0
    assert "installed eccv16-authors" in capsys.readouterr().out
    info = json.loads((models / "eccv16-authors" / "config.json").read_text())
    assert info["method"] == "eccv16" and info["config"]["T"] == 0.38
    assert main(["fetch", "eccv16-authors"]) == 0  # installed: left as it is
    assert "already installed" in capsys.readouterr().out
    assert main(["fetch", "eccv16-authors", "--overwrite"]) == 0  # fetched and replaced
    assert "installed eccv16-authors" in capsys.readouterr().out
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == [
        pretrained.CACHE_NAME,
        "eccv16-authors",
    ]
    assert main(["fetch", "--list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("eccv16-authors"))
    assert " yes " in row
    # the only pretrained model installed: the command line's default
    from napari_colorize.cli.checks import _check_model_spec

    assert _check_model_spec(None) == str((models / "eccv16-authors").resolve())
    img = tmp_path / "gray.png"
    imsave(img, (coffee[:48, :64].mean(axis=-1) * 255).astype(np.uint8))
    rc = main(["colorize", str(img), "--model", "eccv16-authors", "--out-dir", str(tmp_path / "out")])
    assert rc == 0 and (tmp_path / "out").is_dir() and any((tmp_path / "out").iterdir())


def _one_line_refusal(capsys, argv, match):
    assert main(argv) == 2
    lines = [line.strip() for line in capsys.readouterr().err.replace("\r", "\n").splitlines()]
    said = [line for line in lines if line and "%|" not in line]  # a progress bar's frames aside
    assert len(said) == 1 and match in said[0], lines
    return said[0]


def test_checksum_mismatch_is_refused_and_leaves_nothing(env, capsys):
    models, catalogue = env
    catalogue(**{"eccv16-authors": "0" * 64})
    with pytest.raises(DownloadError, match="SHA-256 .* expected 0{64}.* deleted and nothing was installed"):
        install.fetch("eccv16-authors")
    assert _only_cache_folder(models)
    err = _one_line_refusal(capsys, ["fetch", "eccv16-authors"], "has SHA-256")
    assert err.startswith("napari-colorize fetch: error:")
    assert _only_cache_folder(models) and "eccv16-authors" not in list_models()


def test_a_server_that_dies_mid_download_leaves_no_partial_model(env, server, capsys):
    models, catalogue = env
    catalogue(base_url=server[0] + "/die")
    with pytest.raises(DownloadError, match="broke off after .* nothing was installed"):
        install.fetch("siggraph17-authors")
    assert _only_cache_folder(models)
    _one_line_refusal(capsys, ["fetch", "siggraph17-authors"], "broke off")
    assert _only_cache_folder(models)


def test_http_error_and_no_network_are_one_line(env, server, capsys):
    models, catalogue = env
    catalogue(base_url=server[0] + "/nothing-here")
    _one_line_refusal(capsys, ["fetch", "eccv16-authors"], "HTTP 404")
    port = closed_port()
    catalogue(base_url=f"http://127.0.0.1:{port}")
    err = _one_line_refusal(capsys, ["fetch", "eccv16-authors"], f"cannot reach 127.0.0.1:{port}")
    assert "no network?" in err and pretrained.MIRROR_ENV in err
    assert "napari-colorize import-weights eccv16 colorization_release_v2-9b330a0b.pth --out" in err
    assert _only_cache_folder(models)


@pytest.mark.parametrize("kind", ["folder", "url"])
def test_mirror_folder_or_url_replaces_the_authors_host(env, files, server, monkeypatch, kind):
    models, catalogue = env
    catalogue(base_url=f"http://127.0.0.1:{closed_port()}")  # the "authors' host" is unreachable
    mirror = str(files[0]) if kind == "folder" else server[0] + "/"
    monkeypatch.setenv(pretrained.MIRROR_ENV, mirror)
    path, src = pretrained.download("eccv16-authors")
    assert path.name == FILES["eccv16-authors"][1]
    assert src == (str(files[0] / path.name) if kind == "folder" else server[0] + "/" + path.name)
    assert pretrained._sha256(path) == files[1]["eccv16-authors"]["sha256"]
    # the checksum still applies to a mirror's file
    path.unlink()
    catalogue(base_url=f"http://127.0.0.1:{closed_port()}", **{"eccv16-authors": "f" * 64})
    with pytest.raises(DownloadError, match="has SHA-256"):
        pretrained.download("eccv16-authors")
    assert _only_cache_folder(models)


def test_mirror_folder_without_the_file(env, tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(tmp_path / "empty"))
    with pytest.raises(DownloadError, match="has no file colorization_release_v2-9b330a0b.pth"):
        install.fetch("eccv16-authors")


def test_a_partial_file_of_a_killed_download_is_restarted(env, files):
    models, _ = env
    cache = models / pretrained.CACHE_NAME
    cache.mkdir(parents=True)
    part = cache / (FILES["eccv16-authors"][1] + ".part")
    part.write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="partial file of an interrupted download; restarting"):
        path, _ = pretrained.download("eccv16-authors")
    assert not part.exists() and pretrained._sha256(path) == files[1]["eccv16-authors"]["sha256"]


def test_a_cancelled_download_leaves_nothing(env):
    models, _ = env
    with pytest.raises(Cancelled, match="cancelled; nothing was installed"):
        install.fetch("siggraph17-authors", should_stop=lambda: True)
    assert _only_cache_folder(models)


def test_a_full_disk_is_said_before_downloading(env, server, monkeypatch):
    import shutil
    from collections import namedtuple

    models, _ = env
    n = len(server[1])
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DiskFullError, match="not enough space on the disk for eccv16-authors"):
        install.fetch("eccv16-authors")
    assert len(server[1]) == n and _only_cache_folder(models)


def test_a_full_disk_while_writing(env, monkeypatch, files, tmp_path):
    import errno

    models, _ = env
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(files[0]))

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pretrained, "_copy", full)
    with pytest.raises(DiskFullError, match="no space left on the disk to download"):
        install.fetch("eccv16-authors")
    assert _only_cache_folder(models)


def test_unknown_name_and_a_broken_catalogue_file(env, tmp_path, monkeypatch, capsys):
    _one_line_refusal(capsys, ["fetch", "nope"], "no pretrained model named 'nope'")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": [{"name": "x", "method": "eccv16"}]}))
    monkeypatch.setenv(pretrained.CATALOGUE_ENV, str(bad))
    _one_line_refusal(capsys, ["fetch", "--list"], "lacks")


def test_a_verified_download_waiting_in_the_cache_is_converted_without_downloading(env, files, server):
    """A process killed after the download (during the conversion) left the checked file: reused."""
    import shutil

    models, catalogue = env
    cache = models / pretrained.CACHE_NAME
    cache.mkdir(parents=True)
    shutil.copy(files[0] / FILES["eccv16-authors"][1], cache)
    catalogue(base_url=f"http://127.0.0.1:{closed_port()}")  # no network
    out = install.fetch("eccv16-authors")
    assert (out / "config.json").is_file() and list(cache.iterdir()) == []


# -- an entry whose SHA-256 is not known in advance: trust on first use (DDColor) ------------
@pytest.fixture(scope="module")
def ddcolor_served(tmp_path_factory):
    """A random-weight DDColor-T file as the Hugging Face repositories hold it, on a local server."""
    folder = tmp_path_factory.mktemp("ddcolor_files")
    info = make_ddcolor_file(folder)  # skips without spandrel-extra-arches
    with serve(folder) as (url, requests):
        yield folder, info, url, requests


def test_unknown_hash_is_recorded_on_first_download_and_colorizes_by_name(
    env, ddcolor_served, tmp_path, monkeypatch, coffee, capsys
):
    models, _ = env
    folder, info, url, requests = ddcolor_served
    name = DDCOLOR[0]
    # the package's entry, from the local server, beside the authors' files of the other entries
    cat = write_catalogue(tmp_path / "dd.json", {name: info}, url)
    both = json.loads((tmp_path / "catalogue.json").read_text())
    both["models"] += json.loads(cat.read_text())["models"]
    cat.write_text(json.dumps(both))
    monkeypatch.setenv(pretrained.CATALOGUE_ENV, str(cat))
    entry = pretrained.get_pretrained(name)
    assert entry.sha256 is None and entry.size_text == "size unknown"
    # the command line: downloads, converts, and says in one line that the hash was not known
    assert main(["fetch", name]) == 0
    out_text, err = capsys.readouterr()
    said = [ln.strip() for ln in err.replace("\r", "\n").splitlines() if ln.strip() and "%|" not in ln]
    said = [ln for ln in said if not ln.startswith("converting")]
    assert len(said) == 1 and "warning:" in said[0] and "not known in advance" in said[0], said
    assert info["sha256"] in said[0]
    out = models / name
    assert f"installed {name}" in out_text and any(r.endswith("/pytorch_model.bin") for r in requests)
    # the computed SHA-256 is recorded (trust on first use), with the source and the licence
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "ddcolor" and cfg["config"]["input_size"] == DDCOLOR_SIZE
    assert cfg["config"]["encoder"] == "tiny"  # read from the state dict
    assert cfg["info"]["sha256"] == info["sha256"] and cfg["info"]["sha256_known_in_advance"] is False
    assert cfg["info"]["source_url"] == url + "/ddcolor_paper_tiny/pytorch_model.bin"
    assert cfg["info"]["licence"].startswith("Apache-2.0") and cfg["info"]["catalogue"] == name
    assert list((models / pretrained.CACHE_NAME).iterdir()) == []
    # usable by name; listed as installed, its size still unknown
    with pytest.warns(nc.NearGrayWarning):  # the served weights are a test's, not the authors'
        res = nc.colorize(coffee[:48, :72].mean(axis=-1), name)
    assert res.rgb.shape == (48, 72, 3) and np.isfinite(res.ab).all()
    assert main(["fetch", "--list"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(name))
    assert " yes " in row and "size unknown" in row
    # ranked above the ECCV16 and SIGGRAPH17 models: the default once installed
    assert nc.fetch("eccv16-authors") == models / "eccv16-authors"
    assert preferred_model_path() == out
    # fetched again: the file must match the SHA-256 recorded at its first download (nothing said)
    import shutil
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert install.fetch(name, overwrite=True) == out
        assert install.fetch(name) == out  # installed: left as it is
    assert not [w for w in caught if issubclass(w.category, install.UnverifiedDownloadWarning)]
    # a file that changed since (here: a changed record) is refused; the installed model stays
    cfg = json.loads((out / "config.json").read_text())
    cfg["info"]["sha256"] = "0" * 64
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        DownloadError, match=r"expected 0{64} \(recorded at its first download in .*trust a new"
    ):
        install.fetch(name, overwrite=True)
    assert list_models()[name] == str(out) and list((models / pretrained.CACHE_NAME).iterdir()) == []
    # deleted, it is trusted anew; the API says so with a warning
    shutil.rmtree(out)
    with pytest.warns(install.UnverifiedDownloadWarning, match="not known in advance"):
        assert install.fetch(name) == out
    assert json.loads((out / "config.json").read_text())["info"]["sha256"] == info["sha256"]


def test_a_known_hash_still_refuses_a_mismatch_from_a_mirror(env, ddcolor_served, tmp_path, monkeypatch):
    models, _ = env
    folder, info, url, _ = ddcolor_served
    name = DDCOLOR[0]
    cat = write_catalogue(
        tmp_path / "dd.json", {name: info}, f"http://127.0.0.1:{closed_port()}", sha={name: "0" * 64}
    )
    monkeypatch.setenv(pretrained.CATALOGUE_ENV, str(cat))
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(folder))
    assert pretrained.get_pretrained(name).sha256 == "0" * 64
    with pytest.raises(DownloadError, match="has SHA-256 .* expected 0{64}.* nothing was installed"):
        install.fetch(name)
    assert _only_cache_folder(models) and name not in list_models()
    # the right hash from the mirror: accepted, no warning
    cat = write_catalogue(
        tmp_path / "dd.json", {name: info}, f"http://127.0.0.1:{closed_port()}", sha={name: info["sha256"]}
    )
    path, src, digest = pretrained.download_with_digest(name)
    assert digest == info["sha256"] and src == str(folder / "ddcolor_paper_tiny" / "pytorch_model.bin")
    assert path == models / pretrained.CACHE_NAME / "ddcolor_paper_tiny--pytorch_model.bin"


def test_null_hash_and_size_are_read_and_bad_ones_refused(tmp_path, monkeypatch):
    base = json.loads(pretrained.CATALOGUE_FILE.read_text())["models"][0]
    bad = tmp_path / "bad.json"
    for field, value, match in (("sha256", "abc", "64 hex digits"), ("size_mb", -1, "size in MB")):
        bad.write_text(json.dumps({"models": [{**base, "name": "x", field: value}]}))
        monkeypatch.setenv(pretrained.CATALOGUE_ENV, str(bad))
        with pytest.raises(Exception, match=match):
            pretrained.pretrained_models()
    bad.write_text(json.dumps({"models": [{k: v for k, v in base.items() if k != "sha256"} | {"name": "x"}]}))
    with pytest.raises(Exception, match="lacks sha256"):
        pretrained.pretrained_models()
    monkeypatch.delenv(pretrained.CATALOGUE_ENV)
    rows = {r["name"]: r for r in pretrained.list_pretrained()}
    assert (
        rows["ddcolor-modelscope"]["sha256_known"] is False
        and rows["ddcolor-modelscope"]["size"] == "size unknown"
    )
    assert rows["eccv16-authors"]["sha256_known"] is True and rows["eccv16-authors"]["size"] == "129 MB"
