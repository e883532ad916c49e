"""Installing pretrained models: :func:`fetch` (download, check, convert) and :func:`import_weights`.

The conversion of released PyTorch weights (``napari-colorize import-weights``) needs torch and
TensorFlow; this module is the only way to it, and the napari plugin never imports it (its
Colorize widget asks the engine worker to ``fetch``).  The catalogue and the downloads are in
:mod:`napari_colorize.pretrained`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .catalogue import check_model_out
from .errors import Cancelled, ConfigError
from .pretrained import (
    CONVERTERS,
    Progress,
    download_with_digest,
    get_pretrained,
    installed_path,
    is_installed,
)

__all__ = ["import_weights", "fetch", "UnverifiedDownloadWarning"]


class UnverifiedDownloadWarning(UserWarning):
    """A catalogue file whose SHA-256 was not known in advance was installed (trust on first use)."""


def import_weights(
    converter: str,
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    config: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Convert released PyTorch weights into a model folder (``napari-colorize import-weights``).

    Parameters
    ----------
    converter : {"eccv16", "siggraph17", "ddcolor"}
    path : path
        The weights file (needs ``torch``).
    out : path
        The model folder to write (atomically); an existing model folder only with ``overwrite``.
    config : dict, optional
        The converter's options (``T`` for eccv16, ``width`` for siggraph17, config values such as
        ``input_size`` for ddcolor).
    info : dict, optional
        Added to the model's ``info`` in ``config.json`` (the source URL, the licence...).

    Returns
    -------
    Path
        ``out``.
    """
    if converter not in CONVERTERS:
        raise ConfigError(f"no converter {converter!r}; known: {', '.join(CONVERTERS)}")
    check_model_out(out, overwrite=overwrite)  # before torch and TensorFlow load
    config = dict(config or {})
    if converter in ("siggraph17", "ddcolor"):
        if converter == "ddcolor":
            from .methods import get_config_class
            from .methods.ddcolor import import_torch_weights as import_network

            get_config_class("ddcolor").from_dict(config)  # a bad value stops before torch loads
        else:
            from .methods.siggraph17 import import_torch_weights as import_network

        model = import_network(path, **config)
        model.info = {**model.info, **(info or {})}
        return model.save(out, optimizer=False, overwrite=overwrite)
    from .methods.eccv16 import import_torch_weights

    return import_torch_weights(path, out, overwrite=overwrite, info=info, **config)


def _recorded_sha256(folder: Path) -> str | None:
    """The SHA-256 recorded in an installed model's ``config.json`` at its first download, or None."""
    import json

    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        sha = json.loads((folder / "config.json").read_text())["info"]["sha256"]
        if isinstance(sha, str) and len(sha) == 64:
            return sha
    return None


def fetch(
    name: str,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Download a catalogue model, check it, and install it as a model folder of that name.

    Afterwards the model is used by name everywhere (``--model NAME``, ``colorize(img, NAME)``,
    the napari Colorize list).  A model already installed is left as it is (``overwrite``
    fetches it again).

    The file's SHA-256 is checked against the catalogue's before anything reads it.  For an
    entry whose SHA-256 was not known in advance (``"sha256": null``) the computed SHA-256 is
    recorded in the model's ``config.json`` (``info.sha256``, with ``info.sha256_known_in_advance``
    false: trust on first use) and one :class:`UnverifiedDownloadWarning` says so; fetched again
    (``overwrite``), the file must match that recorded SHA-256 (delete the model folder to trust
    a new file).

    Parameters
    ----------
    name : str
        A catalogue name (:func:`list_pretrained`).
    overwrite : bool
        Replace the installed model.
    progress : callable, optional
        ``progress(stage, done, total)``: ``"download"`` in bytes, then ``"converting"``.
    should_stop : callable, optional
        Polled during the download; when true the download stops (:class:`Cancelled`).

    Returns
    -------
    Path
        The model folder.

    Raises
    ------
    ColorizeError
        One line: an unknown name, no network, an HTTP error, a checksum mismatch, a full disk,
        a cancelled download, a file that is not the expected network.  Nothing half-made is left.
    """
    from .io import dir_lock

    entry = get_pretrained(name)
    out = installed_path(entry.name)
    if is_installed(entry.name) and not overwrite:
        return out
    check_model_out(out, overwrite=overwrite)
    recorded = _recorded_sha256(out) if entry.sha256 is None else None
    with dir_lock(out):
        path, src, digest = download_with_digest(
            entry,
            progress=progress,
            should_stop=should_stop,
            expected=recorded,
            expected_from=f" (recorded at its first download in {out / 'config.json'}; delete {out} to "
            "trust a new file)",
        )
        if should_stop is not None and should_stop():
            raise Cancelled(f"the installation of {entry.name} was cancelled; nothing was installed")
        if progress is not None:
            progress("converting", 0, 1)
        info = {
            "catalogue": entry.name,
            "source_url": src,
            "sha256": digest,
            "sha256_known_in_advance": entry.sha256 is not None,
            "licence": entry.licence,
            "authors": entry.authors,
            "paper": entry.paper,
        }
        import_weights(entry.converter, path, out, overwrite=overwrite, config=entry.config, info=info)
        with contextlib.suppress(OSError):
            path.unlink()  # the model folder holds the weights now
        if progress is not None:
            progress("converting", 1, 1)
    if entry.sha256 is None and recorded is None:
        warnings.warn(
            f"the SHA-256 of {entry.filename} was not known in advance: the downloaded file's, {digest}, "
            f"is recorded in {out / 'config.json'} (compare it with the authors' if you can)",
            UnverifiedDownloadWarning,
            stacklevel=2,
        )
    return out
