"""An Optuna search that continues where it stopped.

With a persistent `storage` (genlab's configs: an SQLite file in the sweep folder), rerunning the
same command into the same sweep folder loads the stored study and

- counts the trials it already finished toward `n_trials` (so 4 trials stay 4, not 4 + 4);
- runs a trial left `running` by the killed process again with its own parameters, in its own
  job folder, where genlab resumes it from its checkpoint, and tells the study its value;
- numbers job folders by trial number, so trial N is always `<sweep dir>/N`.

The sampler is built afresh (its random state restarts) and sees every stored trial. Without a
storage the search is in memory and behaves as hydra-optuna-sweeper's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _impl_class() -> type:
    import optuna
    from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl

    class ContinuingOptunaSweeperImpl(OptunaSweeperImpl):
        def _configure_trials(self, trials: list[Any], *args: Any) -> Sequence[Sequence[str]]:
            overrides = super()._configure_trials(trials, *args)
            self.job_idx = trials[0].number  # the batch's trials are numbered consecutively
            return overrides

        def _finish_interrupted(self, study: Any) -> int:
            """Run the trials a killed search left running; returns how many were finished."""
            stale = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
            for trial in stale:
                recorded = Path(self.sweep_dir, str(trial.number), ".hydra", "overrides.yaml")
                if recorded.is_file():  # the job's own overrides, in their order
                    overrides = [str(o) for o in OmegaConf.load(recorded)]
                else:
                    params = {**trial.params, **trial.user_attrs}
                    overrides = [f"{name}={value}" for name, value in params.items()]
                log.info("continuing interrupted trial %d: %s", trial.number, " ".join(overrides))
                [result] = self.launcher.launch([overrides], initial_job_idx=trial.number)
                try:
                    study.tell(trial.number, values=[float(result.return_value)])
                except Exception as err:  # the job failed: so does its trial
                    log.warning("interrupted trial %d failed again: %s", trial.number, err)
                    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            return len(stale)

        def sweep(self, arguments: list[str]) -> None:
            if self.storage is not None:
                if str(self.storage).startswith("sqlite:///"):
                    Path(str(self.storage).removeprefix("sqlite:///")).parent.mkdir(
                        parents=True, exist_ok=True
                    )
                study = optuna.create_study(
                    study_name=self.study_name,
                    storage=self.storage,
                    directions=self._get_directions(),
                    load_if_exists=True,
                )
                done = sum(t.state.is_finished() for t in study.trials)
                done += self._finish_interrupted(study)
                if done:
                    log.info(
                        "study %s: %d of %d trials done before",
                        study.study_name,
                        done,
                        self.n_trials,
                    )
                self.n_trials = max(0, self.n_trials - done)
            super().sweep(arguments)

    return ContinuingOptunaSweeperImpl


class ContinuingOptunaSweeper(Sweeper):
    """hydra-optuna-sweeper's OptunaSweeper, continuing a stored study (module docstring)."""

    def __init__(self, **params: Any) -> None:
        self.sweeper = _impl_class()(**params)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        return self.sweeper.sweep(arguments)
