"""What the command prints besides its results: one-line errors and warnings, a batch's status,
the metrics table."""

from __future__ import annotations

import sys
from typing import Any


def _one_line(e: BaseException) -> str:
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip())


def _warning_printer(command: str) -> Any:
    """A ``warnings.showwarning`` that prints each warning as one line, without its source line."""

    def show(
        message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        out = file if file is not None else sys.stderr
        try:
            print(f"napari-colorize {command}: warning: {_one_line(message)}", file=out)
        except (OSError, ValueError):  # a closed stderr: nowhere to warn
            pass

    return show


def _report_bad_file(path: Any, e: BaseException) -> str:
    """Print one line for a file that could not be colorized (the batch goes on)."""
    msg = _one_line(e)
    print(
        f"napari-colorize colorize: error: {msg if str(path) in msg else f'{path}: {msg}'}", file=sys.stderr
    )
    return str(path)


def _batch_status(bad: list[str], total: int) -> int:
    """The exit status of a batch: 2 when some files could not be colorized (each was reported)."""
    if not bad:
        return 0
    print(
        f"napari-colorize colorize: error: {len(bad)} of {total} files could not be colorized (see above)",
        file=sys.stderr,
    )
    return 2


def _format_table(rows: list[tuple[str, dict[str, float]]]) -> str:
    from ..metrics import METRIC_LABELS, METRICS

    width = max([len("image")] + [len(n) for n, _ in rows])
    lines = [f"{'image':<{width}}  " + "  ".join(f"{METRIC_LABELS[k]:>12}" for k in METRICS)]
    for name, m in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{m[k]:>12.4f}" for k in METRICS))
    return "\n".join(lines)
