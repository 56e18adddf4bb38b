"""logger=mlflow: a genlab run as an MLflow run, in a local store or on a tracking server."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from genlab.loggers.run_logger import (
    RunLogger,
    record_run_id,
    recorded_run_id,
    route_to_run_log,
    run_label,
)

# MLflow's run status for each genlab status.
MLFLOW_STATUS = {
    "completed": "FINISHED",
    "diverged": "FAILED",
    "failed": "FAILED",
    "interrupted": "KILLED",
    "running": "KILLED",  # preempted: the checkpoint is saved and the job will be continued
}


def local_store(store_dir: str) -> tuple[str, str]:
    """(tracking URI, artifact location) of a local store folder: an SQLite database and an
    artifact folder side by side (MLflow 3 keeps its file store in maintenance mode)."""
    folder = Path(store_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


class MLflowRunLogger(RunLogger, MLFlowLogger):
    """Lightning's MLFlowLogger for one genlab run: named `run_name` (the config says what
    the run is: genlab.loggers.run_logger.run_name), its folder as tag `genlab.run_dir`,
    scalars on the iteration axis, the chosen settings as params, the resolved config and
    summary.json as artifacts, sample pictures as MLflow's stepped images, genlab's status as
    the run's status and tag `genlab.status`. A resumed genlab run continues its MLflow run (the
    id is kept in the run folder); a run started again from scratch in a used folder (a sweep's
    retried job) starts a new one."""

    def __init__(
        self,
        run_dir: str,
        store_dir: str,
        tracking_uri: str | None,
        experiment_name: str,
        run_name: str | None,
        log_dir: str,
        purge_step: int | None = None,
        multirun: bool = False,
    ) -> None:
        import mlflow  # noqa: F401  (it sets up its console handler on import: undone here)

        for name in ("mlflow", "alembic"):
            route_to_run_log(name)
        if tracking_uri:
            artifact_location = None  # the server's own
        else:
            tracking_uri, artifact_location = local_store(store_dir)
        self.run_dir = Path(run_dir)
        self.store_dir = None if artifact_location is None else Path(store_dir).absolute()
        tags = {"genlab.run_dir": str(self.run_dir.absolute())}
        if multirun:
            tags["genlab.sweep_dir"] = str(self.run_dir.absolute().parent)
        super().__init__(
            experiment_name=experiment_name,
            # null (and configs recorded before run_name said what the run is): its folder
            run_name=run_name or run_label(self.run_dir, log_dir),
            tracking_uri=tracking_uri,
            tags=tags,
            artifact_location=artifact_location,
            run_id=recorded_run_id(run_dir, "mlflow", purge_step),
        )
        self._genlab_status: str | None = None  # set by log_run_end

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        first_access = not self._initialized
        if first_access and self._run_id is None and self._experiment_id is None:
            self._experiment_id = self._find_or_create_experiment()
        client = super().experiment
        if first_access:
            record_run_id(self.run_dir, "mlflow", self._run_id)
        return client

    def _find_or_create_experiment(self) -> str:
        """The experiment's id, created if new; a sweep's parallel jobs may race to create it."""
        from mlflow.exceptions import MlflowException

        client = self._mlflow_client
        found = client.get_experiment_by_name(self._experiment_name)
        if found is not None and found.lifecycle_stage != "deleted":
            return found.experiment_id
        try:
            return client.create_experiment(
                self._experiment_name,
                artifact_location=self._artifact_location,
                tags={
                    "mlflow.experimentKind": "custom_model_development"
                },  # MLflow 3's UI: training runs
            )
        except MlflowException:
            found = client.get_experiment_by_name(self._experiment_name)
            if found is None:
                raise
            return found.experiment_id

    @rank_zero_only
    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        super().log_metrics({metric_key(k): v for k, v in metrics.items()}, step)

    @rank_zero_only
    def log_picture(self, tag: str, png: bytes, step: int) -> None:
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            self.experiment.log_image(self.run_id, image.convert("RGB"), key=tag, step=step)

    @rank_zero_only
    def log_run_start(self, settings: dict[str, Any], config: dict[str, Any]) -> None:
        import yaml

        params = {param_key(k): str(v) for k, v in settings.items()}
        # MLflow params cannot change: a resumed run (iterations=N for more) logs the new keys
        # and shows each changed value as a tag `resumed/<key>`
        logged = self.experiment.get_run(self.run_id).data.params
        for key, value in params.items():
            if key in logged and logged[key] != value:
                self.experiment.set_tag(self.run_id, f"resumed/{key}", value)
        self.log_hyperparams({k: v for k, v in params.items() if k not in logged})
        text = yaml.safe_dump(config, sort_keys=False)
        self.experiment.log_text(self.run_id, text, "resolved_config.yaml")

    @rank_zero_only
    def log_run_end(self, status: str, summary_path: Path) -> None:
        client = self.experiment
        client.set_tag(self.run_id, "genlab.status", status)
        if summary_path.is_file():
            client.log_artifact(self.run_id, str(summary_path))
        self._genlab_status = status

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Lightning's end of the run (after the callbacks): the MLflow status says genlab's."""
        genlab_status = self._genlab_status
        if not self._initialized or genlab_status is None:
            super().finalize(status)
            return
        self.experiment.set_terminated(self.run_id, MLFLOW_STATUS.get(genlab_status, "FAILED"))

    def record_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"mlflow_run_id": self._run_id}
        if self.store_dir is not None:
            fields["mlflow_ui"] = f"mlflow ui --backend-store-uri {self._tracking_uri}"
        else:
            fields["mlflow_tracking_uri"] = self._tracking_uri
        return fields


def metric_key(key: str) -> str:
    """A genlab scalar name in the characters MLflow allows: train/D(G(z)) -> train/D_G_z."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "", key.replace("(", "_"))


def param_key(key: str) -> str:
    """A settings key as an MLflow param name (letters, digits, _ - . space / only)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", key)
