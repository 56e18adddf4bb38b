"""Whether a model may step its optimizers directly instead of through Lightning's wrappers.

In manual optimisation, `manual_backward` + `LightningOptimizer.step` add, per optimizer step:
the strategy's backward hooks (DDP's reducer), the precision plugin's scaling (fp16's
GradScaler), and the dispatch of `on_before_backward`, `on_after_backward` and
`on_before_optimizer_step` to every callback and the module. Where none of these does anything —
one device, no GradScaler, no callback or module override of those hooks, no profiler —
`GenerativeModel.optimize` runs `loss.backward()` and the torch optimizer's `step()` itself,
calls the module's own `on_before_optimizer_step` (gradient clipping) and counts the step as
Lightning does. Anything else takes the wrapped path. tests/test_step_path.py shows both paths
give bitwise-identical weights, optimizer states, logged values and step counts.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import SingleDeviceStrategy

# Hooks whose dispatch the direct path skips: nothing may implement them but genlab's base
# (which implements on_before_optimizer_step for clipping, and calls it itself).
SKIPPED_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
MODULE_HOOKS = ("on_before_backward", "on_after_backward", "backward")


def _overrides(obj: Any, base: type, name: str) -> bool:
    return getattr(type(obj), name, None) is not getattr(base, name, None)


def direct_step_blockers(trainer: L.Trainer, module: L.LightningModule, base: type) -> list[str]:
    """Why the wrapped path is needed (empty: the direct path is equivalent)."""
    blockers = []
    strategy = trainer.strategy
    if type(strategy) is not SingleDeviceStrategy:
        blockers.append(f"strategy {type(strategy).__name__}")
    precision = strategy.precision_plugin
    plain = type(precision) is Precision
    unscaled_mixed = type(precision) is MixedPrecision and precision.scaler is None
    if not (plain or unscaled_mixed):
        blockers.append(f"precision plugin {type(precision).__name__} (a GradScaler or other)")
    if not isinstance(trainer.profiler, PassThroughProfiler):
        blockers.append("a profiler")
    for callback in trainer.callbacks:
        hooks = [h for h in SKIPPED_HOOKS if _overrides(callback, L.Callback, h)]
        if hooks:
            blockers.append(f"callback {type(callback).__name__} implements {', '.join(hooks)}")
    hooks = [h for h in MODULE_HOOKS if _overrides(module, L.LightningModule, h)]
    if _overrides(module, base, "on_before_optimizer_step"):
        hooks.append("on_before_optimizer_step")
    if hooks:
        blockers.append(f"{type(module).__name__} overrides {', '.join(hooks)}")
    return blockers
