"""The Colorize widget's model list: installed models, pretrained ones to download, a folder.

:class:`ModelChoice` is a part of :class:`~napari_colorize._napari._colorize_widget.ColorizeWidget`
(a mixin): it uses the widget's ``model``, ``model_folder``, ``live``, ``status`` and
``progress`` fields and its run callbacks (``_progress``, ``_error``, ``_finished``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalogue import DEFAULT_MODEL, describe_model_folder, list_models
from ..errors import ColorizeError
from ..pretrained import best_installed, list_pretrained
from ._fetch_model import fetch_model
from ._widget_parts import _ask, _notify, _while_open

__all__ = ["ModelChoice", "LOAD_FOLDER", "FETCH"]


LOAD_FOLDER = "load folder…"
#: the value of a model list entry that is a pretrained model not installed yet: FETCH + its name
FETCH = "fetch:"


class ModelChoice:
    """The model list of the Colorize widget, and the download of a pretrained model chosen there."""

    def _model_choices(self, *_: Any) -> list[tuple[str, str]]:
        models = {**list_models(), **self._extra_models}
        try:  # pretrained models not installed yet: choosing one offers to download it
            fetchable = [
                (f"{e['name']} (not installed: download, {e['size']})", FETCH + e["name"])
                for e in list_pretrained()
                if not e["installed"]
            ]
        except ColorizeError:  # a broken extra catalogue file: the installed models only
            fetchable = []
        return [(k, v) for k, v in models.items()] + fetchable + [(LOAD_FOLDER, LOAD_FOLDER)]

    def preselect_default(self) -> None:
        """Choose the best installed pretrained model (the catalogue ranks them), else the model
        :data:`~napari_colorize.catalogue.DEFAULT_MODEL` when it is there."""
        best = best_installed()
        for name, value in self._model_choices():
            if (best is not None and value == str(best)) or (best is None and name == DEFAULT_MODEL):
                self.model.value = value
                return

    def refresh_models(self, select: str | None = None) -> None:
        self.model.reset_choices()
        if select is not None:
            for name, value in self._model_choices():
                if name == select or value == select:
                    self.model.value = value
                    break

    def _on_model_changed(self, value: Any) -> None:
        self.model_folder.visible = value == LOAD_FOLDER
        if isinstance(value, str) and value.startswith(FETCH):
            if not self._offering:  # the list's own reset re-emits the choice: asked once
                self._offering = True
                try:
                    self._select_back()  # the list keeps a usable model while it asks and downloads
                    self._offer_fetch(value[len(FETCH) :])
                finally:
                    self._offering = False
            return
        if value in (None, LOAD_FOLDER):
            return
        self._chosen_model = value
        try:
            method = describe_model_folder(Path(value)).get("method")
        except (ColorizeError, OSError):
            return
        # propagation needs no training and answers fast: follow the hints live
        self.live.value = method == "propagate"

    def _offer_fetch(self, name: str) -> Any:
        """Ask, then download and install the pretrained model ``name`` in the engine worker
        (progress bar, Cancel); the list then selects it.  Returns the napari worker or None."""
        entry = next((e for e in list_pretrained() if e["name"] == name), None)
        if (
            self._tw is not None
            or entry is None
            or not _ask(
                self.native,
                "Download a pretrained model?",
                f"{name}: {entry['description']}\n\nDownload {entry['size']} (licence: {entry['licence']}) "
                "and install it in your models folder?"
                + (
                    ""
                    if entry["sha256_known"]
                    else "\n\nIts SHA-256 is not known in advance: the downloaded file's is recorded in the "
                    "model's config.json (trust on first use)."
                ),
            )
        ):
            if self._tw is not None:
                _notify(self, "wait for the running task to finish (or cancel it) first", level="warning")
            return None
        import time

        self._t0 = time.monotonic()
        self._doing = f"downloading {name}"
        self.status.value = f"{self._doing}…"
        self.progress.value = 0
        try:
            tw = fetch_model(name, blocking=False, start=False, on_done=self._fetched, on_error=self._error)
        except ColorizeError as e:
            _notify(self, e)
            return None
        return self._start_task(tw)

    @_while_open
    def _fetched(self, path: Path) -> None:
        import time

        self._end_progress(complete=True)
        self.status.value = f"installed {path.name} in {time.monotonic() - self._t0:.0f} s"
        self.refresh_models(select=str(path))

    def _select_back(self) -> None:
        """Choose the last model chosen again (else the first installed one)."""
        values = [v for _, v in self._model_choices() if not str(v).startswith(FETCH)]
        self.model.value = self._chosen_model if self._chosen_model in values else values[0]

    def _on_folder_chosen(self, value: Any) -> None:
        path = Path(value)
        if not str(value) or not path.is_dir():
            return
        try:
            info = describe_model_folder(path)
        except ColorizeError as e:
            _notify(self, e)
            return
        self._extra_models[f"{path.name} ({info['method']})"] = str(path)
        self.refresh_models(select=str(path))
        self.model_folder.visible = False
