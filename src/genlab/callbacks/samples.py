"""Pictures of samples from the fixed evaluation noise: TensorBoard, and a PNG at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from genlab.callbacks.iteration import IterationCallback
from genlab.models.base import GenerativeModel


def scatter_figure(real: torch.Tensor, fake: torch.Tensor, title: str) -> Any:
    """Generated 2-D points over the real mixture, on the real data's extent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.scatter(real[:, 0], real[:, 1], s=4, c="0.7", label="real", linewidths=0)
    ax.scatter(
        fake[:, 0], fake[:, 1], s=4, c="tab:blue", alpha=0.6, label="generated", linewidths=0
    )
    lo, hi = real.min(dim=0).values, real.max(dim=0).values
    margin = 0.25 * (hi - lo).max().item() + 1e-3
    ax.set_xlim(lo[0].item() - margin, hi[0].item() + margin)
    ax.set_ylim(lo[1].item() - margin, hi[1].item() + margin)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor, min_side: int, nrow: int = 8) -> torch.Tensor:
    """(C, H, W) grid in [0, 1] of images given in [-1, 1], each image enlarged by a whole
    factor (nearest neighbour: every pixel stays a crisp square) to at least `min_side` pixels."""
    from torchvision.utils import make_grid

    factor = max(1, -(-min_side // images.shape[-1]))
    if factor > 1:
        images = images.repeat_interleave(factor, dim=-1).repeat_interleave(factor, dim=-2)
    return make_grid(images.clamp(-1, 1), nrow=nrow, normalize=True, value_range=(-1, 1))


class SampleLogger(IterationCallback):
    """Logs samples from the fixed evaluation noise; for 2-D data a scatter over the real
    mixture, for images a grid (and reconstructions for models that have `reconstruct`).
    At the end of training it also writes `samples.png` into the run folder (rank 0 only), and
    for 2-D data the generated points as `samples.npy` (float32, (num_points, 2))."""

    def __init__(
        self,
        every_n_iterations: int,
        num_images: int,
        num_points: int,
        min_image_side: int,
        output_dir: str,
    ) -> None:
        super().__init__(every_n_iterations)
        self.num_images = num_images
        self.min_image_side = min_image_side
        self.num_points = num_points
        self.output_dir = Path(output_dir)

    @staticmethod
    def _tensorboard(trainer: L.Trainer) -> Any:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    def _points(
        self, trainer: L.Trainer, module: GenerativeModel
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Real 2-D points and generated ones from the fixed evaluation noise, on the CPU."""
        fake = module.sample(self.num_points, module.eval_noise(self.num_points)).cpu()
        return trainer.datamodule.reference_batch(self.num_points), fake

    def _pictures(self, trainer: L.Trainer, module: GenerativeModel) -> dict[str, Any]:
        datamodule = trainer.datamodule
        title = f"iteration {module.iteration}"
        if datamodule.kind == "points":
            return {"samples/scatter": scatter_figure(*self._points(trainer, module), title)}
        pictures = {
            "samples/grid": image_grid(
                module.sample(self.num_images, module.eval_noise(self.num_images)).cpu(),
                self.min_image_side,
            )
        }
        if hasattr(module, "reconstruct"):
            real = datamodule.reference_batch(self.num_images // 2)
            pairs = torch.stack([real, module.reconstruct(real).cpu()], dim=1).flatten(0, 1)
            pictures["samples/reconstructions"] = image_grid(pairs, self.min_image_side)
        return pictures

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        tensorboard = self._tensorboard(trainer)
        if not trainer.is_global_zero or tensorboard is None:
            return
        for tag, picture in self._pictures(trainer, module).items():
            if isinstance(picture, torch.Tensor):
                tensorboard.add_image(tag, picture, global_step=module.iteration)
            else:
                tensorboard.add_figure(tag, picture, global_step=module.iteration, close=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        super().on_train_end(trainer, pl_module)
        if not trainer.is_global_zero or trainer.fast_dev_run:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / "samples.png"
        if trainer.datamodule.kind == "points":
            # the same points as the picture, for genlab-compare's scatter grid
            real, fake = self._points(trainer, pl_module)
            np.save(self.output_dir / "samples.npy", fake.float().numpy())
            picture = scatter_figure(real, fake, f"iteration {pl_module.iteration}")
        else:
            picture = next(iter(self._pictures(trainer, pl_module).values()))
        if isinstance(picture, torch.Tensor):
            from torchvision.utils import save_image

            save_image(picture, path)
        else:
            import matplotlib.pyplot as plt

            picture.savefig(path)
            plt.close(picture)
