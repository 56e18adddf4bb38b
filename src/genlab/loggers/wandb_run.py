"""logger=wandb: a genlab run as a Weights & Biases run, offline unless the user says online."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from genlab.loggers.run_logger import RunLogger, record_run_id, recorded_run_id, run_label

# wandb.finish's exit code for each genlab status: W&B shows non-zero ones as failed / crashed.
EXIT_CODES = {"completed": 0, "diverged": 1, "failed": 1, "interrupted": 130, "running": 3}


class WandbRunLogger(RunLogger, WandbLogger):
    """Lightning's WandbLogger for one genlab run: named `run_name` (the config says what the
    run is: genlab.loggers.run_logger.run_name), its files under the run folder (`wandb/`), the
    folder as config key `genlab/run_dir`, scalars against `trainer/global_step` (= genlab's
    iteration), the chosen settings as the W&B config, sample pictures as W&B images, the
    status in the summary (`genlab/status`); a sweep's jobs share a W&B group named after the
    sweep folder. A resumed genlab run continues its W&B run id; the W&B run is finished when
    the genlab run ends (a sweep's worker process then starts the next job's run afresh)."""

    def __init__(
        self,
        run_dir: str,
        project: str,
        entity: str | None,
        mode: str,
        run_name: str | None,
        log_dir: str,
        settings: dict[str, Any] | None = None,
        purge_step: int | None = None,
        multirun: bool = False,
    ) -> None:
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.wandb.mode={mode!r}: use offline, online or disabled")
        self.run_dir = Path(run_dir)
        run_id = recorded_run_id(run_dir, "wandb", purge_step) or uuid.uuid4().hex[:8]
        group = self.run_dir.absolute().parent.name if multirun else None
        super().__init__(
            # null (and configs recorded before run_name said what the run is): its folder
            name=run_name or run_label(self.run_dir, log_dir),
            save_dir=str(self.run_dir),
            id=run_id,
            project=project,
            entity=entity,
            group=group,
            mode=mode,  # passed to wandb.init (Lightning's offline= would set WANDB_MODE for
            # the whole process, and a sweep worker's later jobs with it)
            settings=dict(settings or {}),  # a plain dict: wandb ignores a DictConfig
            config={"genlab/run_dir": str(self.run_dir.absolute())},
        )
        self._wandb_init.pop("anonymous", None)  # wandb warns about the key even when None
        self.mode = mode
        self._genlab_status: str | None = None  # set by log_run_end

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """This run's own W&B run: a new one even while another is active in the process (the
        members of a batched group each log to their own; Lightning's would join wandb.run)."""
        if self._experiment is None:
            import wandb

            run = wandb.init(**self._wandb_init, reinit="create_new")
            run.define_metric("trainer/global_step")
            run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
            record_run_id(self.run_dir, "wandb", run.id)
            self._experiment = run
        return self._experiment

    @rank_zero_only
    def log_picture(self, tag: str, png: bytes, step: int) -> None:
        import wandb
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            picture = wandb.Image(image.convert("RGB"))
        self.experiment.log({tag: picture, "trainer/global_step": step})

    @rank_zero_only
    def log_run_start(self, settings: dict[str, Any], config: dict[str, Any]) -> None:
        self.log_hyperparams(settings)
        self.experiment.config.update({"resolved_config": config}, allow_val_change=True)

    @rank_zero_only
    def log_run_end(self, status: str, summary_path: Path) -> None:
        self.experiment.summary["genlab/status"] = status
        self._genlab_status = status

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Lightning's end of the run (after the callbacks): finish the W&B run, with the exit
        code of genlab's status, so that the next run in this process starts its own."""
        super().finalize(status)
        if self._experiment is None:
            return
        genlab_status = self._genlab_status
        exit_code = EXIT_CODES.get(genlab_status, 1) if genlab_status else int(status != "success")
        self._experiment.finish(exit_code=exit_code)
        self._experiment = None

    def record_fields(self) -> dict[str, Any]:
        folder = self.run_dir / "wandb"
        fields: dict[str, Any] = {"wandb_run_id": self._id, "wandb_dir": str(folder)}
        if self.mode == "offline":
            fields["wandb_sync"] = f"wandb sync {folder}/offline-run-*"
        return fields
