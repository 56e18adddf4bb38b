"""The small base every genlab model shares: iteration counting, sampling, scalar records."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from genlab.models import rng_state
from genlab.models.run_state import RunState

log = logging.getLogger(__name__)
METRIC_NOISE_OFFSET = 1_000_003  # the metric noise stream is seed + this, the image grids use seed
# Under fp16's GradScaler: the share of recorded steps whose values were not all finite (steps the
# scaler skipped), over each log interval
SKIPPED_STEPS_KEY = "train/nonfinite_step_fraction"


class GenerativeModel(L.LightningModule):
    """A generative model trained with manual optimisation, one iteration per training step.

    Subclasses set `optimizer_steps_per_iteration` and `real_batches_per_iteration`, and
    implement `training_iteration(real)` (real: (real_batches_per_iteration, B, *shape)) and
    `decode(z)` (latent -> data space). A training batch holds the real data of one or more
    consecutive iterations: (count, real_batches_per_iteration, B, *shape).
    """

    optimizer_steps_per_iteration: int = 1
    real_batches_per_iteration: int = 1

    def __init__(self, latent_dim: int, seed: int, clip_norms: list[float | None]) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.clip_norms = clip_norms  # per optimizer, in configure_optimizers' order
        self.latent_dim = latent_dim
        self.seed = seed
        self.iteration = 0  # completed generator iterations
        self.run_state = RunState()  # what the run's callbacks share (genlab.models.run_state)
        # sums and counts of the scalars recorded together (by their names), since the last flush;
        # a count is a tensor (one per name) where non-finite values are left out
        self._scalar_sums: dict[tuple[str, ...], Tensor] = {}
        self._scalar_counts: dict[tuple[str, ...], int | Tensor] = {}
        self._restored_rng: dict[str, Any] | None = None
        self.direct_step = False  # decided at train start (genlab.models.step_path)
        # Under a GradScaler (16-mixed) a step whose loss is not finite is skipped by the scaler,
        # not applied: such values are left out of the means and counted (SKIPPED_STEPS_KEY).
        # Decided at train start; elsewhere one non-finite value makes a mean non-finite.
        self.skip_nonfinite = False

    def on_train_start(self) -> None:
        from genlab.models.step_path import direct_step_blockers

        blockers = direct_step_blockers(self.trainer, self, GenerativeModel)
        self.direct_step = not blockers
        log.debug("optimizer steps: %s", "direct" if self.direct_step else "; ".join(blockers))
        precision = self.trainer.strategy.precision_plugin
        self.skip_nonfinite = getattr(precision, "scaler", None) is not None
        # Each rank draws its own noise (seed + rank); a resumed run continues its saved streams.
        if self._restored_rng is not None:
            rng_state.restore(self._restored_rng)
            self._restored_rng = None
            self._scalar_sums = {k: v.to(self.device) for k, v in self._scalar_sums.items()}
            self._scalar_counts = {
                k: v.to(self.device) if isinstance(v, Tensor) else v
                for k, v in self._scalar_counts.items()
            }
        else:
            rng_state.seed_all(self.seed + self.global_rank)

    def named_nets(self) -> list[tuple[str, nn.Module]]:
        """The model's child modules that hold parameters (generator, discriminator, ...)."""
        return [
            (name, child)
            for name, child in self.named_children()
            if any(True for _ in child.parameters())
        ]

    def compile_nets(self) -> None:
        """torch.compile each net in place: its forward is compiled on first use, its
        parameters, buffers and state-dict keys stay those of the plain module."""
        for _, net in self.named_nets():
            net.compile()

    # --- training -------------------------------------------------------------------------
    def training_iteration(self, real: Tensor) -> None:
        raise NotImplementedError

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        # One Lightning batch runs several iterations (genlab.data.tensor_batches.IterationSchedule)
        for real in batch:
            self.training_iteration(real)
            self.iteration += 1

    def optimize(self, optimizer: Any, loss: Tensor) -> None:
        """One step of `optimizer` (from self.optimizers()) on `loss`: zero the gradients,
        backward, clip (on_before_optimizer_step), step — directly on the torch optimizer where
        Lightning's wrappers add nothing (self.direct_step), else through them."""
        if not self.direct_step:
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
            return
        torch_optimizer = optimizer.optimizer
        torch_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer._on_before_step()  # Lightning's step count (trainer.global_step)
        self.on_before_optimizer_step(torch_optimizer)
        torch_optimizer.step()
        optimizer._on_after_step()

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        # Lightning calls this after unscaling fp16 gradients, so the clip sees true norms.
        index = next(i for i, opt in enumerate(self.trainer.optimizers) if opt is optimizer)
        if self.clip_norms[index] is not None:
            self.clip(optimizer, self.clip_norms[index])

    def clip(self, optimizer: Any, max_norm: float) -> None:
        """Scale the optimizer's gradients to a total norm of at most max_norm."""
        self.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")

    # --- random draws and the batch's samples ------------------------------------------------
    # Model code draws randomness and reduces per-sample values only through these. A model
    # trains one run; genlab.models.members overrides them where one batch holds K runs.
    def noise(self, n: int) -> Tensor:
        """n fresh latent vectors from the seeded torch RNG."""
        return torch.randn(n, self.latent_dim, device=self.device)

    def noise_like(self, batch: Tensor) -> Tensor:
        """Fresh latent vectors, one per sample of `batch`."""
        return self.noise(batch.shape[0])

    def randn_like(self, x: Tensor) -> Tensor:
        """Standard normal noise shaped like x."""
        return torch.randn_like(x)

    def rand_like(self, x: Tensor, *shape: int) -> Tensor:
        """Uniform [0, 1) draws of shape (len(x), *shape): one row per sample of x."""
        return torch.rand(x.shape[0], *shape, device=self.device)

    def per_run(self, values: Tensor) -> Tensor:
        """Per-sample values (B, ...) grouped by the run they belong to, for a reduction over
        the last axis: one run, so the values as they are."""
        return values

    def per_sample(self, value: Tensor, x: Tensor) -> Tensor:
        """A value the run holds once (e.g. a learned scalar) as x's samples see it."""
        return value

    # --- sampling -------------------------------------------------------------------------
    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def eval_noise(self, n: int) -> Tensor:
        """The run's fixed evaluation noise: the same n latents for a given seed."""
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    def metric_noise(self, n: int) -> Tensor:
        """The latents metrics are computed on (CPU): fixed by the seed, apart from eval_noise."""
        generator = torch.Generator().manual_seed(METRIC_NOISE_OFFSET + self.seed)
        return torch.randn(n, self.latent_dim, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, z: Tensor | None = None) -> Tensor:
        """n samples in data space (nets in eval mode), from z or fresh noise."""
        z = self.noise(n) if z is None else z.to(self.device)
        was_training = self.training
        self.eval()
        try:
            return self.decode(z)
        finally:
            self.train(was_training)

    # --- scalar records, flushed by genlab.callbacks.scalars.ScalarLogger -------------------
    def record(self, values: dict[str, Tensor]) -> None:
        """Accumulate detached scalars on the device; no host sync per step. The values of one
        call are summed as one stacked tensor (two kernels, whatever their number)."""
        names = tuple(values)
        stacked = torch.stack([v.detach().float() for v in values.values()])
        if not self.skip_nonfinite:
            self._accumulate(names, stacked, 1)
            return
        finite = torch.isfinite(stacked)
        self._accumulate(names, torch.where(finite, stacked, 0.0), finite.float())
        self._accumulate((SKIPPED_STEPS_KEY,), (~finite).any().float().reshape(1), 1)

    def take_records(self) -> list[tuple[tuple[str, ...], Tensor, int | Tensor]]:
        """The scalar sums and counts recorded since the last call, by their names, cleared here
        (a batched model's sums hold one column per member)."""
        records = [
            (names, self._scalar_sums[names], self._scalar_counts[names])
            for names in self._scalar_sums
        ]
        self._scalar_sums.clear()
        self._scalar_counts.clear()
        return records

    def add_records(self, names: tuple[str, ...], sums: Tensor, count: int | Tensor) -> None:
        """Add sums and counts of scalars recorded elsewhere (a member's, by its batched model)."""
        self._accumulate(names, sums, count)

    def _accumulate(self, names: tuple[str, ...], values: Tensor, count: int | Tensor) -> None:
        sums = self._scalar_sums.get(names)
        if sums is None:
            self._scalar_sums[names] = values
            self._scalar_counts[names] = count
        else:
            sums += values
            self._scalar_counts[names] = self._scalar_counts[names] + count

    def pop_scalar_means(
        self, reduce: Callable[[Tensor], Tensor] | None = None
    ) -> dict[str, float]:
        """Means of the scalars recorded since the last call (one host sync). `reduce` averages
        the sums (and counts) across ranks (every rank records the same names, in lockstep); a
        name whose every value was left out (skip_nonfinite) has a NaN mean."""
        if not self._scalar_sums:
            return {}
        groups = list(self._scalar_sums)
        sums = torch.cat([self._scalar_sums[g] for g in groups])
        counts = torch.cat(
            [torch.as_tensor(self._scalar_counts[g], dtype=sums.dtype, device=sums.device)
             .expand(len(g)) for g in groups]
        )  # fmt: skip
        both = torch.cat([sums, counts])
        values = (reduce(both) if reduce is not None else both).tolist()
        summed, counted = iter(values[: len(sums)]), iter(values[len(sums) :])
        totals: dict[str, float] = {}
        records: dict[str, float] = {}
        for group in groups:  # a name recorded in several groups: mean over all its records
            for name in group:
                totals[name] = totals.get(name, 0.0) + next(summed)
                records[name] = records.get(name, 0.0) + next(counted)
        self._scalar_sums.clear()
        self._scalar_counts.clear()
        return {
            name: totals[name] / records[name] if records[name] > 0 else math.nan for name in totals
        }

    def parameters_finite(self) -> bool:
        """True when every parameter is finite (one host sync)."""
        flags = [torch.isfinite(p).all() for p in self.parameters()]
        return bool(torch.stack(flags).all()) if flags else True

    # --- checkpoint state beyond the weights and optimisers --------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["genlab"] = {
            "iteration": self.iteration,
            "rng": rng_state.capture(),
            "run_state": self.run_state.state_dict(),
            "scalar_sums": {k: v.detach().cpu() for k, v in self._scalar_sums.items()},
            "scalar_counts": {
                k: v.detach().cpu() if isinstance(v, Tensor) else v
                for k, v in self._scalar_counts.items()
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["genlab"]
        self.iteration = int(state["iteration"])
        self._restored_rng = state["rng"]
        if "run_state" in state:
            self.run_state.load_state_dict(state["run_state"])
        else:  # checkpoints written before RunState
            self.run_state.load_state_dict({"logged": state["last_logged"]})
        self._scalar_sums = {_record_key(k): v.reshape(-1) for k, v in state["scalar_sums"].items()}
        self._scalar_counts = {_record_key(k): v for k, v in state["scalar_counts"].items()}


def _record_key(key: str | tuple[str, ...]) -> tuple[str, ...]:
    # checkpoints written before records were grouped keep one name per sum
    return (key,) if isinstance(key, str) else tuple(key)
