"""The Evaluate colorization dock widget: metrics of a colorized layer against its ground truth."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FileEdit, PushButton, Table

from ..errors import ColorizeError, InputError
from ._evaluate_layers import evaluate_layers
from ._widget_parts import _Base, _notify

__all__ = ["EvaluateWidget", "METRIC_LABELS"]


METRIC_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "delta_e2000": "CIEDE2000 (mean)",
    "colorfulness": "colorfulness",
    "delta_colorfulness": "ΔCF",
    "auc": "AuC",
}


class EvaluateWidget(_Base):
    """Metrics of a colorized RGB layer against a ground-truth RGB layer."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self.pred = ComboBox(label="colorized", choices=lambda w: self._layers(rgb=True), nullable=True)
        # the truth is a photo the user opened, never one of the plugin's results
        self.truth = ComboBox(
            label="ground truth", choices=lambda w: self._layers(rgb=True, outputs=False), nullable=True
        )
        self.error_layer = CheckBox(value=True, text="add ΔE2000 error layer")
        self.eval_button = PushButton(text="Evaluate")
        self.table = Table(value={"metric": [], "value": []})
        self._fit_table()
        self.csv_path = FileEdit(label="CSV file", mode="w", filter="*.csv")
        self.export_button = PushButton(text="Export CSV")
        self.extend(
            [
                self.pred,
                self.truth,
                self.error_layer,
                self.eval_button,
                self.table,
                self.csv_path,
                self.export_button,
            ]
        )
        self.metrics: dict[str, float] = {}
        self.eval_button.changed.connect(self.run)
        self.export_button.changed.connect(self.export)
        self.reset_choices()

    def run(self, *_: Any) -> dict[str, float] | None:
        try:
            if self.pred.value is None or self.truth.value is None:
                raise InputError("choose a colorized and a ground-truth RGB layer")
            m = evaluate_layers(
                self._viewer, self.pred.value, self.truth.value, error_layer=bool(self.error_layer.value)
            )
        except ColorizeError as e:
            _notify(self, e)
            return None
        self.metrics = m
        self.table.value = {
            "metric": [METRIC_LABELS.get(k, k) for k in m],
            "value": [f"{v:.4g}" for v in m.values()],
        }
        self._fit_table()
        return m

    def _fit_table(self) -> None:
        """Make the table exactly as tall as its rows (at least those of every metric), no scrolling."""
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QHeaderView

        t = self.table.native
        t.verticalHeader().setVisible(False)
        header = t.horizontalHeader()
        if t.columnCount() == 2:  # metric names as wide as they are, the values take the rest
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            t.setMinimumWidth(header.sectionSize(0) + 80 + 2 * t.frameWidth())
        t.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = max(t.rowCount(), len(METRIC_LABELS))
        row_h = t.verticalHeader().defaultSectionSize()
        used = sum(t.rowHeight(r) for r in range(t.rowCount()))
        height = (
            t.horizontalHeader().sizeHint().height()
            + used
            + (rows - t.rowCount()) * row_h
            + 2 * t.frameWidth()
        )
        t.setFixedHeight(height)

    def export(self, *_: Any, path: str | Path | None = None) -> Path | None:
        path = Path(path or self.csv_path.value)
        try:
            if not self.metrics:
                raise InputError("evaluate first, then export")
            if not str(path) or path.is_dir() or str(path) == ".":
                raise InputError("choose a CSV file to write")
            with open(path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["pred", "truth", *self.metrics])
                w.writerow(
                    [
                        self.pred.value.name,
                        self.truth.value.name,
                        *(f"{v:.6g}" for v in self.metrics.values()),
                    ]
                )
        except (ColorizeError, OSError) as e:
            _notify(self, e)
            return None
        return path
