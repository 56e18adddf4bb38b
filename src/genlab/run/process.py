"""Process-wide settings genlab applies, each with its reason, in one place.

`apply_process_policy()` runs in the main process when a run is built and, through the
`ProcessPolicy` callback's `setup`, in every DDP worker a spawn launcher starts (workers import
Lightning afresh, which sets its environment again).
"""

from __future__ import annotations

import os
from typing import Any

import lightning as L

from genlab.run.console import quiet_third_party


def apply_process_policy() -> None:
    """Quiet third-party output (run/console.py) and drop Lightning's NVML-based CUDA check.

    `import lightning` sets PYTORCH_NVML_BASED_CUDA_CHECK=1 so that checking for CUDA cannot
    poison a later fork. Once the training processes exist it only costs: until CUDA is
    initialised (always, on a CPU run) each torch.cuda.is_available() - torch's Optimizer.step
    makes one per step - re-opens NVML (toy GAN on a 2-core CPU with a CUDA build of torch:
    84 -> 121 iterations/s).
    """
    quiet_third_party()
    os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)


class ProcessPolicy(L.Callback):
    """Applies the process policy in each training process, after any spawn."""

    def setup(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        apply_process_policy()
