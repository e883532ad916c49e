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
  Keras, to list the devices it sees);
- :func:`cpu_flags` and :func:`native_bfloat16`: the CPU's instruction sets
  (``/proc/cpuinfo``), and whether it computes bfloat16 natively (AMX-BF16 or
  AVX512-BF16), which the ``auto`` precision reads;
- :func:`quiet_tensorflow_import`: TensorFlow's C++ lines printed while it
  loads (``All log messages before absl::InitializeLog()``, ``oneDNN custom
  operations are on``, CPU features), which ``TF_CPP_MIN_LOG_LEVEL`` does not
  reach, are dropped; ``TF_CPP_MIN_LOG_LEVEL=0`` (the CLI's ``--verbose``) keeps them.

TensorFlow is the default backend.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.abc
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ConfigError

__all__ = [
    "BACKENDS",
    "BF16_FLAGS",
    "DEFAULT_BACKEND",
    "add_backend_argument",
    "apply_backend",
    "configured_backend",
    "cpu_flags",
    "device_report",
    "devices",
    "native_bfloat16",
    "quiet_tensorflow_import",
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


#: TensorFlow's log level while it loads when the user set none: errors only (the engine server's)
QUIET_LOG_LEVEL = "2"
#: a C++ log line of TensorFlow/absl: severity letter (I, W, E, F), date, time, thread, file:line]
#: (``I0000 00:00:1796204192.402425    9113 port.cc:153] ...`` before absl is set up)
_GLOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^\]\s]+\] ")
_GLOG_SEVERITY = "IWEF"
#: lines without the prefix that belong to a dropped one, or that only announce the others
_NOISE = (
    "WARNING: All log messages before absl::InitializeLog()",
    "To enable the following instructions:",
)


def _keep_line(line: str, level: int) -> bool:
    """Whether a line TensorFlow wrote to stderr while loading is shown at log ``level`` (0..3)."""
    m = _GLOG_LINE.match(line)
    if m is not None:
        return _GLOG_SEVERITY.index(m.group(1)) >= level
    return not (level > 0 and line.startswith(_NOISE))


@contextlib.contextmanager
def _filtered_stderr(level: int) -> Iterator[None]:
    """Collect what is written to file descriptor 2 (C++ code included); write back what ``level`` keeps."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if _keep_line(line, level)]
            if kept:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Loads ``tensorflow`` with :func:`_filtered_stderr` around it (at ``TF_CPP_MIN_LOG_LEVEL``)."""

    def __init__(self, loader: Any, finder: _QuietTensorFlowFinder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self._finder)  # TensorFlow loads once
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        level_text = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL)
        try:
            level = max(0, min(3, int(level_text)))
        except ValueError:
            level = 0
        if level == 0:
            self._loader.exec_module(module)
            return
        with _filtered_stderr(level):
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` through the other finders and hands it to a :class:`_QuietLoader`.

    A spec lookup (``importlib.util.find_spec``) only finds; the finder leaves when TensorFlow loads.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader, self)
                return spec
        return None


def quiet_tensorflow_import() -> None:
    """Have TensorFlow load quietly whenever it is first imported in this process (imports nothing).

    ``TF_CPP_MIN_LOG_LEVEL`` silences TensorFlow's C++ log only once absl's logging is set up;
    the lines printed while its libraries load come before that (TensorFlow 2.21: ``All log
    messages before absl::InitializeLog() is called are written to STDERR``, ``oneDNN custom
    operations are on``, the CPU instructions it could use).  Installed here, a finder lets
    ``import tensorflow`` (by Keras or anyone) run with its stderr collected and writes back only
    the lines at or above ``TF_CPP_MIN_LOG_LEVEL`` (set to ``2``, errors only, when unset), and
    every line that is not TensorFlow's own log.  ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything.
    Nothing happens when TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as ``/proc/cpuinfo`` names them (``avx2``, ``amx_bf16``...).

    Empty where ``/proc/cpuinfo`` is missing (not Linux) or unreadable; read once per process.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


#: CPU flags of native bfloat16 matrix arithmetic (Intel AMX tiles, AVX-512 dot products)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively: it has one of :data:`BF16_FLAGS`.

    Elsewhere bfloat16 is emulated and slower than float32, so ``precision="auto"`` stays float32.
    """
    return any(f in cpu_flags() for f in BF16_FLAGS)


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
        quiet_tensorflow_import()
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
