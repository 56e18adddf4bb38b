"""Sample metrics every N iterations and at the end, logged under metrics/ on the iteration axis."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
import torch

from genlab.callbacks.iteration import IterationCallback
from genlab.metrics.suites import MetricSuite
from genlab.models.base import GenerativeModel

log = logging.getLogger(__name__)


def gather_in_order(
    trainer: L.Trainer, local: dict[str, torch.Tensor], share: int, total: int
) -> dict[str, torch.Tensor]:
    """Concatenate every rank's features in rank order (rank r holds samples r*share...)."""
    gathered = {}
    device = trainer.strategy.root_device
    for name, value in local.items():
        padded = torch.zeros(share, *value.shape[1:], dtype=value.dtype, device=device)
        padded[: len(value)] = value.to(device)
        everything = trainer.strategy.all_gather(padded)  # (world, share, ...)
        gathered[name] = everything.flatten(0, 1)[:total].cpu()
    return gathered


def sync_buffers_from_rank_zero(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics drift apart within a
    step; DDP itself broadcasts them from rank 0 at each forward), so all ranks sample alike."""
    import torch.distributed as dist

    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)


def evaluate(
    module: GenerativeModel,
    suite: MetricSuite,
    num_samples: int,
    batch_size: int,
    trainer: L.Trainer | None = None,
) -> dict[str, float]:
    """`metrics/<name>` values for `num_samples` samples from the run's metric noise.

    With a multi-process trainer each rank generates its contiguous share of the noise and the
    features are gathered in sample order, so every rank scores exactly the single-process set.
    """
    world = trainer.world_size if trainer is not None else 1
    rank = trainer.global_rank if trainer is not None else 0
    if world > 1:
        sync_buffers_from_rank_zero(module)
    share = math.ceil(num_samples / world)
    noise = module.metric_noise(num_samples)[rank * share : (rank + 1) * share]
    samples = torch.cat([module.sample(len(z), z) for z in noise.split(batch_size)])
    features = suite.extract(samples)
    if world > 1:
        assert trainer is not None
        features = gather_in_order(trainer, features, share, num_samples)
    return {f"metrics/{k}": v for k, v in suite.score(features).items()}


class MetricsCallback(IterationCallback):
    """Generates `num_samples` from the run's metric noise (the same latents every time), has the
    suite score them, logs `metrics/<name>` with the iteration as step, and keeps the values for
    summary.json. Under DDP each rank generates its share; features are gathered in order."""

    def __init__(
        self,
        suite: MetricSuite,
        every_n_iterations: int,
        num_samples: int,
        batch_size: int,
    ) -> None:
        super().__init__(every_n_iterations)
        if num_samples < 2:
            raise ValueError(f"metrics.num_samples={num_samples} must be >= 2")
        self.suite = suite
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seconds = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.suite.to(trainer.strategy.root_device)

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        started = time.perf_counter()
        values = evaluate(module, self.suite, self.num_samples, self.batch_size, trainer)
        module.run_state.record(values)
        for logger in trainer.loggers:
            logger.log_metrics(values, step=module.iteration)
        self.seconds += time.perf_counter() - started
        module.run_state.record({"metrics/seconds": round(self.seconds, 3)})
