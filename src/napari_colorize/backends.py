"""Choosing the Keras backend (TensorFlow, PyTorch or JAX) and reporting its devices.

Keras reads its backend once, when it is first imported, from the
``KERAS_BACKEND`` environment variable (else from ``keras.json`` in
``KERAS_HOME`` or ``~/.keras``; else TensorFlow).  This module chooses and
checks a backend before that happens, without importing Keras or any
backend:

- :func:`apply_backend` sets ``KERAS_BACKEND`` (the napari worker process
  inherits it) and refuses an unknown or uninstalled backend, or a change
  after Keras was imported, with a one-line :class:`~napari_colorize.errors.ConfigError`;
- :func:`add_backend_argument` adds ``--backend`` to a command-line parser;
- :func:`version_report` (package, Keras and backend versions: cheap, no
  imports) and :func:`device_report` (imports the backend library, not
  Keras, to list the devices it sees).

TensorFlow is the default backend.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ConfigError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "add_backend_argument",
    "apply_backend",
    "configured_backend",
    "device_report",
    "devices",
    "version_report",
]

#: Keras backends the methods run on
BACKENDS: tuple[str, ...] = ("tensorflow", "torch", "jax")
DEFAULT_BACKEND = "tensorflow"

#: distributions that provide each backend's module (the first installed one is reported)
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly"),
    "torch": ("torch",),
    "jax": ("jax",),
}
_INSTALL_HINT = {
    "tensorflow": "pip install tensorflow",
    "torch": "pip install 'napari-colorize[torch]'",
    "jax": "pip install jax",
}


def _keras_json_backend() -> str | None:
    """The backend named in Keras's own config file, if there is one."""
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    try:
        value = json.loads((Path(home) / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def configured_backend() -> str:
    """The backend Keras uses (or will use when imported), without importing it."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return str(keras.backend.backend())
    return os.environ.get("KERAS_BACKEND") or _keras_json_backend() or DEFAULT_BACKEND


def _check_name(name: str) -> str:
    name = str(name).strip().lower()
    if name not in BACKENDS:
        raise ConfigError(f"unknown Keras backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if importlib.util.find_spec(name) is None:
        raise ConfigError(f"the {name} backend is not installed ({_INSTALL_HINT[name]})")
    return name


def apply_backend(name: str | None = None) -> str:
    """Choose the Keras backend for this process and the worker processes it starts.

    Parameters
    ----------
    name : {"tensorflow", "torch", "jax"}, optional
        The backend.  None keeps the configured one (``KERAS_BACKEND``,
        ``keras.json`` or TensorFlow) and only checks it.

    Returns
    -------
    str
        The backend in use.

    Raises
    ------
    ConfigError
        For an unknown or uninstalled backend, or when Keras is already
        imported with another backend (it cannot change in a running process).
    """
    chosen = _check_name(configured_backend() if name is None else name)
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        current = str(keras.backend.backend())
        if current != chosen:
            raise ConfigError(
                f"Keras is already running on {current}; the backend cannot change to {chosen} in this "
                f"process (set KERAS_BACKEND={chosen} before starting Python)"
            )
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def add_backend_argument(parser: argparse.ArgumentParser, *, default: Any = None) -> argparse.ArgumentParser:
    """Add ``--backend {tensorflow,torch,jax}`` to ``parser``; :func:`apply_backend` checks the value.

    ``default=argparse.SUPPRESS`` on a subcommands' parent parser keeps a value given before the command.
    """
    parser.add_argument(
        "--backend",
        default=default,
        metavar="{" + ",".join(BACKENDS) + "}",
        help=f"Keras backend (default: $KERAS_BACKEND, else {DEFAULT_BACKEND})",
    )
    return parser


def _distribution_version(backend: str) -> str | None:
    for dist in _DISTRIBUTIONS[backend]:
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def version_report() -> str:
    """One line: package version, Keras version, backend and its library version (imports nothing)."""
    try:
        keras = f"keras {importlib.metadata.version('keras')}"
    except importlib.metadata.PackageNotFoundError:
        keras = "keras not installed"
    name = configured_backend()
    lib = _distribution_version(name) if name in BACKENDS else None
    if lib is None:
        lib = "not installed" if name in BACKENDS else "unknown"
    return f"napari-colorize {__version__} ({keras}, backend {name}: {lib})"


def devices(backend: str | None = None) -> list[dict[str, Any]]:
    """The devices ``backend`` (default: the configured one) sees, each ``{"kind", "name"}``.

    Imports the backend's library (TensorFlow, torch or jax), not Keras.
    ``kind`` is ``"cpu"`` or ``"gpu"``; the first GPU is what Keras uses by default.
    """
    name = _check_name(backend or configured_backend())
    out: list[dict[str, Any]] = []
    if name == "tensorflow":
        import tensorflow as tf

        for d in tf.config.list_physical_devices():
            kind = d.device_type.lower()
            details = tf.config.experimental.get_device_details(d) if kind == "gpu" else {}
            out.append({"kind": kind, "name": details.get("device_name", d.name)})
    elif name == "torch":
        import torch

        out.append({"kind": "cpu", "name": "cpu"})
        for i in range(torch.cuda.device_count()):
            out.append({"kind": "gpu", "name": f"cuda:{i} {torch.cuda.get_device_name(i)}"})
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            out.append({"kind": "gpu", "name": "mps"})
    else:
        import jax

        for d in jax.devices():
            out.append({"kind": "cpu" if d.platform == "cpu" else "gpu", "name": f"{d.platform}:{d.id} {d}"})
        if not any(d["kind"] == "cpu" for d in out):
            out.append({"kind": "cpu", "name": "cpu"})
    return out


def device_report(backend: str | None = None) -> str:
    """Lines for people: :func:`version_report`, then each device, then which one computes."""
    found = devices(backend)
    gpus = [d for d in found if d["kind"] == "gpu"]
    lines = [version_report()]
    lines += [f"  {d['kind']}: {d['name']}" for d in found]
    if gpus:
        lines.append(f"computes on the GPU ({gpus[0]['name']})")
    else:
        lines.append("computes on the CPU: no GPU visible to this backend (see the README's GPU section)")
    return "\n".join(lines)


def main() -> int:
    """``python -m napari_colorize.backends``: print :func:`device_report`; a one-line error exits 2."""
    try:
        print(device_report())
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
