"""The config of ``propagate``: the options of the edge-aware solver, under the method's name."""

from __future__ import annotations

import dataclasses

from ...edge_aware_solver import PropagationOptions

__all__ = ["PropagateConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PropagateConfig(PropagationOptions):
    """Config of the ``propagate`` method: the solver's options (:class:`PropagationOptions`)."""

    method = "propagate"
