"""Pretrained models: a catalogue of released weights, downloaded and converted on request.

The catalogue (``data_files/pretrained.json``, package data) has one entry per model: its
name, method, a description, the authors, the paper, the licence of the weights, the file's
URL(s), its size, its full SHA-256, the converter (the ``import-weights`` converters of
:mod:`napari_colorize.methods.eccv16`, :mod:`napari_colorize.methods.siggraph17` and
:mod:`napari_colorize.methods.ddcolor`), the
converter's options and a rank among the automatic models (higher is better: the default model
is the best-ranked one installed; DDColor ranks above SIGGRAPH17, which ranks above ECCV16).

An entry whose SHA-256 could not be read in advance has ``"sha256": null`` and a ``note`` saying
so (its size may be ``null`` too, shown as "size unknown").  Such a file is trusted on first use:
:func:`napari_colorize.install.fetch` downloads it, computes its SHA-256, says in one line that it
was not known in advance, and records the computed hash in the installed model's ``config.json``.
A known SHA-256 is always checked, a mirror's file included.

:func:`napari_colorize.install.fetch` downloads a file with :mod:`pooch`'s HTTP downloader into
``<models folder>/.downloads``, checks its SHA-256 before anything reads it, converts it into
an ordinary model folder ``<models folder>/<name>`` (atomically, through the models' own save)
whose ``config.json`` records the source URL, the SHA-256 and the licence, and removes the
download.  Nothing is downloaded unless asked (``napari-colorize fetch NAME``,
``napari_colorize.fetch(NAME)``, the napari Colorize widget).

Two environment variables:

``NAPARI_COLORIZE_MIRROR``
    A base URL or a local folder holding the files under their original names
    (``siggraph17-df00044c.pth``), or under an entry's ``file`` where it has one
    (``ddcolor_paper_tiny/pytorch_model.bin``), used instead of the authors' host; a known
    SHA-256 still applies.
``NAPARI_COLORIZE_CATALOGUE``
    A JSON file of further entries (the format of the package's file), added to the
    catalogue or replacing an entry of the same name: a site's own models, or a test's.

Reading the catalogue and downloading import neither TensorFlow nor torch (the napari plugin
reads this module); converting does, in :mod:`napari_colorize.install`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .catalogue import is_model_folder, user_models_dir
from .errors import Cancelled, ColorizeError, ConfigError, DiskFullError, ModelFolderError

__all__ = [
    "MIRROR_ENV",
    "CATALOGUE_ENV",
    "CONVERTERS",
    "DownloadError",
    "Pretrained",
    "pretrained_models",
    "get_pretrained",
    "installed_path",
    "is_installed",
    "list_pretrained",
    "best_installed",
    "cache_dir",
    "download",
    "download_with_digest",
]

#: the package's catalogue file
CATALOGUE_FILE = Path(__file__).parent / "data_files" / "pretrained.json"
#: environment variable: a base URL or a folder that holds the catalogue's files under their names
MIRROR_ENV = "NAPARI_COLORIZE_MIRROR"
#: environment variable: a JSON file of further catalogue entries (replacing those of the same name)
CATALOGUE_ENV = "NAPARI_COLORIZE_CATALOGUE"
#: the converters of released weights (``napari-colorize import-weights METHOD``)
CONVERTERS = ("eccv16", "siggraph17", "ddcolor")
#: the folder, inside the user models folder, where downloads wait for their conversion
CACHE_NAME = ".downloads"
#: seconds without an answer from a server before a download gives up
TIMEOUT = 30.0

#: a progress callback: ``progress(stage, done, total)``; stage ``"download"`` counts bytes,
#: ``"converting"`` is 0/1 then 1/1
Progress = Callable[[str, int, int], None]


class DownloadError(ColorizeError):
    """A download failed (no network, an HTTP error, a checksum mismatch); nothing was installed."""


@dataclass(frozen=True)
class Pretrained:
    """One catalogue entry (see the module docs)."""

    name: str
    method: str
    description: str
    authors: str
    paper: str
    licence: str
    urls: tuple[str, ...]
    #: the download's size in MB, or None when not known in advance
    size_mb: float | None
    #: the file's full SHA-256, or None when not known in advance (trusted on first use)
    sha256: str | None
    converter: str
    config: dict[str, Any] = field(default_factory=dict)
    rank: int = 0
    homepage: str = ""
    #: a remark for people (e.g. why the SHA-256 is not known)
    note: str = ""
    #: the file's path in a mirror, when the last part of the URL is not unique (the Hugging Face
    #: repositories all hold a ``pytorch_model.bin``): ``ddcolor_paper_tiny/pytorch_model.bin``
    file: str = ""

    @property
    def filename(self) -> str:
        """The file's name in a mirror: the entry's ``file``, else the last part of its first URL
        (the original name, ``siggraph17-df00044c.pth``)."""
        return self.file or Path(urlparse(self.urls[0]).path).name

    @property
    def cache_name(self) -> str:
        """The download's name in :func:`cache_dir` (unique per entry: no two entries share it)."""
        return self.filename.replace("/", "--")

    @property
    def size_text(self) -> str:
        """The download's size for people (``"137 MB"``, or ``"size unknown"``)."""
        return "size unknown" if self.size_mb is None else f"{self.size_mb:.0f} MB"


_FIELDS = ("name", "method", "description", "authors", "paper", "licence", "urls", "size_mb", "sha256")


def _entry(raw: Any, source: Path) -> Pretrained:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a catalogue entry is a JSON object, got {raw!r}")
    missing = [k for k in _FIELDS if k not in raw]
    if missing:
        raise ConfigError(f"{source}: the entry {raw.get('name', '?')!r} lacks {', '.join(missing)}")
    name = str(raw["name"])
    sha = None if raw["sha256"] is None else str(raw["sha256"]).lower()
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ConfigError(
            f"{source}: the entry {name!r} needs a full SHA-256 (64 hex digits) or null, got {sha!r}"
        )
    size = raw["size_mb"]
    if size is not None and (not isinstance(size, (int, float)) or isinstance(size, bool) or size <= 0):
        raise ConfigError(f"{source}: the entry {name!r} needs a size in MB (a number > 0) or null")
    urls = raw["urls"]
    if isinstance(urls, str):
        urls = [urls]
    if not urls or not all(isinstance(u, str) and u for u in urls):
        raise ConfigError(f"{source}: the entry {name!r} needs at least one URL")
    converter = str(raw.get("converter", raw["method"]))
    if converter not in CONVERTERS:
        raise ConfigError(
            f"{source}: the entry {name!r} has converter {converter!r}; known: {', '.join(CONVERTERS)}"
        )
    file = str(raw.get("file") or "")
    if file and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*", file):
        raise ConfigError(
            f"{source}: the entry {name!r} has file {file!r}: a relative path (a/b.pth) or none"
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"{source}: {name!r} is no model name (letters, digits, '.', '_', '-')")
    return Pretrained(
        name=name,
        method=str(raw["method"]),
        description=str(raw["description"]),
        authors=str(raw["authors"]),
        paper=str(raw["paper"]),
        licence=str(raw["licence"]),
        urls=tuple(urls),
        size_mb=None if size is None else float(size),
        sha256=sha,
        converter=converter,
        config=dict(raw.get("config") or {}),
        rank=int(raw.get("rank", 0)),
        homepage=str(raw.get("homepage", "")),
        note=str(raw.get("note", "")),
        file=file,
    )


def _read(path: Path) -> list[Pretrained]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the model catalogue {path}: {e}") from None
    entries = data.get("models") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError(f'{path}: a catalogue holds a list of models (under "models")')
    return [_entry(raw, path) for raw in entries]


def pretrained_models() -> dict[str, Pretrained]:
    """The catalogue: name -> entry, best first (the package's, then ``$NAPARI_COLORIZE_CATALOGUE``'s)."""
    out = {e.name: e for e in _read(CATALOGUE_FILE)}
    extra = os.environ.get(CATALOGUE_ENV)
    if extra:
        out.update({e.name: e for e in _read(Path(extra).expanduser())})
    return dict(sorted(out.items(), key=lambda kv: -kv[1].rank))


def get_pretrained(name: str) -> Pretrained:
    """The catalogue entry ``name``; :class:`ModelFolderError` (one line, with the names) if none."""
    models = pretrained_models()
    if name not in models:
        raise ModelFolderError(
            f"no pretrained model named {name!r} in the catalogue (known: {', '.join(models)}; "
            "napari-colorize fetch --list)"
        )
    return models[name]


def installed_path(name: str) -> Path:
    """Where the catalogue model ``name`` is (or would be) installed: the user models folder."""
    return user_models_dir() / name


def is_installed(name: str) -> bool:
    """Whether the catalogue model ``name`` is installed (a model folder of that name in the user's)."""
    return is_model_folder(installed_path(name))


def list_pretrained() -> list[dict[str, Any]]:
    """The catalogue for people: name, method, size, licence, installed, description, whether the
    SHA-256 is known in advance (no TensorFlow)."""
    return [
        {
            "name": e.name,
            "method": e.method,
            "size_mb": e.size_mb,
            "size": e.size_text,
            "licence": e.licence,
            "installed": is_installed(e.name),
            "description": e.description,
            "sha256_known": e.sha256 is not None,
        }
        for e in pretrained_models().values()
    ]


def best_installed() -> Path | None:
    """The folder of the best-ranked installed catalogue model, or None when none is installed."""
    with contextlib.suppress(ColorizeError):  # a broken extra catalogue: no preference, no failure
        for e in pretrained_models().values():
            if is_installed(e.name):
                return installed_path(e.name)
    return None


def cache_dir() -> Path:
    """The downloads' folder, ``<user models folder>/.downloads`` (files wait there for conversion)."""
    return user_models_dir() / CACHE_NAME


def _is_url(text: str) -> bool:
    return urlparse(text).scheme in ("http", "https", "ftp", "sftp")


def _sources(entry: Pretrained) -> list[str]:
    """Where the file is fetched from: the mirror if one is set, else the entry's URLs."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return list(entry.urls)
    if _is_url(mirror):
        return [mirror.rstrip("/") + "/" + entry.filename]
    return [str(Path(mirror).expanduser() / entry.filename)]


def _sha256(path: Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


class _Bar:
    """The progress object pooch's downloader drives: reports bytes and honours a stop."""

    def __init__(self, progress: Progress | None, should_stop: Callable[[], bool] | None, total: int) -> None:
        self.progress = progress
        self.should_stop = should_stop
        self.total = total
        self.n = 0
        self._told = -1
        self._when = 0.0

    def update(self, n: int) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("download cancelled")
        total = self.total or 0
        self.n = self.n + int(n) if not total else min(self.n + int(n), total)
        # at most 200 reports and 10 a second, whatever the size and the speed (a progress bar in
        # napari redraws on each)
        step = max(total // 200, 1 << 16)
        now = time.monotonic()
        due = self.n - self._told >= step and now - self._when >= 0.1
        if self.progress is not None and (due or self.n >= total):
            self._told, self._when = self.n, now
            self.progress("download", self.n, max(total, self.n))

    def reset(self) -> None:
        self.n = 0
        self._told = -1

    def close(self) -> None:
        pass


def _copy(src: Path, dst: Path, bar: _Bar) -> None:
    """Copy a mirror folder's file, in chunks (progress, stop)."""
    if not src.is_file():
        raise DownloadError(f"the mirror folder {src.parent} ({MIRROR_ENV}) has no file {src.name}")
    bar.total = src.stat().st_size
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(1 << 20):
            fo.write(chunk)
            bar.update(len(chunk))


def _no_network_line(entry: Pretrained, url: str, e: BaseException) -> str:
    host = urlparse(url).netloc or url
    reason = type(e).__name__
    out = installed_path(entry.name)
    return (
        f"cannot reach {host} to download {entry.filename} ({reason}): no network? Set {MIRROR_ENV} to a "
        f"folder or URL that holds {entry.filename}, or download it elsewhere and run "
        f"'napari-colorize import-weights {entry.converter} {entry.filename} --out {out}'"
    )


def _get(entry: Pretrained, src: str, part: Path, bar: _Bar) -> None:
    """Fetch ``src`` (a URL, or a mirror folder's file) into ``part``; errors as one line."""
    if not _is_url(src):
        _copy(Path(src), part, bar)
        return
    import pooch
    import requests

    try:
        pooch.HTTPDownloader(progressbar=bar, timeout=TIMEOUT, chunk_size=1 << 16)(src, str(part), None)
    except requests.exceptions.HTTPError as e:
        r = e.response
        code = f"HTTP {r.status_code} {r.reason}" if r is not None else str(e)
        raise DownloadError(f"downloading {src} failed: {code}; nothing was installed") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as e:
        raise DownloadError(
            f"the download of {src} broke off after {bar.n / 1e6:.1f} MB ({type(e).__name__}); "
            "nothing was installed: run fetch again"
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
        raise DownloadError(_no_network_line(entry, src, e)) from None
    except requests.exceptions.RequestException as e:
        raise DownloadError(
            f"downloading {src} failed: {type(e).__name__}: {e}; nothing was installed"
        ) from None


def download(
    entry: Pretrained | str,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Path, str]:
    """Download a catalogue file into :func:`cache_dir` and check its SHA-256.

    A file already there whose SHA-256 matches is used as it is.  The download goes to
    ``<file>.part``; a ``.part`` left by a killed process is found and the download restarts.
    An entry without a known SHA-256 is not checked (see :func:`download_with_digest`).

    Returns
    -------
    (Path, str)
        The verified file and where it came from.

    Raises
    ------
    DownloadError
        No network (the line says how to use a mirror or ``import-weights``), an HTTP error, a
        download that broke off, a checksum mismatch (the file is deleted).
    DiskFullError
        Not enough space for the download (checked first) or a full disk while writing.
    Cancelled
        ``should_stop()`` became true; the partial file is deleted.
    """
    path, src, _ = download_with_digest(entry, progress=progress, should_stop=should_stop)
    return path, src


def download_with_digest(
    entry: Pretrained | str,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    expected: str | None = None,
    expected_from: str = "",
) -> tuple[Path, str, str]:
    """:func:`download`, also returning the file's SHA-256 (computed once).

    With a known SHA-256 the file must match it.  Without one (``"sha256": null`` in the
    catalogue) the complete download is accepted as it is and its computed SHA-256 is returned,
    for the caller to record (trust on first use); a complete download waiting in the cache
    (left by a process killed during the conversion) is reused.  ``expected`` (with
    ``expected_from``, where it comes from, for the message) is checked in place of an unknown
    SHA-256: the one recorded at the first download.

    Returns
    -------
    (Path, str, str)
        The file, where it came from, its SHA-256.
    """
    from .io import _TEMPS

    if isinstance(entry, str):
        entry = get_pretrained(entry)
    if entry.sha256 is None and expected is not None:
        entry = dataclasses.replace(entry, sha256=expected.lower())
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelFolderError(f"cannot create the downloads folder {cache}: {e.strerror or e}") from None
    final = cache / entry.cache_name
    sources = _sources(entry)
    if final.is_file():
        digest = _sha256(final)
        if entry.sha256 is None or digest == entry.sha256:
            return final, sources[0], digest
        final.unlink()
    part = cache / (entry.cache_name + ".part")
    if part.exists():
        warnings.warn(
            f"{part.name}: a partial file of an interrupted download; restarting the download",
            UserWarning,
            stacklevel=2,
        )
        part.unlink()
    free = shutil.disk_usage(cache).free
    # the download, then the converted model beside it (an unknown size: a full disk is found while
    # writing)
    need = 0 if entry.size_mb is None else int(entry.size_mb * 2.2e6)
    if free < need:
        raise DiskFullError(
            f"not enough space on the disk for {entry.name}: about {need / 1e6:.0f} MB needed in "
            f"{cache.parent}, {free / 1e6:.0f} MB free; nothing was downloaded"
        )
    _TEMPS.add(part)  # an interrupt (Ctrl-C, SIGTERM) removes it
    try:
        errors: list[str] = []
        for src in sources:
            bar = _Bar(progress, should_stop, int((entry.size_mb or 0) * 1e6))
            try:
                _get(entry, src, part, bar)
                break
            except DownloadError as e:
                errors.append(str(e))
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
        else:
            raise DownloadError(errors[0] if len(errors) == 1 else " | ".join(errors))
        digest = _sha256(part)
        if entry.sha256 is not None and digest != entry.sha256:
            raise DownloadError(
                f"{entry.filename} from {src} has SHA-256 {digest}, expected {entry.sha256}"
                f"{expected_from}: a damaged or changed file; it was deleted and nothing was installed"
            )
        os.replace(part, final)
        return final, src, digest
    except Cancelled:
        raise Cancelled(f"the download of {entry.name} was cancelled; nothing was installed") from None
    except OSError as e:
        from .io import is_disk_full

        if is_disk_full(e):
            raise DiskFullError(
                f"no space left on the disk to download {entry.filename} into {cache}; nothing was installed"
            ) from None
        if isinstance(e, ColorizeError):
            raise
        raise DownloadError(
            f"downloading {entry.filename} failed: {type(e).__name__}: {e}; nothing was installed"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        _TEMPS.discard(part)
