"""The training corpus of the built-in models: photographs from Debian packages.

Usage::

    python scripts/corpus.py fetch [--cache DIR]          # apt-get download + dpkg -x (training time only)
    python scripts/corpus.py scan [--cache DIR]           # every candidate picture (one file per picture)
    python scripts/corpus.py sheet --out DIR [--all]      # contact sheets to choose photographs by eye
    python scripts/corpus.py manifest [--cache DIR]       # rewrite scripts/corpus_manifest.json
    python scripts/corpus.py load --split train|heldout [--max-side 768] [--cache DIR]

Only the packages in :data:`PACKAGES` (six wallpaper packages) and
:data:`PHOTO_PACKAGES` (photographs shipped by educational, documentation and
demo packages; issue 23) are ever fetched; other wallpaper packages are kept
for independent evaluation.  ``gcompris-qt-data`` packs its pictures in Qt
resource files: :func:`read_rcc` (a small zlib reader) unpacks them into the
cache at fetch time.  The photographs of :data:`PHOTO_PACKAGES` are chosen by
a rule, not by hand: name filters per package (:data:`PHOTO_PACKAGES`: no
drawings, paintings, renders or screenshots) and :func:`looks_like_photo`
(shortest side at least :data:`MIN_PHOTO_SIDE` px, many distinct colours, no
dominant flat colour).  The curated allow-list of
photographs (:data:`ALLOW`, no abstract art, no renders, no SVG) and the
bundled scikit-image / scikit-learn photos make up the corpus.  Each picture
that comes in several sizes is kept once (:func:`choose_files`).  The split
is deterministic: within each package, the pictures whose name hashes lowest
are held out (about :data:`HELDOUT_FRACTION`, :func:`split_names`).

:data:`MANIFEST` records per image the package, the path inside the package,
the pixel size, the file size, the sha256 and the split, and per package its
version and licence.  Training scripts and benchmarks call
:func:`load_corpus`.  Nothing here runs at import time or in the package.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: The only Debian packages the corpus may come from.
PACKAGES: tuple[str, ...] = (
    "plasma-workspace-wallpapers",
    "gnome-backgrounds",
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "ukui-wallpapers",
)

#: Packages of photographs beyond the wallpapers (issue 23): package -> selection rule.
#: ``include``/``exclude`` are fnmatch patterns on the path inside the package (for
#: ``gcompris-qt-data``, ``rcc/<resource file>/<path inside it>``, see :func:`extract_rcc`).
#: Left out by name: gcompris' ``lang/`` word drawings, the paintings (its ``paintings``,
#: ``babyshapes`` and the painters' pictures of ``details``), rendered planets, textures;
#: opencv's painting and the second views of stereo and flow pairs; tuxpaint's drawn starters.
PHOTO_PACKAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "gcompris-qt-data": {
        "include": ("rcc/*",),
        "exclude": (
            "*/lang/*",
            "*/paintings/*",
            "*/babyshapes/*",
            "*/solar_system/*",
            "*/digital_electricity/*",
            "*Gogh*",
            "*Gauguin*",
            "*Bruegel*",
            "*Renoir*",
            "*Portrait*",
            "*Eglise_dAuvers*",
            "*/numbers/*",
            "*/alphabets/*",
        ),
    },
    "opencv-doc": {
        "include": ("usr/share/doc/opencv-doc/examples/*",),
        "exclude": (
            "*starry_night*",
            "*aloeR*",
            "*/right.jpg",
            "*rubberwhale2*",
            "*graf3*",
            "*aero3*",
            "*_segmented_word*",
        ),
    },
    "tuxpaint-data": {
        "include": ("usr/share/tuxpaint/templates/*", "usr/share/tuxpaint/starters/*-back.*"),
        "exclude": (),
    },
    "darknet": {"include": ("usr/share/darknet/data/*",), "exclude": ("*scream*",)},
    "palapeli-data": {"include": ("usr/share/palapeli/collection/*",), "exclude": ()},
    "python-matplotlib-data": {"include": ("usr/share/matplotlib/mpl-data/sample_data/*",), "exclude": ()},
    "imagemagick-6-doc": {
        # four renderings of one photo: the plain one only
        "include": ("usr/share/doc/imagemagick-6-common/html/images/bluebells_clipped.jpg",),
        "exclude": (),
    },
}
#: Licences of photo packages whose ``copyright`` file is not in the package itself.
PACKAGE_LICENCE_FALLBACK: dict[str, str] = {
    "imagemagick-6-doc": "ImageMagick (see the copyright file of imagemagick-6-common)",
    # its copyright file's ``Files: *`` licence is "same as upstream" (an empty License line)
    "python-matplotlib-data": "Matplotlib licence (PSF-based; grace_hopper.jpg is a U.S. Navy photograph)",
}
#: Photographs of :data:`PHOTO_PACKAGES`: shortest side at least this many px.
MIN_PHOTO_SIDE = 256

#: Extra sources: the color photos that ship with scikit-image and scikit-learn,
#: (package, path inside the installed Python package).
BUNDLED: tuple[tuple[str, str], ...] = (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/hubble_deep_field.jpg"),
    ("skimage", "data/ihc.png"),
    ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/retina.jpg"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
)

#: Subject tags of the bundled photos.
BUNDLED_SUBJECTS: dict[str, str] = {
    "astronaut": "person",
    "chelsea": "animal",
    "coffee": "food",
    "rocket": "object",
    "hubble_deep_field": "space",
    "ihc": "microscopy",
    "motorcycle_left": "object",
    "retina": "medical",
    "china": "city",
    "flower": "plant",
}

#: Licences of the bundled sources (their own package metadata).
BUNDLED_LICENCES: dict[str, str] = {
    "skimage": "scikit-image data: public domain, CC0 or CC-BY per image (scikit-image's LICENSE.txt)",
    "sklearn": "CC-BY-2.0 (Flickr; sklearn/datasets/images/README.txt)",
}

DEFAULT_CACHE = Path("~/.cache/napari-colorize/corpus").expanduser()
MANIFEST = Path(__file__).resolve().parent / "corpus_manifest.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: One file per picture: the largest with at most this many pixels.
MAX_PIXELS = 4_200_000
HELDOUT_FRACTION = 0.2
#: File stems of previews, never pictures of their own.
PREVIEW_STEMS = ("screenshot", "thumbnail", "preview")
SPLITS = ("train", "heldout")

#: Curated allow-list: picture name (see :func:`picture_name`) -> one-word subject.
#: Chosen by eye from contact sheets (``corpus.py sheet --all``): photographs
#: only.  Left out: every file of gnome-backgrounds, ukui-wallpapers and
#: lomiri-wallpapers (renders and vector art), the abstract and painted
#: wallpapers of the others, a tinted texture (analogpattern) and two
#: black-and-white photographs (plasma Grey and ColdRipple: colourfulness 0,
#: so their truth has no colour to learn).
ALLOW: dict[str, str] = {
    "lomiri-wallpapers-16.04/Bridge_by_Sander_Klootwijk": "sky",
    "lomiri-wallpapers-16.04/Dragonfly_by_Bolly": "plant",
    "lomiri-wallpapers-16.04/Picture_0B_by_freespace": "food",
    "lomiri-wallpapers-16.04/Picture_1A_by_freespace": "object",
    "lomiri-wallpapers-16.04/Wine_by_Jakkub_Mede": "interior",
    "lomiri-wallpapers-16.04/aitzgorri_by_Aitzol_Berasategi": "landscape",
    "lomiri-wallpapers-16.04/free_by_Peter_Nerlich": "interior",
    "lomiri-wallpapers-16.04/friends_by_Aitzol_Berasategi": "animal",
    "lomiri-wallpapers-16.04/greentock_by_Peter_Nerlich": "object",
    "lomiri-wallpapers-16.04/life_by_Aitzol_Berasategi": "water",
    "lomiri-wallpapers-16.04/picosdeeuropa_by_Aitzol_Berasategi": "landscape",
    "lomiri-wallpapers-16.04/seeding_by_Clements_Engelhardt": "plant",
    "lomiri-wallpapers-16.04/sunset_by_Aitzol_Berasategi": "landscape",
    "lomiri-wallpapers-20.04/Kleiber_by_Lukas_Baubkus": "animal",
    "plasma-workspace-wallpapers/BytheWater": "water",
    "plasma-workspace-wallpapers/ColorfulCups": "object",
    "plasma-workspace-wallpapers/DarkestHour": "water",
    "plasma-workspace-wallpapers/EveningGlow": "water",
    "plasma-workspace-wallpapers/FallenLeaf": "plant",
    "plasma-workspace-wallpapers/Kite": "sky",
    "plasma-workspace-wallpapers/OneStandsOut": "plant",
    "plasma-workspace-wallpapers/Path": "forest",
    "plasma-workspace-wallpapers/summer_1am": "water",
}


# ------------------------------------------------------------------ fetch


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def licence_names(copyright_text: str) -> list[str]:
    """The distinct short licence names of a Debian ``copyright`` file.

    Reads the ``License:`` fields of a machine-readable (DEP-5) file; for a
    free-form file, the first line that names a well-known licence.
    """
    names: list[str] = []
    for line in copyright_text.splitlines():
        m = re.match(r"^License:\s*(\S.*?)\s*$", line)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    if names:
        return names
    for pattern in (
        r"\bGPL[- ]?\d",
        r"\bLGPL",
        r"Creative Commons[^\n.]*",
        r"\bCC[- ]BY[^\s,.]*",
        r"\bBSD\b",
    ):
        m = re.search(pattern, copyright_text)
        if m:
            return [m.group(0).strip()]
    return ["unknown"]


def copyright_stanzas(copyright_text: str) -> list[dict[str, str]]:
    """The ``Files`` stanzas of a machine-readable (DEP-5) Debian ``copyright`` file.

    Each is ``{"files", "copyright", "license"}`` (first lines only); ``debian/*`` is left out.
    """
    out = []
    for block in re.split(r"\n\s*\n", copyright_text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key == "files" and line.startswith((" ", "\t")):
                fields["files"] += " " + line.strip()
        if "files" in fields and not fields["files"].startswith("debian/"):
            out.append(
                {
                    "files": fields["files"],
                    "copyright": fields.get("copyright", ""),
                    "license": fields.get("license", "unknown"),
                }
            )
    return out


def file_licence(path: str, stanzas: Iterable[Mapping[str, str]]) -> dict[str, str] | None:
    """The licence and copyright of one file: the last stanza whose pattern matches.

    Source paths differ from installed ones, so a pattern with a folder
    matches on the file name alone.
    """
    found = None
    name = Path(path).name
    for st in stanzas:
        for pattern in st["files"].split():
            if pattern == "*" or fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(name, Path(pattern).name):
                found = {"licence": st["license"], "copyright": st["copyright"]}
    return found


def package_root(cache: Path, package: str) -> Path:
    """Where ``package`` is unpacked in the cache."""
    return Path(cache) / "pkgs" / package


def fetch(
    cache: str | os.PathLike = DEFAULT_CACHE, *, packages: Iterable[str] = PACKAGES + tuple(PHOTO_PACKAGES)
) -> dict[str, Any]:
    """Download and unpack the corpus packages into ``cache`` (training time only).

    ``apt-get download`` then ``dpkg -x`` for each package (``apt-get update``
    first when apt does not know a package); the pictures of Qt resource files
    (``*.rcc``) are unpacked under ``rcc/<name>/`` in the package's folder.  A package already unpacked is
    skipped; an unpacking is moved into place only once it is complete.

    Returns
    -------
    dict
        package -> ``{"version", "deb", "licence"}``.
    """
    cache = Path(cache)
    packages = list(packages)
    allowed = PACKAGES + tuple(PHOTO_PACKAGES)
    bad = [p for p in packages if p not in allowed]
    if bad:
        raise SystemExit(f"not a corpus package: {', '.join(bad)} (allowed: {', '.join(allowed)})")
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    updated = False
    info: dict[str, Any] = {}
    for pkg in packages:
        dest = package_root(cache, pkg)
        deb = next(iter(sorted(debs.glob(f"{pkg}_*.deb"))), None)
        if deb is None:
            r = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
            if r.returncode and not updated:
                subprocess.run(["apt-get", "update"], check=True, capture_output=True)
                updated = True
                r = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(f"apt-get download {pkg} failed: {r.stderr.strip().splitlines()[-1:]}")
            deb = next(iter(sorted(debs.glob(f"{pkg}_*.deb"))))
        if not dest.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{pkg}-", dir=dest.parent))
            subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
            for rcc in sorted(tmp.rglob("*.rcc")):
                extract_rcc(rcc, tmp / "rcc" / rcc.stem)
            shutil.move(str(tmp), str(dest))
        info[pkg] = package_info(cache, pkg)
    return info


def package_info(cache: Path, package: str) -> dict[str, Any]:
    """Version, .deb file name and licence names of an unpacked package."""
    deb = next(iter(sorted((Path(cache) / "debs").glob(f"{package}_*.deb"))), None)
    version = unquote(deb.name.split("_")[1]) if deb is not None else None
    cp = package_root(cache, package) / "usr" / "share" / "doc" / package / "copyright"
    if cp.is_file():
        licence = licence_names(cp.read_text(errors="replace"))
    else:
        licence = [PACKAGE_LICENCE_FALLBACK.get(package, "unknown")]
    return {"version": version, "deb": deb.name if deb is not None else None, "licence": licence}


# ------------------------------------------------------------------ Qt resource files


def read_rcc(data: bytes) -> dict[str, bytes]:
    """The files of a Qt binary resource (``.rcc``): path -> bytes.

    The format of ``QResourceRoot`` (versions 1 to 3): a header (``qres``,
    version, tree, data and names offsets), a tree of 14-byte (version 1) or
    22-byte nodes, UTF-16 names, and data blocks of a 4-byte size, zlib
    compressed (``qCompress``: a 4-byte length, then zlib) when the node's
    flag 1 is set.  zstd-compressed nodes (flag 4) are refused.
    """
    import struct
    import zlib

    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file (no 'qres' magic)")
    version, tree, data_off, names = struct.unpack(">IIII", data[4:20])
    if version not in (1, 2, 3):
        raise ValueError(f"unsupported Qt resource version {version}")
    node = 14 if version == 1 else 22

    def name(off: int) -> str:
        (n,) = struct.unpack(">H", data[names + off : names + off + 2])
        return data[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    out: dict[str, bytes] = {}
    todo = [(0, "")]
    while todo:
        i, prefix = todo.pop()
        base = tree + i * node
        name_off, flags = struct.unpack(">IH", data[base : base + 6])
        path = f"{prefix}/{name(name_off)}".lstrip("/") if i else ""
        if flags & 2:  # a directory: count, first child
            count, first = struct.unpack(">II", data[base + 6 : base + 14])
            todo += [(c, path) for c in range(first, first + count)]
            continue
        (off,) = struct.unpack(">I", data[base + 10 : base + 14])
        p = data_off + off
        (size,) = struct.unpack(">I", data[p : p + 4])
        blob = data[p + 4 : p + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resources are not supported")
        out[path] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return out


def extract_rcc(path: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Write the raster pictures of one ``.rcc`` file under ``dest`` (other files are skipped)."""
    dest = Path(dest)
    written = []
    for rel, blob in read_rcc(Path(path).read_bytes()).items():
        if Path(rel).suffix.lower() not in IMAGE_SUFFIXES or ".." in Path(rel).parts:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        written.append(target)
    return written


# ------------------------------------------------------------------ scan and select


@dataclass(frozen=True)
class ImageFile:
    """One candidate image file of a package."""

    package: str
    path: str  # inside the package (or the installed Python package)
    width: int
    height: int
    bytes: int
    sha256: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


_SIZE_RE = re.compile(r"[-_ .]?\d{3,5}x\d{3,5}$")


def picture_name(package: str, path: str) -> str:
    """The name of the picture a file shows, shared by all its sizes.

    ``usr/share/wallpapers/Name/contents/images/1920x1080.jpg`` is picture
    ``package/Name`` (``package/Name-dark`` under ``contents/images_dark``);
    elsewhere the file stem without a ``-WIDTHxHEIGHT`` tail.
    """
    parts = Path(path).parts
    if "contents" in parts:
        i = parts.index("contents")
        if i >= 1:
            dark = "-dark" if parts[i + 1 : i + 2] == ("images_dark",) else ""
            return f"{package}/{parts[i - 1]}{dark}"
    stem = Path(path).stem
    stem = _SIZE_RE.sub("", stem) or stem
    return f"{package}/{stem}"


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header."""
    from PIL import Image

    with Image.open(path) as im:
        return int(im.width), int(im.height)


def scan_dir(root: Path, package: str) -> list[ImageFile]:
    """Every raster image file under ``root``.

    SVGs and other vector files are left out, and so are previews (``screenshot.png``).
    """
    out = []
    for p in sorted(Path(root).rglob("*")):
        if (
            p.is_file()
            and not p.is_symlink()
            and p.suffix.lower() in IMAGE_SUFFIXES
            and p.stem.lower() not in PREVIEW_STEMS
        ):
            try:
                w, h = image_size(p)
            except Exception:  # noqa: BLE001 - a file that is not an image is no candidate
                continue
            rel = p.relative_to(root).as_posix()
            out.append(ImageFile(package, rel, w, h, p.stat().st_size, _sha256(p)))
    return out


def choose_files(files: Iterable[ImageFile], *, max_pixels: int = MAX_PIXELS) -> dict[str, ImageFile]:
    """One file per picture: the largest with at most ``max_pixels``, else the smallest.

    Identical files (same sha256) count once, under the first picture name.
    """
    groups: dict[str, list[ImageFile]] = {}
    seen: set[str] = set()
    for f in files:
        if f.sha256 in seen:
            continue
        seen.add(f.sha256)
        groups.setdefault(picture_name(f.package, f.path), []).append(f)
    out = {}
    for name, fs in sorted(groups.items()):
        small = [f for f in fs if f.pixels <= max_pixels]
        out[name] = (
            max(small, key=lambda f: (f.pixels, f.path))
            if small
            else min(fs, key=lambda f: (f.pixels, f.path))
        )
    return out


def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def split_names(
    names_by_package: Mapping[str, Iterable[str]], *, heldout_fraction: float = HELDOUT_FRACTION
) -> dict[str, str]:
    """Deterministic split stratified by package: name -> ``"train"`` or ``"heldout"``.

    Within each package the ``round(fraction * n)`` pictures whose name hashes
    lowest (sha256) are held out; a package of 3 or more pictures holds out
    at least one.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    out: dict[str, str] = {}
    for _, names in sorted(names_by_package.items()):
        names = sorted(set(names), key=lambda n: (_name_hash(n), n))
        k = round(heldout_fraction * len(names))
        if heldout_fraction > 0 and len(names) >= 3:
            k = max(k, 1)
        for i, n in enumerate(names):
            out[n] = "heldout" if i < k else "train"
    return out


def build_manifest(
    chosen: Mapping[str, ImageFile],
    allow: Mapping[str, str],
    packages: Mapping[str, Mapping[str, Any]],
    *,
    licences: Mapping[str, Mapping[str, str]] | None = None,
    heldout_fraction: float = HELDOUT_FRACTION,
) -> dict[str, Any]:
    """The manifest of the allowed pictures among ``chosen``.

    Parameters
    ----------
    chosen : mapping
        Picture name -> its one file (:func:`choose_files`).
    allow : mapping
        Picture name -> subject tag: the curated allow-list.
    packages : mapping
        Package -> ``{"version", "deb", "licence"}`` (:func:`package_info`);
        every package of an allowed picture needs one.
    licences : mapping, optional
        Picture name -> ``{"licence", "copyright"}`` of its file (:func:`file_licence`).
    """
    missing = sorted(set(allow) - set(chosen))
    if missing:
        raise SystemExit(f"allowed pictures not found in the cache: {', '.join(missing)}")
    names = sorted(allow)
    by_pkg: dict[str, list[str]] = {}
    for n in names:
        by_pkg.setdefault(chosen[n].package, []).append(n)
    split = split_names(by_pkg, heldout_fraction=heldout_fraction)
    licences = dict(licences or {})
    images = [
        {
            "name": n,
            **asdict(chosen[n]),
            "split": split[n],
            "subject": allow[n] or None,
            **(licences.get(n) or {}),
        }
        for n in names
    ]
    return {
        "description": "Training corpus of the built-in models (scripts/corpus.py): photographs only.",
        "min_photo_side": MIN_PHOTO_SIDE,
        "max_pixels": MAX_PIXELS,
        "heldout_fraction": heldout_fraction,
        "packages": {
            p: {**packages[p], "photos": len(by_pkg.get(p, []))} for p in sorted(set(packages) | set(by_pkg))
        },
        "images": images,
    }


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise ValueError unless the manifest's invariants hold.

    Each name, path and sha256 appears once (so no file is in both splits),
    every package is allowed and described, and the splits are valid.
    """
    allowed = set(PACKAGES) | set(PHOTO_PACKAGES) | {p for p, _ in BUNDLED}
    images = manifest["images"]
    for key in ("name", "sha256"):
        vals = [im[key] for im in images]
        if len(vals) != len(set(vals)):
            raise ValueError(f"duplicate {key} in the manifest")
    paths = [(im["package"], im["path"]) for im in images]
    if len(paths) != len(set(paths)):
        raise ValueError("duplicate file in the manifest")
    for im in images:
        if im["package"] not in allowed:
            raise ValueError(f"package {im['package']!r} is not a corpus package")
        if im["package"] not in manifest["packages"]:
            raise ValueError(f"package {im['package']!r} has no licence entry")
        if im["split"] not in SPLITS:
            raise ValueError(f"bad split {im['split']!r} for {im['name']}")


def read_manifest(path: str | os.PathLike = MANIFEST) -> dict[str, Any]:
    with open(path) as f:
        manifest = json.load(f)
    check_manifest(manifest)
    return manifest


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike = MANIFEST) -> Path:
    """Check and write the manifest atomically."""
    check_manifest(manifest)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------ bundled photos


def bundled_root(package: str) -> Path:
    """The installed folder of a bundled Python package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{package} is not installed")
    return Path(spec.origin).parent


def scan_bundled() -> list[ImageFile]:
    out = []
    for pkg, rel in BUNDLED:
        p = bundled_root(pkg) / rel
        w, h = image_size(p)
        out.append(ImageFile(pkg, rel, w, h, p.stat().st_size, _sha256(p)))
    return out


def scan(cache: str | os.PathLike = DEFAULT_CACHE) -> list[ImageFile]:
    """Every candidate file of the unpacked packages, then the bundled photos."""
    cache = Path(cache)
    out = []
    for pkg in PACKAGES:
        root = package_root(cache, pkg)
        if not root.is_dir():
            raise SystemExit(f"{pkg} is not in {cache}: run `python scripts/corpus.py fetch` first")
        out += scan_dir(root, pkg)
    return out + scan_bundled()


def photo_name(package: str, path: str) -> str:
    """The name of a picture of a :data:`PHOTO_PACKAGES` package: ``package/folder/stem``."""
    p = Path(path)
    return f"{package}/{p.parent.name}/{p.stem}"


def photo_stats(path: str | os.PathLike) -> dict[str, float]:
    """What tells a photograph from a drawing, on a 128 px thumbnail.

    ``colours``: distinct colours at 5 bits per channel; ``flat``: the share
    of pixels of the most common of them (a drawing's flat background or
    fill scores high).
    """
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((128, 128))
        a = np.asarray(im).reshape(-1, 3).astype(np.int32) // 8
    codes = a[:, 0] * 1024 + a[:, 1] * 32 + a[:, 2]
    _, counts = np.unique(codes, return_counts=True)
    return {"colours": int(len(counts)), "flat": float(counts.max() / len(codes))}


def looks_like_photo(f: ImageFile, path: str | os.PathLike, *, min_side: int = MIN_PHOTO_SIDE) -> bool:
    """Shortest side at least ``min_side``, at least 300 distinct colours, no colour on 15 % of it."""
    if min(f.width, f.height) < min_side:
        return False
    st = photo_stats(path)
    return st["colours"] >= 300 and st["flat"] < 0.15


def select_photos(cache: str | os.PathLike, package: str) -> dict[str, ImageFile]:
    """The photographs of one :data:`PHOTO_PACKAGES` package: its rule, then :func:`looks_like_photo`.

    Identical files (same sha256) count once.
    """
    rule = PHOTO_PACKAGES[package]
    root = package_root(Path(cache), package)
    if not root.is_dir():
        raise SystemExit(f"{package} is not in {cache}: run `python scripts/corpus.py fetch` first")
    out: dict[str, ImageFile] = {}
    seen: set[str] = set()
    for f in scan_dir(root, package):
        if not any(fnmatch.fnmatch(f.path, p) for p in rule["include"]):
            continue
        if any(fnmatch.fnmatch(f.path, p) for p in rule["exclude"]) or f.sha256 in seen:
            continue
        if looks_like_photo(f, root / f.path):
            seen.add(f.sha256)
            out[photo_name(package, f.path)] = f
    return out


def photo_licence(f: ImageFile, stanzas: list[dict[str, str]]) -> dict[str, str] | None:
    """:func:`file_licence` of a photo-package file, also under its source name.

    A picture unpacked from ``rcc/<file>/gcompris/src/...`` is listed in the
    copyright file as ``src/...``, often as ``.jpg``/``.png`` where the
    package ships ``.webp``.
    """
    path = f.path
    if path.startswith("rcc/") and "/src/" in path:
        path = "src/" + path.split("/src/", 1)[1]
    stem = path.rsplit(".", 1)[0]
    found = None
    for st in stanzas:
        for pattern in st["files"].split():
            for alt in (path, *(stem + s for s in IMAGE_SUFFIXES)):
                if pattern == "*" or fnmatch.fnmatch(alt, pattern):
                    found = {"licence": st["license"], "copyright": st["copyright"]}
                    break
    if (found is None or not found["licence"]) and f.package in PACKAGE_LICENCE_FALLBACK:
        found = {"licence": PACKAGE_LICENCE_FALLBACK[f.package], "copyright": ""}
    return found


def make_manifest(cache: str | os.PathLike = DEFAULT_CACHE) -> dict[str, Any]:
    """The manifest of :data:`ALLOW`, the :data:`PHOTO_PACKAGES` photos and the bundled photos."""
    cache = Path(cache)
    chosen = choose_files(scan(cache))
    packages = {pkg: package_info(cache, pkg) for pkg in PACKAGES}
    dists = {"skimage": "scikit-image", "sklearn": "scikit-learn"}
    for pkg, lic in BUNDLED_LICENCES.items():
        packages[pkg] = {"version": importlib.metadata.version(dists[pkg]), "deb": None, "licence": [lic]}
    allow = dict(ALLOW)
    allow.update({picture_name(pkg, rel): BUNDLED_SUBJECTS[Path(rel).stem] for pkg, rel in BUNDLED})
    licences = {}
    for n in ALLOW:
        f = chosen[n]
        cp = package_root(cache, f.package) / "usr" / "share" / "doc" / f.package / "copyright"
        if cp.is_file():
            licences[n] = file_licence(f.path, copyright_stanzas(cp.read_text(errors="replace")))
    for pkg in PHOTO_PACKAGES:
        photos = select_photos(cache, pkg)
        packages[pkg] = package_info(cache, pkg)
        cp = package_root(cache, pkg) / "usr" / "share" / "doc" / pkg / "copyright"
        stanzas = copyright_stanzas(cp.read_text(errors="replace")) if cp.is_file() else []
        for n, f in photos.items():
            chosen[n] = f
            allow[n] = Path(f.path).parent.name
            lic = photo_licence(f, stanzas)
            if lic:
                licences[n] = lic
    return build_manifest(chosen, allow, packages, licences=licences)


# ------------------------------------------------------------------ load


def file_path(image: Mapping[str, Any], cache: str | os.PathLike = DEFAULT_CACHE) -> Path:
    """Where a manifest image lies on this machine."""
    pkg = image["package"]
    if pkg in {p for p, _ in BUNDLED}:
        return bundled_root(pkg) / image["path"]
    return package_root(Path(cache), pkg) / image["path"]


def read_rgb(path: str | os.PathLike, *, max_side: int | None = None) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), longest side at most ``max_side``."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if max_side is not None and max(im.size) > max_side:
            s = max_side / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
        return np.asarray(im, dtype=np.uint8).copy()


def corpus_entries(split: str, *, manifest: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The manifest entries of one split (``"train"``, ``"heldout"`` or ``"all"``)."""
    if split not in SPLITS + ("all",):
        raise SystemExit(f"split must be one of train, heldout, all; got {split!r}")
    manifest = read_manifest() if manifest is None else manifest
    return [im for im in manifest["images"] if split == "all" or im["split"] == split]


def load_corpus(
    split: str,
    *,
    cache: str | os.PathLike = DEFAULT_CACHE,
    max_side: int | None = 768,
    manifest: Mapping[str, Any] | None = None,
    verify: bool = True,
    with_names: bool = False,
) -> list[np.ndarray] | list[tuple[str, np.ndarray]]:
    """The corpus photos of one split as uint8 RGB arrays.

    Parameters
    ----------
    split : {"train", "heldout", "all"}
    cache : path
        Where :func:`fetch` unpacked the packages.
    max_side : int or None
        Longest side in px (downscaled with Lanczos; never upscaled).
    manifest : mapping, optional
        Defaults to :data:`MANIFEST`.
    verify : bool
        Check each file's sha256 against the manifest.
    with_names : bool
        Return ``(name, image)`` pairs instead of images.
    """
    out: list[Any] = []
    for im in corpus_entries(split, manifest=manifest):
        p = file_path(im, cache)
        if not p.is_file():
            raise SystemExit(f"missing corpus file {p}: run `python scripts/corpus.py fetch` first")
        if verify and _sha256(p) != im["sha256"]:
            raise SystemExit(f"corpus file {p} does not match its sha256 in the manifest")
        rgb = read_rgb(p, max_side=max_side)
        out.append((im["name"], rgb) if with_names else rgb)
    return out


def corpus_info(split: str = "train", *, manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a model's ``config.json`` records of the photos it learned from.

    The file names, sizes and sha256 of one split with their licences, and
    each package's version and licence.
    """
    manifest = read_manifest() if manifest is None else manifest
    entries = corpus_entries(split, manifest=manifest)
    keys = ("name", "package", "path", "width", "height", "bytes", "sha256", "licence")
    used = sorted({im["package"] for im in entries})
    return {
        "manifest": "scripts/corpus_manifest.json",
        "split": split,
        "n_images": len(entries),
        "images": [{k: im[k] for k in keys if k in im} for im in entries],
        "packages": {p: {k: manifest["packages"][p].get(k) for k in ("version", "licence")} for p in used},
    }


# ------------------------------------------------------------------ contact sheets


def contact_sheets(
    files: Mapping[str, ImageFile],
    out_dir: str | os.PathLike,
    *,
    cache: str | os.PathLike = DEFAULT_CACHE,
    per_sheet: int = 20,
    cols: int = 5,
    thumb: int = 240,
) -> list[Path]:
    """PNG grids of thumbnails, each captioned with its index; writes ``index.txt`` too."""
    from PIL import Image, ImageDraw

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(files)
    (out_dir / "index.txt").write_text("".join(f"{i}\t{n}\t{files[n].path}\n" for i, n in enumerate(names)))
    sheets = []
    for s in range(0, len(names), per_sheet):
        chunk = names[s : s + per_sheet]
        rows = -(-len(chunk) // cols)
        sheet = Image.new("RGB", (cols * thumb, rows * (thumb + 16)), "white")
        draw = ImageDraw.Draw(sheet)
        for j, n in enumerate(chunk):
            rgb = read_rgb(
                file_path({"package": files[n].package, "path": files[n].path}, cache), max_side=thumb
            )
            x, y = (j % cols) * thumb, (j // cols) * (thumb + 16)
            sheet.paste(Image.fromarray(rgb), (x, y + 16))
            draw.text((x + 2, y + 2), f"{s + j} {n.split('/', 1)[1][:30]}", fill="black")
        p = out_dir / f"sheet{s // per_sheet:02d}.png"
        sheet.save(p)
        sheets.append(p)
    return sheets


# ------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    cmds = {
        "fetch": "download and unpack the packages",
        "scan": "list the candidate pictures",
        "sheet": "write contact sheets",
        "manifest": "rewrite the manifest",
        "load": "list (and check) a split",
    }
    parsers = {c: sub.add_parser(c, help=h) for c, h in cmds.items()}
    for sp in parsers.values():
        sp.add_argument("--cache", default=str(DEFAULT_CACHE), help="cache folder (default %(default)s)")
    parsers["sheet"].add_argument("--out", required=True, help="folder for the PNG sheets")
    parsers["sheet"].add_argument(
        "--all", action="store_true", help="every candidate, not only the allow-list"
    )
    parsers["load"].add_argument("--split", choices=SPLITS + ("all",), default="train")
    parsers["load"].add_argument("--max-side", type=int, default=768)
    a = p.parse_args(argv)
    cache = Path(a.cache).expanduser()

    if a.cmd == "fetch":
        t0 = time.perf_counter()
        info = fetch(cache)
        dt = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file() and not f.is_symlink())
        for pkg, d in info.items():
            print(f"{pkg:30s} {d['version']:20s} {', '.join(d['licence'])}")
        print(f"cache {cache}: {size / 1e6:.1f} MB; fetch took {dt:.1f} s")
        return 0
    if a.cmd in ("scan", "sheet"):
        chosen = choose_files(scan(cache))
        if a.cmd == "scan":
            for n, f in chosen.items():
                mark = "*" if n in ALLOW else " "
                print(f"{mark} {n:60s} {f.width}x{f.height} {f.bytes / 1e6:6.2f} MB {f.path}")
            print(f"{len(chosen)} pictures, {sum(n in ALLOW for n in chosen)} allowed")
            return 0
        files = chosen if a.all else {n: f for n, f in chosen.items() if n in ALLOW}
        for s in contact_sheets(files, a.out, cache=cache):
            print(s)
        return 0
    if a.cmd == "manifest":
        print(f"wrote {write_manifest(make_manifest(cache))}")
        return 0
    if a.cmd == "load":
        manifest = read_manifest()
        n = 0
        for name, rgb in load_corpus(
            a.split, cache=cache, max_side=a.max_side, manifest=manifest, with_names=True
        ):
            print(f"{name:60s} {rgb.shape[1]}x{rgb.shape[0]}")
            n += 1
        print(f"{n} photos in split {a.split}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
