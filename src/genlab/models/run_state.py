"""What the callbacks of one run share, in one object owned by the model (whose checkpoints carry
it): the latest value logged under each name, and where the run diverged.

Writers: ScalarLogger and MetricsCallback record values; ScalarLogger (non-finite losses) and
IterationCheckpoint (non-finite weights) mark divergence. Readers: RunSummary (summary.json,
HPARAMS), the progress bar, best.ckpt's monitor. No callback reads another's attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunState:
    """The run's latest logged values (name -> value) and its divergence iteration (or None)."""

    logged: dict[str, float] = field(default_factory=dict)
    diverged_at: int | None = None

    def record(self, values: Mapping[str, float]) -> None:
        """Keep `values` as the latest under their names."""
        self.logged.update(values)

    def mark_diverged(self, iteration: int) -> bool:
        """Mark the run diverged at `iteration`; True the first time, False if it already was."""
        if self.diverged_at is not None:
            return False
        self.diverged_at = iteration
        return True

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def state_dict(self) -> dict[str, Any]:
        return {"logged": dict(self.logged), "diverged_at": self.diverged_at}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.logged = dict(state["logged"])
        self.diverged_at = state.get("diverged_at")
