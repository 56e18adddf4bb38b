"""What Hydra knows about the current job: its overrides, group choices, sweep mode and number."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HydraJob:
    """The job as Hydra started it (outside Hydra, e.g. a test calling train(): a plain run)."""

    overrides: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)
    multirun: bool = False
    number: int | None = None


def current_job() -> HydraJob:
    """The running Hydra job's facts."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return HydraJob()
    hydra_cfg = HydraConfig.get()
    return HydraJob(
        overrides=list(hydra_cfg.overrides.task),
        choices=dict(hydra_cfg.runtime.choices),
        multirun=str(hydra_cfg.mode) == "RunMode.MULTIRUN",
        number=hydra_cfg.job.get("num"),
    )
