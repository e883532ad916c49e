"""The ``napari-colorize`` command.

Sub-commands: ``demo``, ``methods``, ``train``, ``colorize``, ``evaluate``,
``import-weights`` and ``fetch``.  Errors a user can cause (bad arguments included) end
with a one-line message on stderr and exit status 2 (1 for other failures),
never a traceback; set ``NAPARI_COLORIZE_DEBUG=1`` to see the traceback.

The command is quiet and checks before it loads: TensorFlow's C++ logging is
silenced before TensorFlow can be imported (``--verbose`` brings it back), and
arguments, config keys, tiling options and input files are checked before
anything imports TensorFlow.  ``--version``, ``methods`` and ``fetch --list`` never import it.

The package: :mod:`.parser` (the arguments), :mod:`.checks` (what is checked before
TensorFlow loads), :mod:`.commands` (the sub-commands' bodies), :mod:`.messages` (one-line
errors and warnings, the metrics table) and :mod:`.signals` (interrupts).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from .. import backends
from ..errors import ColorizeError
from .commands import COMMANDS
from .messages import _one_line, _warning_printer
from .parser import UsageError, build_parser
from .signals import _SIGNALS, Terminated, _exit_at_once, _release_dask_threads, _signals_stop_cleanly

__all__ = ["main", "build_parser"]


def quiet_tensorflow(*, verbose: bool = False) -> None:
    """Set TensorFlow's C++ log level before it is imported: errors only, or everything if ``verbose``.

    A level the user exported in ``TF_CPP_MIN_LOG_LEVEL`` is kept unless ``verbose``.
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def _package_warnings() -> tuple[type[Warning], ...]:
    """The warnings the package gives its users (``GrayWarning``, ``NearGrayWarning``, ...)."""
    from ..color import GrayWarning
    from ..errors import NearGrayWarning
    from ..install import UnverifiedDownloadWarning

    return GrayWarning, NearGrayWarning, UnverifiedDownloadWarning


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0, 1 for a failure, 2 for a user error).

    An interrupt (Ctrl-C, SIGTERM, SIGHUP) at any point removes the temporary files being
    written, prints one line and gives 128 + the signal (130 for Ctrl-C).
    """
    with _signals_stop_cleanly():
        rc = _main(argv)
    if argv is None and threading.current_thread() is threading.main_thread():
        # the process is ending (the console script): no traceback or "Exception ignored" from a
        # signal during the interpreter's shutdown
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _exit_at_once)
    return rc


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(_one_line(e), file=sys.stderr)
        return 2
    except SystemExit as e:  # --help and --version print and exit 0
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    debug = bool(os.environ.get("NAPARI_COLORIZE_DEBUG"))
    quiet_tensorflow(verbose=args.verbose)
    from ..memory import tune_allocator

    tune_allocator()  # long tiled runs: freed tiles go back to the system
    try:
        backends.apply_backend(getattr(args, "backend", None))
        with warnings.catch_warnings():
            # the package's warnings are shown as one line each, whatever filters the caller set
            # (their stack level points at the caller, so a module filter would miss them)
            for category in _package_warnings():
                warnings.filterwarnings("default", category=category)
            warnings.showwarning = _warning_printer(args.command)
            rc = COMMANDS[args.command](args)
        if _SIGNALS:  # an interrupt that a __del__ swallowed still stops with its status
            raise KeyboardInterrupt if _SIGNALS[0] == signal.SIGINT else Terminated(_SIGNALS[0])
        return rc
    except ColorizeError as e:
        if debug:
            raise
        print(f"napari-colorize {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as e:
        from ..io import remove_temporaries

        remove_temporaries()
        _release_dask_threads()
        signum = e.signum if isinstance(e, Terminated) else signal.SIGINT
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"napari-colorize {args.command}: {how}", file=sys.stderr)
        return 128 + int(signum)
    except (OSError, MemoryError, ValueError) as e:
        if debug:
            raise
        print(f"napari-colorize {args.command}: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return 1
