"""Writes averaged training scalars to every logger and stops a run whose losses diverge."""

from __future__ import annotations

import logging
import math

import lightning as L

from genlab.callbacks.iteration import IterationCallback
from genlab.models.base import SKIPPED_STEPS_KEY, GenerativeModel

log = logging.getLogger(__name__)


class ScalarLogger(IterationCallback):
    """Every N iterations: the means of the model's recorded scalars (averaged over ranks under
    DDP), logged with the iteration as step. A non-finite mean or weight marks the run diverged
    and stops it, on every rank alike. Under fp16's GradScaler the means leave out the steps the
    scaler skipped (GenerativeModel.skip_nonfinite); the first such interval is reported once."""

    def __init__(self, every_n_iterations: int) -> None:
        super().__init__(every_n_iterations)
        self._reported_skipped_steps = False

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        reduce = None
        if trainer.world_size > 1:  # one all-reduce per log interval, not per step

            def reduce(sums):
                return trainer.strategy.reduce(sums, reduce_op="mean")

        means = module.pop_scalar_means(reduce)
        if not means:
            return
        module.run_state.record(means)
        for logger in trainer.loggers:
            logger.log_metrics(means, step=module.iteration)
        if means.get(SKIPPED_STEPS_KEY, 0.0) > 0 and not self._reported_skipped_steps:
            self._reported_skipped_steps = True
            log.warning(
                "16-mixed: %.1f%% of the steps logged at iteration %d had non-finite values; the"
                " GradScaler skipped them and the logged means leave them out (%s)",
                100 * means[SKIPPED_STEPS_KEY],
                module.iteration,
                SKIPPED_STEPS_KEY,
            )
        bad = sorted(name for name, value in means.items() if not math.isfinite(value))
        if not bad and not module.parameters_finite():
            bad = ["weights"]
        if bad and module.run_state.mark_diverged(module.iteration):
            trainer.should_stop = True
            log.error(
                "diverged: non-finite %s by iteration %d; stopping (last good checkpoint kept)",
                ", ".join(bad),
                module.iteration,
            )
